"""Acceptance: the captures played by the AMI simulator over TCP into the daemon give, read back from
the store, the same figures as the SIP ground truth (and as offline replay)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import Session

from adapters.asterisk.captures import load_jsonl
from adapters.asterisk.simulator import AmiSimulator
from monitor.config import MonitorSettings, PbxSettings, Settings, SiteSettings
from monitor.domain.privacy import key_number
from monitor.runtime import Daemon
from monitor.store.engine import make_engine
from monitor.store.repository import SqlCallRepository
from tests.ground_truth import expected_calls
from tests.integration.test_replay_captures import check_call
from tests.paths import ASTERISK, scenarios

KEY = "e2e-hmac-key-0123456789abcdef"


def daemon_settings(tmp_path: Path, port: int, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SLAMON_HMAC_KEY", KEY)
    monkeypatch.setenv("SLAMON_AMI_SECRET", "sim-secret")
    return Settings(
        monitor=MonitorSettings(database_url=f"sqlite:///{tmp_path}/slamon.db", listen="127.0.0.1:0"),
        site=[SiteSettings(id="detroit", timezone="America/Detroit")],
        pbx=[
            PbxSettings(site="detroit", host="127.0.0.1", port=port, username="monitor", ping_interval_s=2.0)
        ],
    )


async def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)
    assert predicate(), what


async def test_captures_over_tcp_into_daemon_match_ground_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items: list[tuple[float, str]] = []
    for scenario in scenarios():
        items.extend(load_jsonl(ASTERISK / scenario["capture_jsonl"]))
    items.sort(key=lambda item: item[0])
    sim = AmiSimulator(items, secret="sim-secret", speed=200.0, timestamp_events=True, wait_for_clients=1)
    port = await sim.start()
    daemon = Daemon(daemon_settings(tmp_path, port, monkeypatch))
    task = asyncio.create_task(daemon.run())
    try:
        await wait_until(lambda: sim.finished.is_set() or task.done(), 60, "simulator played everything")
        tracker = daemon.sites[0].service.tracker
        await wait_until(lambda: not tracker.live_calls, 20, "every call closed")
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 30)
        await sim.close()
    engine = make_engine(f"sqlite:///{tmp_path}/slamon.db")
    with Session(engine) as session:
        repo = SqlCallRepository(session)
        page = repo.list("detroit", limit=1000)
        stored = [item for item in page.items if item["direction"] == "inbound"]
        evidence_counts = {}
        for item in stored:
            found = repo.get("detroit", item["call_id"])
            assert found is not None
            evidence_counts[item["call_id"]] = len(found[1])
    engine.dispose()
    expected = [exp for s in scenarios() for exp in expected_calls(s)]
    assert len(stored) == len(expected)
    for exp in expected:
        key = key_number(KEY.encode(), exp.caller_number)
        matches = [item for item in stored if abs(item["arrived_at"] - exp.arrived_at) < 1.0]
        assert len(matches) == 1, exp.scenario
        assert _caller_key(tmp_path, matches[0]["call_id"]) == key
        check_call(matches[0], exp)
        assert evidence_counts[matches[0]["call_id"]] > 3
        assert exp.caller_number not in json.dumps(matches[0])


def _caller_key(tmp_path: Path, call_id: str) -> str:
    from sqlalchemy import select

    from monitor.store.tables import table

    engine = make_engine(f"sqlite:///{tmp_path}/slamon.db")
    try:
        with Session(engine) as session:
            call = table("call")
            return str(
                session.execute(select(call.c.caller_key).where(call.c.call_id == call_id)).scalar_one()
            )
    finally:
        engine.dispose()
