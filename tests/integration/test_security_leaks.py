"""Secret-leak paths other than the daemon's logs: repr/str of settings, configuration and pydantic
validation errors, database errors (a refused connection, a wrong password against real PostgreSQL),
a crashing ``slamon run`` and tracebacks with local variables."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import make_url

from adapters.asterisk.actions import AmiSecret
from monitor.cli import app as cli_app
from monitor.config import (
    ApiSettings,
    ConfigError,
    MailboxSettings,
    MonitorSettings,
    PbxSettings,
    Settings,
    load_settings,
    mask_url_password,
    open_24_7_site,
)
from monitor.store.engine import make_engine, safe_url
from monitor.tokens import load_tokens

ROOT = Path(__file__).resolve().parents[2]
PW = "Pg-Pa55w0rd-" + "zq81"
URL = f"postgresql+psycopg://slamon:{PW}@127.0.0.1:1/slamon"


def test_settings_repr_and_str_mask_the_database_password() -> None:
    settings = Settings(monitor=MonitorSettings(database_url=URL))
    for shown in (repr(settings), str(settings), repr(settings.monitor), f"{settings.monitor!s}"):
        assert PW not in shown
        assert "postgresql+psycopg://slamon:***@127.0.0.1:1/slamon" in shown
    assert settings.monitor.database_url == URL  # the value itself is intact for make_engine
    assert mask_url_password("sqlite:///var/slamon.db") == "sqlite:///var/slamon.db"
    assert mask_url_password("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_url_password("postgresql://u:p%40ss@w@h/db") == "postgresql://u:***@h/db"


def test_validation_errors_never_quote_the_input(tmp_path: Path) -> None:
    cfg = tmp_path / "slamon.toml"
    # A model-level error (unknown site) whose input is the whole file, database URL included.
    cfg.write_text(f'[monitor]\ndatabase_url = "{URL}"\n[[pbx]]\nsite = "x"\nhost = "h"\nusername = "u"\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(cfg)
    assert "pbx refers to unknown site 'x'" in str(raised.value) and PW not in str(raised.value)
    # A password put straight into the file (not allowed): named, not echoed.
    cfg.write_text(
        f'[[site]]\nid = "d"\n[[mailbox]]\nsite = "d"\nhost = "h"\nusername = "u"\npassword = "{PW}"\n'
    )
    with pytest.raises(ConfigError, match=r"mailbox\.0\.password: Extra inputs are not permitted") as raised:
        load_settings(cfg)
    assert PW not in str(raised.value)
    # pydantic's own error text, for code that validates settings directly.
    with pytest.raises(ValidationError) as direct:
        Settings.model_validate({"monitor": {"database_url": URL, "listen": PW}})
    assert PW not in str(direct.value) and PW not in repr(direct.value)


def test_ami_secret_does_not_show() -> None:
    secret = AmiSecret(PW)
    assert PW not in f"{secret!r} {secret!s} {secret}"


def test_refused_database_connection_error_has_no_password() -> None:
    engine = make_engine(URL)
    try:
        with pytest.raises(Exception) as raised, engine.connect():
            pass
    finally:
        engine.dispose()
    assert "Connection refused" in str(raised.value) or "connection failed" in str(raised.value)
    assert PW not in str(raised.value) and PW not in repr(raised.value)
    assert PW not in safe_url(engine) and safe_url(URL).endswith("slamon:***@127.0.0.1:1/slamon")


@pytest.mark.service
def test_wrong_password_against_real_postgres_is_not_echoed(postgres_url: str) -> None:
    real = make_url(postgres_url)
    assert real.password
    wrong = real.set(password=PW)
    engine = make_engine(wrong)
    try:
        with pytest.raises(Exception) as raised, engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    message = f"{raised.value!s} {raised.value!r}"
    assert "password authentication failed" in message
    assert PW not in message and str(real.password) not in message


def _run_config(tmp_path: Path, database_url: str) -> tuple[Path, str]:
    hmac_key = "hmac-key-" + "x" * 24
    (tmp_path / "hmac.key").write_text(hmac_key)
    cfg = tmp_path / "slamon.toml"
    cfg.write_text(
        f'[monitor]\ndatabase_url = "{database_url}"\nlisten = "127.0.0.1:0"\n'
        f'hmac_key_file = "{tmp_path / "hmac.key"}"\n'
    )
    return cfg, hmac_key


SLAMON = str(Path(sys.executable).parent / "slamon")


@pytest.mark.service
def test_a_crashing_slamon_run_shows_no_secret(tmp_path: Path, postgres_url: str) -> None:
    """A wrong database password is a configuration error: ``slamon run`` fails at once, and neither
    the password it was given nor the right one shows in what it prints."""
    real = make_url(postgres_url)
    cfg, hmac_key = _run_config(tmp_path, make_url(postgres_url).set(password=PW).render_as_string(False))
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [SLAMON, "run", "--config", str(cfg)], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "password authentication failed" in output, output[-3000:]
    assert PW not in output and str(real.password) not in output and hmac_key not in output


def test_slamon_run_waiting_for_an_unreachable_database_shows_no_secret(tmp_path: Path) -> None:
    """A refused connection is retried (the database may come up later); the retries' log lines, and
    the stop while waiting, show no secret."""
    cfg, hmac_key = _run_config(tmp_path, URL)
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [SLAMON, "run", "--config", str(cfg)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "(attempt 2)" in line:
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines) + out + err
    assert proc.returncode == 0, output[-3000:]
    assert "unavailable at start-up" in output and "OperationalError" in output, output[-3000:]
    assert "slamon:***@127.0.0.1:1/slamon" in output
    assert PW not in output and hmac_key not in output


def test_no_traceback_shows_local_variables() -> None:
    # A rich/typer traceback with locals would print every secret in scope (settings, keys).
    assert cli_app.pretty_exceptions_show_locals is False
    pattern = re.compile(r"show_locals\s*=\s*True|capture_locals\s*=\s*True|tb_locals|stack_info\s*=\s*True")
    for path in [*(ROOT / "monitor").rglob("*.py"), *(ROOT / "adapters").rglob("*.py")]:
        assert not pattern.search(path.read_text(encoding="utf-8")), path


def test_secret_files_open_to_other_users_are_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("SLAMON_HMAC_KEY", raising=False)
    files = {name: tmp_path / name for name in ("ami", "imap", "hmac", "tokens")}
    for path in files.values():
        path.write_text("s" * 32 + "\n")
        path.chmod(0o600)
    settings = Settings(
        monitor=MonitorSettings(hmac_key_file=files["hmac"]),
        api=ApiSettings(tokens_file=files["tokens"]),
        site=[open_24_7_site("d")],
        pbx=[PbxSettings(site="d", host="h", username="u", secret_file=files["ami"])],
        mailbox=[MailboxSettings(site="d", host="h", username="u", password_file=files["imap"])],
    )

    def read_all() -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="monitor.config"):
            settings.pbx[0].secret()
            settings.mailbox[0].password()
            settings.hmac_key()
            load_tokens(files["tokens"])
        return [r.getMessage() for r in caplog.records if r.name == "monitor.config"]

    assert read_all() == []  # 0600: nothing to say
    for path in files.values():
        path.chmod(0o640)
    warnings = read_all()
    assert [w.split(" is accessible")[0] for w in warnings] == [
        f"AMI secret file {files['ami']}",
        f"IMAP password file {files['imap']}",
        f"hmac_key_file {files['hmac']}",
        f"tokens_file {files['tokens']}",
    ]
    assert all(w.endswith("is accessible to other users (mode 640): chmod 600 it") for w in warnings)
    assert not any("s" * 32 in w for w in warnings)
