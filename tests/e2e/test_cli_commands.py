"""The commands as an operator runs them: real processes, real config files, real signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from sqlmodel import Session

from adapters.asterisk.captures import load_jsonl
from adapters.asterisk.simulator import AmiSimulator
from monitor.store.engine import make_engine
from monitor.store.repository import SqlCallRepository
from tests.e2e.test_daemon_captures import wait_until
from tests.paths import CAPTURES
from tests.services import free_port

SLAMON = str(Path(sys.executable).with_name("slamon"))


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAMON_")}
    env.update(extra)
    return env


def _stored_calls(db: Path) -> list[dict[str, object]]:
    if not db.exists():
        return []
    engine = make_engine(f"sqlite:///{db}")
    try:
        with Session(engine) as session:
            return SqlCallRepository(session).list(limit=100).items
    except Exception:  # the schema may not exist yet while the daemon starts
        return []
    finally:
        engine.dispose()


async def test_slamon_run_measures_calls_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    secret = tmp_path / "ami.secret"
    secret.write_text("run-secret\n")
    port = free_port()
    config = tmp_path / "slamon.toml"
    config.write_text(
        f"""
[monitor]
database_url = "sqlite:///{tmp_path}/slamon.db"
listen = "127.0.0.1:{port}"

[[site]]
id = "detroit"
timezone = "America/Detroit"

[[pbx]]
site = "detroit"
host = "127.0.0.1"
port = PBX_PORT
username = "monitor"
secret_file = "{secret}"
service_numbers = ["600"]
"""
    )
    sim = AmiSimulator(
        load_jsonl(CAPTURES / "c_queue_hold35.jsonl"), secret="run-secret", speed=20.0, wait_for_clients=1
    )
    pbx_port = await sim.start()
    config.write_text(config.read_text().replace("PBX_PORT", str(pbx_port)))
    proc = subprocess.Popen(
        [SLAMON, "run", "--config", str(config)],
        env=_env(SLAMON_HMAC_KEY="cli-test-hmac-key-0123456789"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        await wait_until(
            lambda: len(_stored_calls(tmp_path / "slamon.db")) == 1 or proc.poll() is not None, 60, "stored"
        )
        assert proc.poll() is None
        health = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
        )
        assert json.loads(health) == {"status": "ok"}
        metrics = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        )
        assert b'slamon_calls_total{outcome="answered",queue="service",site="detroit"} 1.0' in metrics
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        await sim.close()
    assert proc.returncode == 0, out
    assert "run-secret" not in out
    [call] = _stored_calls(tmp_path / "slamon.db")
    assert call["outcome"] == "answered" and call["sla"] == {
        "answer_rings": "met",
        "hold": "breached",
        "abandon": "n/a",
    }


def test_slamon_demo_shows_measured_calls_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            SLAMON,
            "demo",
            "--calls-per-hour",
            "3600",
            "--var",
            str(tmp_path / "var"),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # not a terminal: one line per measured customer call
            lines.append(line)
            if "+1" in line and "****" in line:
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines) + rest
    assert proc.returncode == 0, text
    assert f"http://127.0.0.1:{port}/metrics" in text and "/docs" in text
    assert "slamon demo stopped" in text
    assert (tmp_path / "var" / "slamon.db").exists()
    assert oct((tmp_path / "var" / "hmac.key").stat().st_mode & 0o777) == "0o600"


def test_slamon_replay_table_and_refusal() -> None:
    ok = subprocess.run(
        [SLAMON, "replay", str(CAPTURES / "c_queue_hold35.jsonl"), "--format", "table"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert ok.returncode == 0, ok.stderr
    assert "breached" in ok.stdout and "35.00" in ok.stdout and "+13135550103" not in ok.stdout
    refused = subprocess.run(
        [SLAMON, "replay", str(CAPTURES / "c_queue_hold35.ami.txt")],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert refused.returncode == 2 and "Timestamp" in refused.stderr and refused.stdout == ""


def test_wrong_config_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[site]]\nid = "x"\ntimezone = "Mars/Base"\n')
    result = subprocess.run(
        [SLAMON, "run", "--config", str(config)], capture_output=True, text=True, timeout=60, env=_env()
    )
    assert result.returncode == 2 and "Mars/Base" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("role", ["wallboard", "auditor"])
def test_token_create_prints_once_and_stores_hash(tmp_path: Path, role: str) -> None:
    config = tmp_path / "slamon.toml"
    config.write_text(f'[api]\ntokens_file = "{tmp_path}/tokens"\n')
    result = subprocess.run(
        [SLAMON, "token", "create", "--role", role, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    token = result.stdout.strip()
    assert result.returncode == 0 and token.startswith("slm_")
    stored = (tmp_path / "tokens").read_text()
    assert token not in stored and stored.startswith(role + " ")
