"""The store slow, locked or down while the PBX keeps talking: the real daemon in-process, the AMI
simulator over TCP playing synthetic traffic whose ground truth is known, real SQLite and PostgreSQL.

Nothing may be lost or stored twice: a slow store holds the PBX back (the daemon stops reading its
socket, TCP flow control does the rest) and a failing one is retried; /readyz says so meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, text
from sqlmodel import Session

from adapters.asterisk.session import READ_SIZE
from adapters.asterisk.simulator import AmiSimulator
from adapters.asterisk.synthetic import ExpectedCall, TrafficGenerator, TrafficProfile
from monitor.config import Settings
from monitor.domain.events import MonitoringGap
from monitor.runtime import Daemon
from monitor.store.engine import make_engine
from monitor.store.repository import SqlCallRepository, SqlGapRepository
from tests.e2e.test_daemon_captures import daemon_settings, wait_until
from tests.integration.test_synthetic_tracking import expected_outcome
from tests.services import throwaway_postgres_server

HIGH_WATER = 100  # small, so a few seconds of a blocked store reach it
# A Hangup is the smallest message that can finish a call (~450 bytes): one read can finish at most
# this many calls, the most the buffer may go past the mark before the reader stops.
ONE_READ_OF_CALLS = READ_SIZE // 450


def _with_database(settings: Settings, url: str) -> Settings:
    return settings.model_copy(update={"monitor": settings.monitor.model_copy(update={"database_url": url})})


def _stored(url: str) -> tuple[list[dict[str, Any]], list[MonitoringGap]]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            page = SqlCallRepository(session).list(limit=5000)
            assert page.next_cursor is None
            gaps = list(SqlGapRepository(session).list())
            rows = session.execute(text('SELECT count(*) FROM "call"')).scalar_one()
    finally:
        engine.dispose()
    assert rows == len(page.items)
    return page.items, gaps


def _check_every_call_stored_once(calls: list[dict[str, Any]], expected: list[ExpectedCall]) -> None:
    ids = [c["call_id"] for c in calls]
    assert len(ids) == len(set(ids)), "a call stored twice"
    assert sorted(ids) == sorted(e.call_id for e in expected), "calls lost or invented"
    by_id = {c["call_id"]: c for c in calls}
    for exp in expected:
        got = by_id[exp.call_id]
        assert (got["direction"], got["outcome"]) == (exp.direction, expected_outcome(exp)), exp.call_id
        if exp.direction == "inbound":
            assert got["answered_by"] == exp.answered_by, exp.call_id
        assert got["arrived_at"] == pytest.approx(exp.arrived_at, abs=0.005)
        assert got["approximate"] is False, exp.call_id  # the AMI session never broke


class _TableLock:
    """Another session holding PostgreSQL's call table under ACCESS EXCLUSIVE: writes to it wait."""

    def __init__(self, url: str) -> None:
        self._engine = make_engine(url)
        self._conn: Connection | None = None

    async def take(self) -> None:
        self._conn = self._engine.connect()
        self._conn.begin()
        await asyncio.to_thread(self._conn.execute, text('LOCK TABLE "call" IN ACCESS EXCLUSIVE MODE'))

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()  # rolls the (lock-only) transaction back
            self._conn = None
        self._engine.dispose()


async def _gated(items: Iterable[tuple[float, str]], go: asyncio.Event) -> AsyncIterator[tuple[float, str]]:
    await go.wait()
    for item in items:
        yield item


async def _readyz(daemon: Daemon) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        r = await client.get(f"http://127.0.0.1:{daemon.port}/readyz")
    body: dict[str, Any] = r.json()
    return r.status_code, body


async def _metric(daemon: Daemon, name: str) -> float:
    async with httpx.AsyncClient(timeout=5.0) as client:
        r = await client.get(f"http://127.0.0.1:{daemon.port}/metrics")
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


async def _until_ready_is(daemon: Daemon, status: int, timeout: float) -> dict[str, Any]:
    seen: list[tuple[int, dict[str, Any]]] = []

    async def poll() -> None:
        while True:
            seen.append(await _readyz(daemon))
            if seen[-1][0] == status:
                return
            await asyncio.sleep(0.1)

    await asyncio.wait_for(poll(), timeout)
    return seen[-1][1]


async def _until_steady(read: Callable[[], int], steady_s: float, timeout: float) -> int:
    """Wait until ``read()`` has not changed for ``steady_s``; returns the value."""
    async with asyncio.timeout(timeout):
        value, since = read(), time.monotonic()
        while time.monotonic() - since < steady_s:
            await asyncio.sleep(0.05)
            if read() != value:
                value, since = read(), time.monotonic()
    return value


async def _until_resynced(daemon: Daemon) -> None:
    """Connected and the login's CoreShowChannels answered: traffic may start. (A call whose first
    events race the listing is adopted from it, with whole-second figures: not what is tested here.)"""
    source = daemon.sites[0].source
    await wait_until(lambda: source.resyncs >= 1, 30, "connected and resynced")


async def _until_all_stored(daemon: Daemon, sim: AmiSimulator, timeout: float) -> None:
    tracker = daemon.sites[0].service.tracker
    writer = daemon.writer
    assert writer is not None
    await wait_until(lambda: sim.finished.is_set(), timeout, "traffic played")
    await wait_until(lambda: not tracker.live_calls, timeout, "every call closed")
    await wait_until(lambda: writer.pending == 0, timeout, "every call written")


async def test_slow_store_holds_the_pbx_back_with_bounded_memory_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL's call table held under ACCESS EXCLUSIVE by another session while the simulator
    floods: the writer's buffer reaches the mark, the daemon stops reading, the simulator is held
    back by TCP; once the lock goes, everything is stored once, with no gap."""
    traffic = TrafficGenerator(TrafficProfile(calls_per_hour=720), seed=21, start=time.time())
    items = list(traffic.calls(400))
    go = asyncio.Event()
    # A lenient PBX (writetimeout 60 s): this test is about holding back, not about being dropped.
    sim = AmiSimulator(
        _gated(items, go), secret="sim-secret", speed=0, wait_for_clients=1, write_timeout=60.0
    )
    settings = _with_database(daemon_settings(tmp_path, await sim.start(), monkeypatch), postgres_url)
    daemon = Daemon(settings, store_high_water=HIGH_WATER)
    task = asyncio.create_task(daemon.run())
    locker = _TableLock(postgres_url)
    try:
        await asyncio.wait_for(daemon.started.wait(), 30)
        writer, client = daemon.writer, daemon.sites[0].source.client
        assert writer is not None
        await _until_resynced(daemon)
        await locker.take()
        go.set()
        await wait_until(lambda: writer.paused, 60, "buffer reached the high-water mark")
        # The daemon stops reading; once the socket buffers are full the simulator cannot send.
        held_at = await _until_steady(lambda: sim.messages_sent, 1.5, 30)
        assert held_at < len(items) and not sim.finished.is_set(), "the PBX was not held back"
        assert client.paused and writer.paused
        # Held back for longer than the keepalive allows a Ping to go unanswered (2 intervals): a
        # Ping cannot be answered while the daemon reads nothing, so that must not end the session.
        await asyncio.sleep(3 * settings.pbx[0].ping_interval_s)
        assert client.paused and client.connected and sim.messages_sent == held_at
        assert await _metric(daemon, "slamon_ami_reads_paused") == 1.0
        assert await _metric(daemon, "slamon_store_pending_writes") >= HIGH_WATER
        assert (await _readyz(daemon))[0] == 200  # slow is not failing
        locker.release()
        await _until_all_stored(daemon, sim, 120)
        assert await _metric(daemon, "slamon_ami_reads_paused") == 0.0
        assert await _metric(daemon, "slamon_ami_read_pauses_total") >= 1
    finally:
        locker.release()  # first: a writer blocked on the lock would never let the daemon stop
        daemon.stop.set()
        await asyncio.wait_for(task, 30)
        await sim.close()
    print(
        f"max buffered {writer.stats.max_pending} (mark {HIGH_WATER}), pauses {writer.stats.pauses}, "
        f"paused {writer.stats.paused_s:.1f}s, simulator held at {held_at}/{len(items)} messages"
    )
    assert HIGH_WATER <= writer.stats.max_pending <= HIGH_WATER + ONE_READ_OF_CALLS
    assert writer.stats.pauses >= 1 and client.stats.pauses >= 1 and not writer.paused
    # Said in the log once per pause (why, and until when), not once per message held back.
    assert caplog.text.count("AMI sources stop reading") == writer.stats.pauses
    assert caplog.text.count("AMI sources read again") == writer.stats.pauses
    assert client.reconnects == 0
    calls, gaps = _stored(postgres_url)
    _check_every_call_stored_once(calls, traffic.expected)
    assert gaps == []


async def _store_outage_during_traffic(
    daemon: Daemon,
    sim: AmiSimulator,
    go: asyncio.Event,
    fail: Callable[[], None],
    recover: Callable[[], None],
) -> None:
    """Traffic plays; once calls are stored the store fails until /readyz has reported it for 2 s,
    then recovers."""
    task = asyncio.create_task(daemon.run())
    failing = False
    try:
        await asyncio.wait_for(daemon.started.wait(), 30)
        writer = daemon.writer
        assert writer is not None
        await _until_resynced(daemon)
        go.set()
        await wait_until(lambda: writer.stats.written >= 3, 30, "calls stored before the outage")
        await asyncio.to_thread(fail)
        failing = True
        written_before = writer.stats.written
        detail = await _until_ready_is(daemon, 503, 30)
        assert detail["database"] == "failing"
        await asyncio.sleep(2.0)
        assert (await _readyz(daemon))[0] == 503
        assert writer.pending > 0, "calls finished during the outage"
        await asyncio.to_thread(recover)
        failing = False
        detail = await _until_ready_is(daemon, 200, 60)
        assert detail["database"] == "ok"
        await _until_all_stored(daemon, sim, 90)
        assert writer.stats.errors >= 1 and writer.stats.written > written_before
    finally:
        if failing:  # the test failed mid-outage: end it, or stopping waits on the store
            await asyncio.to_thread(recover)
        daemon.stop.set()
        await asyncio.wait_for(task, 30)
        await sim.close()


def _paced_traffic(seed: int) -> tuple[TrafficGenerator, AmiSimulator, asyncio.Event]:
    """About 15 s of traffic (speed 60), from when ``go`` is set: calls finish before, during and
    after the outage."""
    traffic = TrafficGenerator(TrafficProfile(calls_per_hour=720), seed=seed, start=time.time())
    go = asyncio.Event()
    sim = AmiSimulator(_gated(list(traffic.calls(180)), go), secret="sim-secret", speed=60.0)
    return traffic, sim, go


async def test_postgresql_down_during_traffic_is_retried_and_nothing_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    traffic, sim, go = _paced_traffic(seed=22)
    with throwaway_postgres_server() as pg:
        settings = _with_database(daemon_settings(tmp_path, await sim.start(), monkeypatch), pg.url)
        daemon = Daemon(settings)
        await _store_outage_during_traffic(daemon, sim, go, pg.stop, pg.start)
        calls, gaps = _stored(pg.url)
    _check_every_call_stored_once(calls, traffic.expected)
    assert gaps == []  # the database was down, not the PBX connection
    assert daemon.sites[0].source.client.reconnects == 0


async def test_sqlite_locked_by_another_connection_is_retried_and_nothing_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    traffic, sim, go = _paced_traffic(seed=23)
    settings = daemon_settings(tmp_path, await sim.start(), monkeypatch)
    daemon = Daemon(settings)
    holder = sqlite3.connect(
        tmp_path / "slamon.db", timeout=30.0, isolation_level=None, check_same_thread=False
    )

    def lock() -> None:
        holder.execute("BEGIN EXCLUSIVE")  # no other connection may write (WAL readers still read)

    def unlock() -> None:
        holder.execute("COMMIT")

    try:
        await _store_outage_during_traffic(daemon, sim, go, lock, unlock)
    finally:
        holder.close()
    calls, gaps = _stored(settings.monitor.database_url)
    _check_every_call_stored_once(calls, traffic.expected)
    assert gaps == []
    assert daemon.sites[0].source.client.reconnects == 0


async def test_pbx_dropping_the_held_back_session_is_a_recorded_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    """A strict PBX (writetimeout 1 s, as Asterisk's is short) drops the session the daemon stopped
    reading: what it sent afterwards is gone. The reconnect records a gap that starts when reading
    stopped; calls that were live then are flagged approximate; nothing is stored twice."""
    # Flooding plays ~1.4 h of PBX time in seconds; starting it 2 h ago keeps every event in the past
    # of the wall clock that times the gap, as with a real PBX whose clock is the wall clock.
    traffic = TrafficGenerator(TrafficProfile(calls_per_hour=720), seed=24, start=time.time() - 7200)
    items = list(traffic.calls(400))
    go = asyncio.Event()
    sim = AmiSimulator(_gated(items, go), secret="sim-secret", speed=0, wait_for_clients=1, write_timeout=1.0)
    settings = _with_database(daemon_settings(tmp_path, await sim.start(), monkeypatch), postgres_url)
    daemon = Daemon(settings, store_high_water=HIGH_WATER)
    task = asyncio.create_task(daemon.run())
    locker = _TableLock(postgres_url)
    try:
        await asyncio.wait_for(daemon.started.wait(), 30)
        writer, client = daemon.writer, daemon.sites[0].source.client
        assert writer is not None
        await _until_resynced(daemon)
        await locker.take()
        before_pause = time.time()
        go.set()
        await wait_until(lambda: client.paused, 60, "reads held back")
        paused_seen = time.time()
        await wait_until(lambda: sim.clients == 0, 30, "the PBX dropped the client that did not read")
        dropped_seen = time.time()
        locker.release()
        await wait_until(lambda: client.reconnects == 1 and client.connected, 60, "reconnected")
        await _until_all_stored(daemon, sim, 120)
    finally:
        locker.release()  # first: a writer blocked on the lock would never let the daemon stop
        daemon.stop.set()
        await asyncio.wait_for(task, 30)
        await sim.close()
    calls, gaps = _stored(postgres_url)
    [gap] = gaps
    assert (gap.source, gap.site) == ("ami", "detroit")
    assert before_pause <= gap.start <= paused_seen, "the gap starts when reading stopped"
    assert gap.end >= dropped_seen
    ids = [c["call_id"] for c in calls]
    assert len(ids) == len(set(ids)), "a call stored twice"
    truth = {e.call_id: e for e in traffic.expected}
    assert set(ids) < set(truth), "calls sent while the session was gone cannot be known"
    approximate = [c for c in calls if c["approximate"]]
    print(
        f"gap {gap.end - gap.start:.1f}s; {len(calls)}/{len(truth)} calls stored, "
        f"{len(approximate)} approximate"
    )
    assert approximate, "calls live when the session was lost are flagged"
    for got in calls:
        exp = truth[got["call_id"]]
        assert got["direction"] == exp.direction
        if not got["approximate"]:
            assert got["outcome"] == expected_outcome(exp), exp.call_id
            if exp.direction == "inbound":
                assert got["answered_by"] == exp.answered_by, exp.call_id
            assert got["arrived_at"] == pytest.approx(exp.arrived_at, abs=0.005)


async def test_postgresql_down_while_idle_is_reported_by_readyz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No call finishes while the database is down: readiness still reports it (the writer checks
    the database when idle), and recovers once it is back."""
    sim = AmiSimulator([], secret="sim-secret")
    with throwaway_postgres_server() as pg:
        settings = _with_database(daemon_settings(tmp_path, await sim.start(), monkeypatch), pg.url)
        daemon = Daemon(settings)
        task = asyncio.create_task(daemon.run())
        try:
            await asyncio.wait_for(daemon.started.wait(), 30)
            assert (await _readyz(daemon))[0] == 200
            await asyncio.to_thread(pg.stop)
            assert (await _until_ready_is(daemon, 503, 30))["database"] == "failing"
            await asyncio.to_thread(pg.start)
            assert (await _until_ready_is(daemon, 200, 30))["database"] == "ok"
        finally:
            daemon.stop.set()
            await asyncio.wait_for(task, 30)
            await sim.close()


async def test_daemon_started_while_postgresql_is_down_waits_for_it_then_stores_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The site PC boots before the group's database: slamon retries its start-up instead of dying,
    then watches the PBX and stores every call once."""
    traffic, sim, go = _paced_traffic(seed=24)
    caplog.set_level(logging.INFO, logger="monitor.service.startup")
    with throwaway_postgres_server() as pg:
        settings = _with_database(daemon_settings(tmp_path, await sim.start(), monkeypatch), pg.url)
        await asyncio.to_thread(pg.stop)
        daemon = Daemon(settings)
        task = asyncio.create_task(daemon.run())
        try:
            await wait_until(lambda: "attempt 2" in caplog.text, 30, "start-up retried")
            assert not daemon.started.is_set() and not task.done()
            await asyncio.to_thread(pg.start)
            await asyncio.wait_for(daemon.started.wait(), 60)
            await _until_resynced(daemon)
            go.set()
            await _until_all_stored(daemon, sim, 90)
        finally:
            if not pg.running:
                await asyncio.to_thread(pg.start)
            daemon.stop.set()
            await asyncio.wait_for(task, 30)
            await sim.close()
        calls, gaps = _stored(pg.url)
    _check_every_call_stored_once(calls, traffic.expected)
    assert gaps == []  # first start: nothing was being watched before, so nothing was missed
    assert "reachable after" in caplog.text
    assert pg.url.split(":")[2].split("@")[0] not in caplog.text  # the password never shows


async def test_daemon_stopped_while_waiting_for_the_database_exits_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor")
    sim = AmiSimulator([], secret="sim-secret")
    with throwaway_postgres_server() as pg:
        settings = _with_database(daemon_settings(tmp_path, await sim.start(), monkeypatch), pg.url)
        await asyncio.to_thread(pg.stop)
        daemon = Daemon(settings)
        task = asyncio.create_task(daemon.run())
        try:
            await wait_until(lambda: "unavailable at start-up" in caplog.text, 30, "start-up failing")
            daemon.stop.set()
            await asyncio.wait_for(task, 30)
        finally:
            await asyncio.to_thread(pg.start)
            await sim.close()
    assert not daemon.started.is_set()
    assert "stopped before the database" in caplog.text
