"""Faults between the PBX and the daemon, against the AMI simulator over real TCP."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from adapters.asterisk.captures import load_jsonl
from adapters.asterisk.simulator import AmiSimulator
from monitor.domain.events import MonitoringGap
from monitor.runtime import Daemon
from monitor.store.engine import make_engine
from monitor.store.repository import SqlCallRepository, SqlGapRepository
from tests.e2e.test_daemon_captures import daemon_settings, wait_until
from tests.ground_truth import expected_calls
from tests.paths import CAPTURES, scenarios


def stored(tmp_path: Path) -> tuple[list[dict[str, Any]], list[MonitoringGap]]:
    engine = make_engine(f"sqlite:///{tmp_path}/slamon.db")
    try:
        with Session(engine) as session:
            calls = SqlCallRepository(session).list(limit=1000).items
            gaps = list(SqlGapRepository(session).list())
    finally:
        engine.dispose()
    return calls, gaps


async def test_connection_dropped_mid_call_measures_call_once_and_records_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = load_jsonl(CAPTURES / "c_queue_hold35.jsonl")  # 51 s call with a 35 s hold
    sim = AmiSimulator(items, secret="sim-secret", speed=10.0, wait_for_clients=1)
    port = await sim.start()
    daemon = Daemon(daemon_settings(tmp_path, port, monkeypatch))
    task = asyncio.create_task(daemon.run())
    try:
        await daemon.started.wait()
        tracker = daemon.sites[0].service.tracker
        await wait_until(lambda: len(tracker.live_calls) == 1, 20, "call seen")
        await asyncio.sleep(2.0)  # into the call (sim time ~ +20 s: answered, on hold)
        sim.drop_connections()
        await wait_until(lambda: daemon.sites[0].source.client.reconnects >= 1, 20, "reconnected")
        await wait_until(lambda: sim.finished.is_set(), 30, "capture played")
        await wait_until(lambda: not tracker.live_calls, 20, "call closed")
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 30)
        await sim.close()
    assert daemon.sites[0].service.stats.completed == 1, "emitted once: not closed at the gap and re-opened"
    calls, gaps = stored(tmp_path)
    inbound = [c for c in calls if c["direction"] == "inbound"]
    assert len(inbound) == 1, "measured exactly once across the reconnect"
    call = inbound[0]
    assert call["outcome"] == "answered" and call["answered_by"] == "201"
    assert call["approximate"] is True  # events inside the gap are unknown: said so on the record
    assert len(gaps) == 1
    gap = gaps[0]
    assert gap.source == "ami" and gap.site == "detroit" and 0 < gap.end - gap.start < 10


async def test_wrong_secret_is_a_clear_error_and_never_shown(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    sim = AmiSimulator([], secret="the-right-one")
    port = await sim.start()
    settings = daemon_settings(tmp_path, port, monkeypatch)
    wrong = "wr0ng-s3cret-value-xyz"
    monkeypatch.setenv("SLAMON_AMI_SECRET", wrong)
    daemon = Daemon(settings)
    caplog.set_level(logging.DEBUG)
    task = asyncio.create_task(daemon.run())
    try:
        await daemon.started.wait()
        await wait_until(lambda: "login" in caplog.text.lower(), 10, "login failure logged")
        assert not daemon.sites[0].source.up
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 30)
        await sim.close()
    out, err = capfd.readouterr()
    assert "monitor" in caplog.text and "refused" in caplog.text.lower()
    assert wrong not in caplog.text and wrong not in out and wrong not in err


async def test_stalled_connection_is_detected_and_reconnected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = load_jsonl(CAPTURES / "b_queue_ring12_answer.jsonl")
    sim = AmiSimulator(items, secret="sim-secret", speed=2.0, wait_for_clients=1)
    port = await sim.start()
    settings = daemon_settings(tmp_path, port, monkeypatch)
    pbx = settings.pbx[0].model_copy(update={"ping_interval_s": 0.5})
    daemon = Daemon(settings.model_copy(update={"pbx": [pbx]}))
    task = asyncio.create_task(daemon.run())
    try:
        await daemon.started.wait()
        await wait_until(lambda: daemon.sites[0].source.up, 10, "connected")
        sim.stall(None)  # half-open: the socket stays, nothing arrives, pings unanswered
        await wait_until(lambda: daemon.sites[0].source.client.reconnects >= 1, 10, "stall detected")
        await wait_until(lambda: daemon.sites[0].source.up, 10, "reconnected")
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 30)
        await sim.close()
    _, gaps = stored(tmp_path)
    assert len(gaps) == 1


async def test_call_in_progress_at_connect_is_adopted_from_coreshowchannels_and_queuestatus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """slamon starts while a caller is already queued: the call is tracked from the resync, flagged
    approximate, with its queue wait taken from QueueStatus."""
    items = load_jsonl(CAPTURES / "b_queue_ring12_answer.jsonl")
    # The simulator starts its clock at the first event it plays: make that "now", so the simulated
    # PBX clock is the wall clock, as with a real PBX on NTP.
    first = next(t for t, raw in items if raw.startswith("Event:") and "FullyBooted" not in raw[:20])
    shift = time.time() - first
    sim = AmiSimulator(items, secret="sim-secret", speed=1.0, time_shift=shift)
    port = await sim.start()
    await asyncio.sleep(6.0)  # the caller joined the queue ~1.6 s in; advisor 201 is ringing
    assert sim.state.channels, "the simulated PBX has the call live"
    daemon = Daemon(daemon_settings(tmp_path, port, monkeypatch))
    task = asyncio.create_task(daemon.run())
    try:
        await daemon.started.wait()
        tracker = daemon.sites[0].service.tracker
        await wait_until(lambda: len(tracker.live_calls) == 1, 10, "call adopted")
        await wait_until(lambda: sim.finished.is_set(), 40, "capture played")
        await wait_until(lambda: not tracker.live_calls, 20, "call closed")
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 30)
        await sim.close()
    calls, gaps = stored(tmp_path)
    [call] = [c for c in calls if c["direction"] == "inbound"]
    [truth] = expected_calls(next(s for s in scenarios() if s["name"] == "b_queue_ring12_answer"))
    assert call["outcome"] == "answered" and call["answered_by"] == "201" and call["approximate"] is True
    assert call["arrived_at"] == pytest.approx(truth.arrived_at + shift, abs=1.5)
    assert call["queue"] == "service"
    assert call["queue_wait_s"] == pytest.approx(truth.queue_wait_s, abs=1.5)
    assert gaps == []  # the first connection is not a gap: nothing was being monitored before
