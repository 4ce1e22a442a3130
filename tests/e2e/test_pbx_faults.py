"""Faults on the PBX side of the daemon, proven end to end: the AMI simulator over real TCP (through a
fault-injecting proxy where the network misbehaves), the real daemon, the calls and gaps read back
from the store. Complements test_daemon_faults.py (drop mid-call, wrong secret, stall, call at connect).

Where a test plays a capture faster than real time it gives the daemon a clock running at the same
speed and lets events carry no ``Timestamp`` (the daemon stamps them on arrival): the PBX's clock
and the daemon's then agree, as they do in production, and gaps and call times can be compared.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.asterisk.captures import load_jsonl
from adapters.asterisk.framing import AmiParser
from adapters.asterisk.sim_state import event_name
from adapters.asterisk.simulator import AmiSimulator
from adapters.asterisk.synthetic import Dist, TrafficGenerator, TrafficProfile
from adapters.asterisk.translate import TRANSLATORS
from monitor.config import Settings
from monitor.runtime import Daemon
from tests.e2e.faultproxy import FaultProxy
from tests.e2e.test_daemon_captures import daemon_settings, wait_until
from tests.e2e.test_daemon_faults import stored
from tests.ground_truth import expected_calls
from tests.integration.test_replay_captures import check_call
from tests.paths import CAPTURES, scenarios

SPEED = 4.0


def fast_clock(speed: float) -> Callable[[], float]:
    """Wall time, running ``speed`` times faster from now on."""
    base = time.time()
    return lambda: base + (time.time() - base) * speed


def truth(name: str) -> Any:
    [call] = expected_calls(next(s for s in scenarios() if s["name"] == name))
    return call


def capture(name: str) -> list[tuple[float, str]]:
    return load_jsonl(CAPTURES / f"{name}.jsonl")


def linkedid(items: list[tuple[float, str]]) -> str:
    raw = next(raw for _, raw in items if raw.startswith("Event: Newchannel"))
    return raw.split("\r\nUniqueid: ", 1)[1].split("\r\n", 1)[0]


def with_ping(settings: Settings, interval: float) -> Settings:
    pbx = settings.pbx[0].model_copy(update={"ping_interval_s": interval})
    return settings.model_copy(update={"pbx": [pbx]})


class Running:
    """The daemon as a task, stopped (and its sources drained) on exit."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Daemon:
        task = self.task = asyncio.create_task(self.daemon.run())
        await wait_until(lambda: self.daemon.started.is_set() or task.done(), 30, "daemon started")
        assert not task.done(), task.exception()
        return self.daemon

    async def __aexit__(self, *exc: object) -> None:
        self.daemon.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 30)


def inbound(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((c for c in calls if c["direction"] == "inbound"), key=lambda c: c["arrived_at"])


def summary(c: dict[str, Any]) -> tuple[Any, ...]:
    return (c["call_id"], c["outcome"], c["answered_by"], c["approximate"], c["closed_reason"])


# -- a. PBX restart -------------------------------------------------------------------------------
QUEUE_ONLY = TrafficProfile(
    calls_per_hour=1800,
    p_direct_dial=0,
    p_internal=0,
    p_outbound=0,
    p_after_hours=0,
    p_abandon=0,
    p_hold=0,
    p_blind_transfer=0,
    p_attended_transfer=0,
    p_member_no_answer=0,
    p_agent_offline=0,
    ring=Dist(3.0, 0.0, 1.0, 10.0),
    talk=Dist(6.0, 0.0, 1.0, 10.0),
)


async def test_pbx_restart_closes_the_live_call_with_the_gap_and_counts_new_calls_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The PBX crashes mid-call (no Hangup ever comes), refuses connections while it reboots, then
    listens again on the same port with its channel sequence restarted."""
    caplog.set_level(logging.INFO)
    items = capture("b_queue_ring12_answer")
    old_call = linkedid(items)
    first = next(t for t, raw in items if raw.startswith("Event: Newchannel"))
    # The PBX clock a little behind ours (it always is, a bit, on one side or the other).
    shift = time.time() - 600 - first
    sim = AmiSimulator(items, secret="sim-secret", speed=2.0, wait_for_clients=1, time_shift=shift)
    port = await sim.start()
    booted_before = sim.booted_at
    async with Running(Daemon(daemon_settings(tmp_path, port, monkeypatch))) as daemon:
        site = daemon.sites[0]
        tracker = site.service.tracker

        def answered() -> bool:
            call = tracker.live_calls.get(old_call)
            return call is not None and call.person_answered_at() is not None

        await wait_until(answered, 20, "call answered")
        crashed_at = time.time()
        sim.drop_connections()  # the PBX dies: no Hangup, no Shutdown event, the socket just goes
        await sim.close()
        await wait_until(lambda: not site.source.up, 10, "loss noticed")
        await asyncio.sleep(3.0)  # rebooting: connections refused, the daemon retries with backoff
        assert not site.source.up and "connect" in (site.source.client.last_error or "").lower()
        assert old_call in tracker.live_calls  # nothing is known yet about what the PBX did

        reboot = time.time()
        # Real time from here: the new PBX's clock then runs with ours (a fraction behind, as the first
        # event goes out only once the daemon has logged in).
        generator = TrafficGenerator(QUEUE_ONLY, seed=11, start=reboot, booted_at=reboot)
        sim = AmiSimulator(
            generator.calls(3),
            secret="sim-secret",
            port=port,
            speed=1.0,
            wait_for_clients=1,
            booted_at=generator.booted_at,
        )
        assert await sim.start() == port
        try:
            await wait_until(
                lambda: site.source.client.reconnects >= 1, 40, "reconnected to the rebooted PBX"
            )
            await wait_until(lambda: sim.finished.is_set(), 40, "new traffic played")
            await wait_until(lambda: not tracker.live_calls, 20, "calls closed")
        finally:
            await sim.close()
        assert site.source.pbx_restarts == 1
        assert not tracker.knows(old_call)  # closed ids of the previous boot were forgotten
    assert int(booted_before) != int(generator.booted_at)
    calls, gaps = stored(tmp_path)
    assert len(gaps) == 1, "exactly one gap for the whole outage, however many retries"
    [gap] = gaps
    assert gap.source == "ami" and gap.site == "detroit"
    assert gap.start <= crashed_at + 1.0 and gap.end >= reboot  # it covers the outage
    got = inbound(calls)
    expected = [(old_call, "answered", "201", True, "pbx_restart")] + [
        (e.call_id, e.outcome, e.answered_by, False, "hangup") for e in generator.expected
    ]
    assert [summary(c) for c in got] == expected
    assert all(e.outcome == "answered" for e in generator.expected)
    assert got[0]["ended_at"] == pytest.approx(gap.start, abs=0.01)  # closed with the gap, not lost
    for c, e in zip(got[1:], generator.expected, strict=True):
        assert c["arrived_at"] == pytest.approx(e.arrived_at, abs=0.01)
        assert c["answered_at"] == pytest.approx(e.answered_at, abs=0.01)
        assert c["queue_wait_s"] == pytest.approx(e.queue_wait_s, abs=0.01)
        assert c["arrived_at"] > gap.start
    # Uniqueids of the new boot: the sequence starts again at 0, the epoch part is new.
    assert generator.expected[0].call_id.endswith(".0")
    assert daemon.sites[0].service.stats.completed == 4
    assert "restarted" in caplog.text


# -- b. dropped while the customer is on hold -----------------------------------------------------
async def _hold_drop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, drop_after_s: float, back_after_s: float
) -> tuple[dict[str, Any], list[Any], float]:
    """Play c_queue_hold35 through the proxy; ``drop_after_s`` (PBX seconds) into the hold reset the
    connection and keep the daemon out until ``back_after_s`` into the hold. Returns the stored
    call, the gaps and the hold's observed start."""
    items = capture("c_queue_hold35")
    call_id = linkedid(items)
    sim = AmiSimulator(items, secret="sim-secret", speed=SPEED, timestamp_events=False, wait_for_clients=1)
    proxy = FaultProxy(await sim.start())
    port = await proxy.start()
    clock = fast_clock(SPEED)
    daemon = Daemon(daemon_settings(tmp_path, port, monkeypatch), clock=clock)
    try:
        async with Running(daemon):
            site = daemon.sites[0]
            tracker = site.service.tracker

            def hold_start() -> float | None:
                call = tracker.live_calls.get(call_id)
                return None if call is None or call.open_hold is None else call.open_hold.start

            await wait_until(lambda: hold_start() is not None, 30, "customer on hold")
            started = hold_start()
            assert started is not None
            await wait_until(lambda: clock() >= started + drop_after_s, 30, "time to drop")
            proxy.hold_new()
            proxy.reset()
            await wait_until(lambda: clock() >= started + back_after_s, 30, "outage over")
            proxy.release()
            await wait_until(lambda: site.source.client.reconnects >= 1, 20, "reconnected")
            await wait_until(lambda: sim.finished.is_set(), 30, "capture played")
            await wait_until(lambda: not tracker.live_calls, 20, "call closed")
            assert site.service.stats.completed == 1
            assert site.source.pbx_restarts == 0  # same PBX, same boot: nothing closed for a restart
    finally:
        await proxy.close()
        await sim.close()
    calls, gaps = stored(tmp_path)
    [call] = inbound(calls)
    assert summary(call) == (call_id, "answered", "201", True, "hangup")
    return call, gaps, started


async def test_drop_inside_a_hold_keeps_the_hold_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    call, gaps, started = await _hold_drop(tmp_path, monkeypatch, drop_after_s=5.0, back_after_s=12.0)
    [gap] = gaps
    assert started + 4.0 < gap.start < gap.end < started + 35.0  # the gap fell inside the hold
    exp = truth("c_queue_hold35")
    [hold] = call["holds"]
    assert hold["s"] == pytest.approx(exp.holds_s[0], abs=1.0) and hold["by"] == "201"
    assert call["sla"]["hold"] == "breached"  # 35 s > the 30 s standard
    assert call["queue_wait_s"] == pytest.approx(exp.queue_wait_s, abs=1.0)


async def test_drop_over_the_end_of_a_hold_bounds_it_by_the_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Unhold (35 s into the hold) falls in the gap; the reconnect comes before the hang-up (41 s).
    call, gaps, started = await _hold_drop(tmp_path, monkeypatch, drop_after_s=31.0, back_after_s=37.0)
    [gap] = gaps
    exp = truth("c_queue_hold35")
    assert gap.start < started + exp.holds_s[0] < gap.end
    [hold] = call["holds"]
    # Its end was not seen: at the gap's end at the latest (the call is flagged approximate), never
    # stretched to the hang-up 6 s later.
    assert hold["start"] == pytest.approx(started, abs=0.01)
    assert exp.holds_s[0] - 1.0 <= hold["s"] <= gap.end - started + 1.0
    assert hold["end"] < started + exp.holds_s[0] + 5.0
    assert call["approximate"] is True and call["sla"]["hold"] == "breached"


# -- c. half-open TCP -----------------------------------------------------------------------------
async def test_half_open_path_is_detected_within_two_pings_and_the_call_counted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    items = capture("b_queue_ring12_answer")
    call_id = linkedid(items)
    ping = 0.5
    sim = AmiSimulator(items, secret="sim-secret", speed=SPEED, timestamp_events=False, wait_for_clients=1)
    proxy = FaultProxy(await sim.start())
    port = await proxy.start()
    daemon = Daemon(with_ping(daemon_settings(tmp_path, port, monkeypatch), ping), clock=fast_clock(SPEED))
    try:
        async with Running(daemon):
            site = daemon.sites[0]
            tracker = site.service.tracker
            await wait_until(lambda: call_id in tracker.live_calls, 20, "call seen")
            await asyncio.sleep(0.5)
            assert proxy.blackhole() == 1
            cut, cut_at = time.time(), daemon.clock()
            # The reconnect can follow within milliseconds: "down" alone may never be seen by polling.
            client = site.source.client
            await wait_until(lambda: not site.source.up or client.reconnects, 10, "half-open path detected")
            await wait_until(lambda: site.source.up, 10, "reconnected")
            await wait_until(lambda: sim.finished.is_set(), 30, "capture played")
            await wait_until(lambda: not tracker.live_calls, 20, "call closed")
            assert site.service.stats.completed == 1
    finally:
        await proxy.close()
        await sim.close()
    # No byte arrives after the cut: the read deadline (2 pings) or the unanswered Ping ends the session.
    [lost] = [r for r in caplog.records if "session lost" in r.getMessage()]
    detected_s = lost.created - cut
    assert "half-open" in lost.getMessage() and 0 < detected_s < 2 * ping + 1.0, detected_s
    print(f"\nhalf-open path detected {detected_s:.2f} s after the cut (ping interval {ping} s)")
    calls, gaps = stored(tmp_path)
    assert [summary(c) for c in inbound(calls)] == [(call_id, "answered", "201", True, "hangup")]
    # The gap starts at the last bytes read, not when the silence was declared a failure: the
    # events lost in between are inside it.
    [gap] = gaps
    assert gap.start <= cut_at < gap.end
    assert proxy.accepted == 2


# -- d. bad input over the wire, mid-call ---------------------------------------------------------
def _index(items: list[tuple[float, str]], prefix: str) -> int:
    return next(i for i, (_, raw) in enumerate(items) if raw.startswith(prefix))


def unknown_baseline(items: list[tuple[float, str]]) -> int:
    """How many events of the untouched capture the pipeline ignores as of no interest, as the
    simulator plays it (its own FullyBooted instead of the captured one, no responses)."""
    played = [raw for _, raw in items if event_name(raw) not in ("", "FullyBooted")]
    parser = AmiParser()
    messages = parser.feed("".join(played).encode())
    assert parser.parse_errors == 0 and len(messages) + parser.skipped == len(played)
    return 1 + sum(1 for m in messages if m.event not in TRANSLATORS)


async def test_bad_input_mid_call_is_counted_logged_and_costs_no_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    items = capture("c_queue_hold35")
    call_id = linkedid(items)
    baseline = unknown_baseline(items)
    hold, unhold = _index(items, "Event: Hold"), _index(items, "Event: Unhold")
    moh_stop = next(i for i in range(unhold, len(items)) if items[i][1].startswith("Event: MusicOnHoldStop"))
    t = items[hold][0]
    bad = [
        # Garbage lines inside a message: 2 parse errors, the rest of it an event of no known type.
        "Event: \x01\x02garbage\r\n%%% no separator here\r\n\xff\xfe binary junk\r\n\r\n",
        "Event: UserEvent\r\nUserEvent: Blob\r\nData: " + "A" * 10_000 + "\r\n\r\n",  # a line over 8 KiB
        "Event: UserEvent\r\n" + ("Data: " + "B" * 1000 + "\r\n") * 70 + "\r\n",  # a message over 64 KiB
        "Event: FrobnicatorStatus\r\nPrivilege: call,all\r\nState: on\r\n\r\n",  # unknown event type
        "Event: Newstate\r\nPrivilege: call,all\r\nChannel: SIP/201-00000005\r\nChannelStateDesc: Up\r\n\r\n",
    ]
    stream = list(items)
    stream[unhold], stream[moh_stop] = stream[moh_stop], stream[unhold]  # resume reported out of order
    stream[hold + 1 : hold + 1] = [stream[hold]] + [(t, raw) for raw in bad]  # Hold duplicated, then junk
    sim = AmiSimulator(stream, secret="sim-secret", speed=10.0, wait_for_clients=1)
    port = await sim.start()
    try:
        async with Running(Daemon(daemon_settings(tmp_path, port, monkeypatch))) as daemon:
            site = daemon.sites[0]
            await wait_until(lambda: sim.finished.is_set(), 30, "capture played")
            await wait_until(lambda: not site.service.tracker.live_calls, 20, "call closed")
            assert site.source.up and site.source.client.reconnects == 0  # the session survived it all
            async with httpx.AsyncClient(timeout=5.0) as http:
                scraped = (await http.get(f"http://127.0.0.1:{daemon.port}/metrics")).text
            pipeline = site.source.pipeline
            assert site.source.parse_errors == 4
            assert pipeline.stats.unknown_events == baseline + 2
            assert pipeline.rejects.by_reason == {"missing-id": 1}
            assert site.source.client.stats.callback_errors == 0
            assert site.service.tracker.stats.late_events == 0
    finally:
        await sim.close()
    metrics = {
        (s.name, s.labels.get("site")): s.value
        for f in text_string_to_metric_families(scraped)
        for s in f.samples
    }
    assert metrics["slamon_ami_parse_errors_total", "detroit"] == 4
    assert metrics["slamon_ami_unknown_events_total", "detroit"] == baseline + 2
    assert metrics["slamon_ami_rejected_events_total", "detroit"] == 1
    # Each rejection is logged with its reason, never with the content.
    for reason in ("line-without-separator", "missing-id"):
        assert reason in caplog.text
    assert "too-long" in caplog.text or "oversize" in caplog.text
    assert "A" * 100 not in caplog.text and "garbage" not in caplog.text
    calls, gaps = stored(tmp_path)
    assert gaps == []
    [call] = inbound(calls)
    assert summary(call) == (call_id, "answered", "201", False, "hangup")
    check_call(call, truth("c_queue_hold35"))  # ring, answer, queue wait, the one 35 s hold, breach
