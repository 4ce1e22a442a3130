"""No secret ever reaches a log line or the console: the whole daemon, every logger at DEBUG (uvicorn's
access log included), with every secret configured - the AMI secret (first a wrong one, then the right
one, against the simulator), the IMAP password (real Dovecot over IMAPS), the HMAC key, three API
tokens made by ``slamon token create`` and a PostgreSQL password in the database URL - while it logs
in, syncs mail, measures calls, answers API requests with good and bad tokens (header and
``?access_token=``), streams an export and the wallboard, and shuts down."""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from adapters.asterisk.captures import load_jsonl
from adapters.asterisk.simulator import AmiSimulator
from monitor.config import load_settings
from monitor.runtime import Daemon
from tests.integration.dovecot import Mail, make_message
from tests.paths import CAPTURES
from tests.services import Dovecot, throwaway_dovecot

pytestmark = pytest.mark.service

UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
# The test's own HTTP client logs the URLs it requests: it is not the daemon.
CLIENT_LOGGERS = ("httpx", "httpcore")


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with throwaway_dovecot(users=1, tls=True) as server:
        yield server


class Capture:
    """Every log record, formatted with its traceback, from every logger (uvicorn's do not propagate)."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setLevel(logging.DEBUG)
        self.handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.handler.addFilter(lambda record: not record.name.startswith(CLIENT_LOGGERS))
        self._levels: dict[str, int] = {}

    def __enter__(self) -> Capture:
        root = logging.getLogger()
        self._levels[""] = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self.handler)
        self.all_debug()
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        for name, level in self._levels.items():
            logging.getLogger(name or None).setLevel(level)
        self.release_uvicorn()

    def all_debug(self) -> None:
        """Every logger that has a level of its own (sqlalchemy's, say) down to DEBUG."""
        for name in ["sqlalchemy", "sqlalchemy.engine", *logging.root.manager.loggerDict]:
            logger = logging.getLogger(name)
            if logger.level != logging.DEBUG:
                self._levels.setdefault(name, logger.level)
                logger.setLevel(logging.DEBUG)

    def hook_uvicorn(self) -> None:
        """After the daemon built its server (uvicorn's Config resets its loggers): all at DEBUG."""
        self.all_debug()
        for name in UVICORN:
            logger = logging.getLogger(name)
            logger.setLevel(logging.DEBUG)
            if not logger.propagate and self.handler not in logger.handlers:
                logger.addHandler(self.handler)

    def release_uvicorn(self) -> None:
        for name in UVICORN:
            logging.getLogger(name).removeHandler(self.handler)

    @property
    def text(self) -> str:
        return self.stream.getvalue()


async def until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"timed out after {timeout:.0f} s waiting for: {what}")


def slamon(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "slamon"), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)


def token(config: Path, role: str) -> str:
    done = slamon("token", "create", "--role", role, "--config", str(config))
    assert "cannot be shown again" in done.stderr
    return done.stdout.strip()


async def test_no_secret_in_any_log_or_output(
    tmp_path: Path, postgres_url: str, dovecot: Dovecot, capfd: pytest.CaptureFixture[str]
) -> None:
    user = dovecot.users[0]
    imap_password = dovecot.passwords[user]
    with Mail(dovecot, user) as mail:  # the test's own client puts an inquiry in place
        mail.append("INBOX", make_message(1, subject="Brake service quote"), when=1_764_000_000)
    right_secret, wrong_secret = "ami-right-" + secrets.token_hex(8), "ami-wrong-" + secrets.token_hex(8)
    hmac_key = "hmac-" + secrets.token_hex(16)
    pg_password = postgres_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert len(pg_password) >= 16
    (tmp_path / "ami.secret").write_text(wrong_secret + "\n")
    (tmp_path / "imap.secret").write_text(imap_password + "\n")
    (tmp_path / "hmac.key").write_text(hmac_key)
    config = tmp_path / "slamon.toml"
    config.write_text(
        f"""
[monitor]
database_url = "{postgres_url}"
listen = "127.0.0.1:0"
hmac_key_file = "{tmp_path / "hmac.key"}"

[api]
tokens_file = "{tmp_path / "tokens"}"

[[site]]
id = "detroit"
timezone = "America/Detroit"

[[pbx]]
site = "detroit"
host = "127.0.0.1"
port = PBX_PORT
username = "monitor"
secret_file = "{tmp_path / "ami.secret"}"
service_numbers = ["600"]
ping_interval_s = 2.0

[[mailbox]]
site = "detroit"
host = "localhost"
port = {dovecot.imaps_port}
tls = "imaps"
ca_file = "{dovecot.cert}"
username = "{user}"
password_file = "{tmp_path / "imap.secret"}"
sent = "Sent"
dealer_domains = ["dealer.example"]
name = "service"
poll_interval_s = 1.0
"""
    )
    sim = AmiSimulator(
        load_jsonl(CAPTURES / "b_queue_ring12_answer.jsonl"),
        secret=right_secret,
        speed=20.0,
        wait_for_clients=1,
    )
    pbx_port = await sim.start()
    config.write_text(config.read_text().replace("PBX_PORT", str(pbx_port)))
    tokens = {role: token(config, role) for role in ("wallboard", "auditor", "admin")}
    settings = load_settings(config)
    secret_values = {
        "wrong AMI secret": wrong_secret,
        "AMI secret": right_secret,
        "IMAP password": imap_password,
        "HMAC key": hmac_key,
        "PostgreSQL password": pg_password,
        **{f"{role} token": value for role, value in tokens.items()},
    }
    statuses: list[tuple[str, int]] = []
    bodies: list[str] = []  # error responses must not echo a token either

    with Capture() as capture:
        # 1. The wrong AMI secret: refused, logged, retried - never shown.
        daemon = Daemon(settings)
        task = asyncio.create_task(daemon.run())
        try:
            await asyncio.wait_for(daemon.started.wait(), 60)
            capture.hook_uvicorn()
            await until(lambda: "refused" in capture.text.lower(), 30, "AMI login refusal logged")
            assert daemon.mail is not None
            first = daemon.mail.sources[0]
            await until(lambda: first.up and first.events_total >= 1, 60, "mailbox synced (message 1)")
            assert not daemon.sites[0].source.up
        finally:
            daemon.stop.set()
            await asyncio.wait_for(task, 60)

        # 2. The right one: a call measured, the mailbox synced, the API used, a clean shutdown.
        (tmp_path / "ami.secret").write_text(right_secret + "\n")
        daemon = Daemon(settings)
        task = asyncio.create_task(daemon.run())
        try:
            await asyncio.wait_for(daemon.started.wait(), 60)
            capture.hook_uvicorn()
            await until(lambda: daemon.sites[0].source.up, 30, "AMI logged in")
            assert daemon.mail is not None
            imap = daemon.mail.sources[0]
            await until(lambda: imap.up, 60, "mailbox up again")
            with Mail(dovecot, user) as mail:  # message 2 arrives while the daemon watches
                mail.append("INBOX", make_message(2, subject="Tyre change"), when=1_764_000_100)
            await until(lambda: imap.events_total >= 1, 60, "mailbox synced (message 2)")
            await until(lambda: sim.finished.is_set(), 60, "capture played")
            await until(lambda: daemon.sites[0].service.stats.completed >= 1, 30, "call measured")
            base = f"http://127.0.0.1:{daemon.port}"
            audit = {"Authorization": f"Bearer {tokens['auditor']}"}
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                requests = [
                    ("/api/v1/calls", audit),
                    ("/api/v1/calls", {"Authorization": f"Bearer {tokens['auditor']}x"}),
                    ("/api/v1/calls", {"Authorization": f"Bearer {tokens['wallboard']}"}),
                    ("/api/v1/inquiries", {"Authorization": f"Bearer {tokens['admin']}"}),
                    ("/api/v1/export/calls.csv", audit),
                    ("/api/v1/export/inquiries.jsonl", audit),
                    (f"/api/v1/wallboard/snapshot?access_token={tokens['wallboard']}", {}),
                    (f"/api/v1/wallboard/snapshot?site=detroit&access_token={tokens['admin']}x", {}),
                    (f"/api/v1/calls?access_token={tokens['auditor']}", {}),  # query token: wallboard only
                    ("/wallboard", {}),
                    ("/readyz", {}),
                    ("/metrics", {}),
                ]
                for path, headers in requests:
                    response = await http.get(path, headers=headers)
                    statuses.append((path.split("?")[0], response.status_code))
                    bodies.append(response.text)
                calls = (await http.get("/api/v1/calls", headers=audit)).json()["items"]
                for _ in range(600):  # the store writer batches: message 2's inquiry lands shortly
                    inquiries = (await http.get("/api/v1/inquiries", headers=audit)).json()["items"]
                    if len(inquiries) >= 2:
                        break
                    await asyncio.sleep(0.1)
                stream_url = f"/api/v1/wallboard/stream?access_token={tokens['wallboard']}"
                async with http.stream("GET", stream_url) as response:
                    statuses.append(("/api/v1/wallboard/stream", response.status_code))
                    async for chunk in response.aiter_text():
                        if "data:" in chunk:
                            break
        finally:
            daemon.stop.set()
            await asyncio.wait_for(task, 60)
            await sim.close()
        logged = capture.text
    # The offline commands on the same configuration: an audit export and a chain check.
    day = datetime.now(UTC).date().isoformat()
    export = slamon(
        "export", "--from", day, "--to", day, "--out", str(tmp_path / "export"), "--config", str(config)
    )
    verify = slamon("audit", "verify", "--config", str(config))
    assert (tmp_path / "export" / "manifest.json").exists() and "intact" in verify.stdout
    out, err = capfd.readouterr()
    out += export.stdout + verify.stdout
    err += export.stderr + verify.stderr

    assert statuses == [
        ("/api/v1/calls", 200),
        ("/api/v1/calls", 401),
        ("/api/v1/calls", 403),
        ("/api/v1/inquiries", 200),
        ("/api/v1/export/calls.csv", 200),
        ("/api/v1/export/inquiries.jsonl", 200),
        ("/api/v1/wallboard/snapshot", 200),
        ("/api/v1/wallboard/snapshot", 401),
        ("/api/v1/calls", 401),
        ("/wallboard", 200),
        ("/readyz", 200),
        ("/metrics", 200),
        ("/api/v1/wallboard/stream", 200),
    ]
    assert [c["outcome"] for c in calls if c["direction"] == "inbound"] == ["answered"]
    assert len(inquiries) == 2  # one message synced before the restart, one after
    everything = "\n".join((logged, out, err, *bodies))
    leaked = {what: value for what, value in secret_values.items() if value in everything}
    assert leaked == {}, f"secrets in the logs: {sorted(leaked)}"
    # The capture saw what it had to see (a test that captured nothing would pass vacuously).
    assert "AMI login refused" in logged or "refused" in logged.lower()
    assert "store ready at postgresql+psycopg://app:***@127.0.0.1" in logged
    assert "uvicorn.access" in logged and "access_token=***" in logged
    assert "sqlalchemy.engine" in logged and "IMAP" in logged
