"""slamon restarted under traffic: the real ``slamon run`` process against the AMI simulator playing
synthetic dealership traffic in real time, stopped by SIGTERM (drained and checkpointed) or SIGKILL
(nothing drained) and started again. Afterwards every generated call is either stored exactly once
or fell entirely inside the recorded monitoring gap; the figures of each stored call are checked
against the generator's ground truth according to what could be observed of it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from adapters.asterisk.simulator import AmiSimulator
from adapters.asterisk.synthetic import Dist, ExpectedCall, TrafficGenerator, TrafficProfile
from monitor.domain.calls import Evidence
from monitor.domain.events import MonitoringGap
from monitor.service.checkpoint import GAP_AFTER_CLEAN_STOP, GAP_AFTER_CRASH
from monitor.store.engine import make_engine
from monitor.store.repository import SqlCallRepository, SqlGapRepository
from monitor.store.tables import table
from tests.e2e.test_daemon_captures import wait_until
from tests.services import free_port

SLAMON = str(Path(sys.executable).with_name("slamon"))
SECRET = "restart-secret"
SITE = "detroit"
CALLS = 72
# Margin around the gap's ends: an event a few ms before the heartbeat may not have been read yet, and
# a call ends at its last channel's hang-up, a few ms after the caller's (the ground truth's end).
EDGE = 0.3
# How far behind the PBX a daemon on a loaded machine may be reading when it is stopped: events sent
# in that time are lost with the connection, like any event inside a gap.
LAG = 2.0

# A busy desk at four calls a second, with short calls so the whole run fits in well under a minute
# (some thirty calls in progress at any time).
PROFILE = TrafficProfile(
    calls_per_hour=4 * 3600,
    agents=tuple(str(201 + i) for i in range(14)),
    member_timeout_s=6.0,
    retry_s=1.0,
    queue_timeout_s=10.0,
    dial_timeout_s=8.0,
    outbound_timeout_s=12.0,
    p_agent_offline=0.0,
    ring=Dist(median=2.5, sigma=0.5, lo=0.5, hi=7.0),
    talk=Dist(median=6.0, sigma=0.5, lo=3.0, hi=10.0),
    hold=Dist(median=3.0, sigma=0.4, lo=1.5, hi=6.0),
    patience=Dist(median=6.0, sigma=0.5, lo=2.0, hi=10.0),
    voicemail=Dist(median=4.0, sigma=0.4, lo=2.0, hi=6.0),
    consult=Dist(median=3.0, sigma=0.4, lo=1.5, hi=6.0),
)


@dataclass
class Traffic:
    """The generator, started when the first daemon has logged in, paced on the wall clock so event
    timestamps, the daemon's clock and the ground truth all share one time line."""

    seed: int
    generator: TrafficGenerator | None = None

    async def play(self) -> AsyncIterator[tuple[float, str]]:
        self.generator = TrafficGenerator(PROFILE, seed=self.seed, start=time.time())
        for t, raw in self.generator.calls(CALLS):
            delay = t - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            yield t, raw

    @property
    def expected(self) -> list[ExpectedCall]:
        return [] if self.generator is None else self.generator.expected


@dataclass
class Slamon:
    tmp_path: Path
    pbx_port: int
    runs: int = 0
    proc: subprocess.Popen[str] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def db(self) -> str:
        return f"sqlite:///{self.tmp_path}/slamon.db"

    def start(self) -> int:
        """Start ``slamon run``; returns its API port."""
        self.runs += 1
        secret = self.tmp_path / "ami.secret"
        secret.write_text(SECRET + "\n")
        port = free_port()
        config = self.tmp_path / f"slamon{self.runs}.toml"
        config.write_text(
            f'[monitor]\ndatabase_url = "{self.db}"\nlisten = "127.0.0.1:{port}"\n\n'
            f'[[site]]\nid = "{SITE}"\ntimezone = "America/Detroit"\n\n'
            f'[[pbx]]\nsite = "{SITE}"\nhost = "127.0.0.1"\nport = {self.pbx_port}\nusername = "monitor"\n'
            f'secret_file = "{secret}"\nservice_numbers = ["600"]\nping_interval_s = 2.0\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLAMON_")}
        env["SLAMON_HMAC_KEY"] = "restart-test-hmac-key-0123456789"
        log = self.tmp_path / f"slamon{self.runs}.log"
        self.logs.append(log)
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [SLAMON, "run", "--config", str(config)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        return port

    async def stop(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            return await asyncio.to_thread(self.proc.wait, 30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def kill_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_text(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in self.logs if p.exists())


@dataclass
class Stored:
    calls: dict[str, dict[str, Any]]
    gaps: list[MonitoringGap]
    checkpointed: set[str]
    heartbeat: dict[str, Any] | None


def read_store(url: str) -> Stored:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            calls = SqlCallRepository(s).list(SITE, limit=10_000).items
            gaps = list(SqlGapRepository(s).list())
            live = table("live_call")
            checkpointed = set(s.execute(select(live.c.call_id).where(live.c.site == SITE)).scalars())
            beat = table("daemon_heartbeat")
            hb = s.execute(select(beat).where(beat.c.site == SITE)).mappings().first()
    except Exception:  # the schema is still being created by the first daemon
        return Stored({}, [], set(), None)
    finally:
        engine.dispose()
    return Stored({c["call_id"]: c for c in calls}, gaps, checkpointed, dict(hb) if hb is not None else None)


def read_evidence(url: str, call_ids: list[str]) -> dict[str, list[Evidence]]:
    engine = make_engine(url)
    out: dict[str, list[Evidence]] = {}
    try:
        with Session(engine) as s:
            for call_id in call_ids:
                found = SqlCallRepository(s).get(SITE, call_id)
                assert found is not None
                out[call_id] = found[1]
    finally:
        engine.dispose()
    return out


async def store(url: str) -> Stored:
    return await asyncio.to_thread(read_store, url)


def inbound_calls_counted(port: int) -> int:
    """``slamon_calls_total`` summed: the inbound calls this process emitted (duplicates included)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return round(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("slamon_calls_total{")
        )
    )


def outcome_of(exp: ExpectedCall) -> str:
    if exp.scenario == "after_hours":
        return "after_hours"  # the PBX's night routing, as the tracker names it
    if exp.direction == "outbound" and exp.outcome == "failed":
        return "missed"
    return exp.outcome


def answered_by_of(exp: ExpectedCall) -> str | None:
    if exp.direction == "internal":
        return None  # not asserted: an internal call's "answer" is not a customer figure
    return exp.answered_by


def check_seen_whole(call: dict[str, Any], exp: ExpectedCall) -> None:
    """A call that began and ended while the daemon was watching: exact, as without any restart."""
    assert call["closed_reason"] == "hangup" and call["approximate"] is False, (call, exp)
    assert call["outcome"] == outcome_of(exp), (call, exp)
    if exp.direction != "internal":
        assert call["answered_by"] == answered_by_of(exp), (call, exp)
    assert call["arrived_at"] == pytest.approx(exp.arrived_at, abs=0.01)


async def run_restart(tmp_path: Path, sig: signal.Signals, seed: int) -> None:
    traffic = Traffic(seed)
    sim = AmiSimulator(traffic.play(), secret=SECRET, speed=0.0, wait_for_clients=1)
    pbx_port = await sim.start()
    slamon = Slamon(tmp_path, pbx_port)
    try:
        slamon.start()
        # Into the traffic: calls have been stored, and some thirty are in progress.
        await wait_until(lambda: len(traffic.expected) >= 32, 60, "traffic under way")
        async with asyncio.timeout(60):
            while len((await store(slamon.db)).calls) < 6:
                await asyncio.sleep(0.2)
        if sig == signal.SIGKILL:
            # Killed between two checkpoints; the last one is at most about a second old.
            await asyncio.sleep(0.6)
        stopped_at = time.time()
        rc = await slamon.stop(sig)
        first = await store(slamon.db)
        if sig == signal.SIGTERM:
            assert rc == 0, slamon.log_text()
        else:
            assert rc == -signal.SIGKILL
        assert first.heartbeat is not None
        heartbeat = first.heartbeat["monitored_until"]
        assert first.heartbeat["clean_stop"] is (sig == signal.SIGTERM)
        assert stopped_at - 5.0 < heartbeat <= stopped_at + 1.0
        assert first.gaps == []

        expected = {exp.call_id: exp for exp in traffic.expected}
        ended_before = {
            i for i, e in expected.items() if e.ended_at is not None and e.ended_at < heartbeat - LAG
        }
        live_at_stop = {
            i
            for i, e in expected.items()
            if e.arrived_at < heartbeat - EDGE and (e.ended_at is None or e.ended_at > stopped_at + EDGE)
        }
        assert len(live_at_stop) >= 10, "the stop caught many calls in progress"
        # Calls in progress are checkpointed, never stored with partial figures (no "shutdown" records).
        assert live_at_stop <= first.checkpointed
        assert not live_at_stop & set(first.calls)
        if sig == signal.SIGTERM:
            # Drained: everything completed before the signal is stored, and taken off the checkpoint;
            # every call seen is either stored or checkpointed.
            assert ended_before <= set(first.calls)
            assert not first.checkpointed & set(first.calls)
            seen = {i for i, e in expected.items() if e.arrived_at < heartbeat - LAG}
            assert seen <= set(first.calls) | first.checkpointed
        else:
            # Killed: a call finished since the last checkpoint may be stored and still checkpointed
            # (the restart must not count it again), or closed but not yet written by the batch writer
            # (only the checkpoint has it: the restart closes it at the gap).
            assert ended_before <= set(first.calls) | first.checkpointed
            for call_id in first.checkpointed & set(first.calls):
                assert (expected[call_id].ended_at or 0) > heartbeat - 2.0
        for call_id in first.calls:
            check_seen_whole(first.calls[call_id], expected[call_id])

        await asyncio.sleep(1.5)  # down a while: some of the checkpointed calls end unseen
        port = slamon.start()
        await wait_until(lambda: sim.finished.is_set(), 90, "traffic played to the end")
        expected = {exp.call_id: exp for exp in traffic.expected}
        assert len(expected) == CALLS

        async def settled() -> bool:
            now = await store(slamon.db)
            if len(now.gaps) != 1:
                return False
            gap = now.gaps[0]
            inside = {
                i for i, e in expected.items() if gap.start <= e.arrived_at and (e.ended_at or 0) <= gap.end
            }
            return set(now.calls) >= set(expected) - inside and not now.checkpointed

        async with asyncio.timeout(60):
            while not await settled():
                await asyncio.sleep(0.2)
        counted = await asyncio.to_thread(inbound_calls_counted, port)
        rc = await slamon.stop(signal.SIGTERM)
        assert rc == 0, slamon.log_text()
    finally:
        slamon.kill_if_running()
        await sim.close()

    final = await store(slamon.db)
    [gap] = final.gaps
    assert (gap.source, gap.site) == ("ami", SITE)
    assert gap.reason == (GAP_AFTER_CLEAN_STOP if sig == signal.SIGTERM else GAP_AFTER_CRASH)
    assert gap.start == heartbeat and gap.end > stopped_at
    g0, g1 = gap.start, gap.end

    inside = {
        i for i, e in expected.items() if e.arrived_at >= g0 and e.ended_at is not None and e.ended_at <= g1
    }
    # Every generated call is stored once, or began and ended inside the recorded gap (where AMI, which
    # keeps no history, showed nothing of it): nothing is lost without a gap saying so. (A killed
    # daemon may still have stored a call of the gap's first second: it watched until the kill.)
    assert set(final.calls) <= set(expected)
    missing = set(expected) - set(final.calls)
    assert missing <= inside, slamon.log_text()
    if sig == signal.SIGTERM:
        assert missing == inside
    # The second daemon counted (metrics) exactly the inbound calls it stored: none a second time.
    second = [c for i, c in final.calls.items() if i not in first.calls and c["direction"] == "inbound"]
    assert counted == len(second)

    kinds: dict[str, int] = {}
    resumed: list[str] = []
    for call_id, call in final.calls.items():
        exp = expected[call_id]
        assert exp.ended_at is not None
        if call_id in first.calls:
            assert call == first.calls[call_id], "a stored call is never rewritten"
            kind = "before"
        elif exp.ended_at < g0 - EDGE:
            # Ended before the stop, but not stored by the first daemon: killed before its batch writer
            # wrote the call, or (stopped) still reading behind the PBX. The checkpoint had it live:
            # resumed, then closed at the gap's start, the latest the daemon could vouch for.
            assert call_id in first.checkpointed
            assert sig == signal.SIGKILL or exp.ended_at > g0 - LAG
            assert call["closed_reason"] == "gap" and call["approximate"] is True, (call, exp)
            assert call["ended_at"] == pytest.approx(g0, abs=0.001)
            kind = "unwritten_at_kill"
        elif exp.arrived_at > g1 + EDGE:
            check_seen_whole(call, exp)
            kind = "after"
        elif exp.arrived_at < g0 - EDGE and exp.ended_at > g1 + EDGE:
            # Resumed across the restart: stored once, with its real end; events in the gap unknown.
            assert call["closed_reason"] == "hangup" and call["approximate"] is True, (call, exp)
            assert call["ended_at"] == pytest.approx(exp.ended_at, abs=EDGE)
            assert call["arrived_at"] == pytest.approx(exp.arrived_at, abs=0.01)
            assert call["outcome"] == outcome_of(exp), (call, exp)
            if exp.direction != "internal" and not any(g0 <= t.at <= g1 for t in exp.transfers):
                assert call["answered_by"] == answered_by_of(exp), (call, exp)
            kind = "resumed"
            resumed.append(call_id)
        elif exp.arrived_at < g0 - EDGE and g0 + EDGE < exp.ended_at < g1 - EDGE:
            # Ended while slamon was down: closed at the gap's start, flagged approximate.
            assert call["closed_reason"] == "gap" and call["approximate"] is True, (call, exp)
            assert call["ended_at"] == pytest.approx(g0, abs=0.001)  # the record keeps ms
            assert call["arrived_at"] == pytest.approx(exp.arrived_at, abs=0.01)
            if exp.answered_at is not None and exp.answered_at < g0 - EDGE:
                assert call["outcome"] == "answered" and call["answered_by"] == answered_by_of(exp)
            kind = "closed_at_gap"
        elif g0 + EDGE < exp.arrived_at < g1 - EDGE and exp.ended_at > g1 + EDGE:
            # Began while slamon was down: adopted from the listing, its start approximate.
            assert call["closed_reason"] == "hangup" and call["approximate"] is True, (call, exp)
            assert call["ended_at"] == pytest.approx(exp.ended_at, abs=EDGE)
            assert call["arrived_at"] == pytest.approx(exp.arrived_at, abs=1.5)
            kind = "adopted"
        else:
            # Within EDGE of the gap's ends: stored once (asserted above), whichever way it was seen.
            assert call["closed_reason"] in ("hangup", "gap"), (call, exp)
            kind = "edge"
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds.get("resumed", 0) >= 5, kinds
    # The evidence of a resumed call runs from its first message, before the restart (checkpointed
    # with it), to its hang-up after it.
    for call_id, evidence in (await asyncio.to_thread(read_evidence, slamon.db, resumed)).items():
        assert evidence[0].kind == "Newchannel" and evidence[-1].kind == "Hangup", call_id
        assert evidence[0].t < g0 < g1 < evidence[-1].t, call_id
        assert not any(g0 < e.t < g1 for e in evidence), call_id
    assert kinds.get("before", 0) >= 5 and kinds.get("after", 0) >= 5, kinds
    print(f"\n{sig.name}: gap {g1 - g0:.2f} s, calls by how seen: {kinds}, never seen: {len(missing)}")


async def test_sigterm_under_traffic_checkpoints_live_calls_and_resumes_them(tmp_path: Path) -> None:
    await run_restart(tmp_path, signal.SIGTERM, seed=11)


async def test_sigkill_under_traffic_loses_nothing_and_counts_nothing_twice(tmp_path: Path) -> None:
    await run_restart(tmp_path, signal.SIGKILL, seed=12)
