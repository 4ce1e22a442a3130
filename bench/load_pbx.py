"""The PBX side of ``bench/load.py``: N simulated PBXs (AmiSimulator over TCP, synthetic traffic with
ground truth) in a child process, so the daemon under test keeps a core of its own.

Pacing is done here rather than by the simulator: every event of every site goes out at
``w0 + (t - t0) / speed`` on the wall clock, with one ``w0`` for all sites (set by the parent once the
daemon is connected to all of them). Each event's ``Timestamp:`` stays its simulated time, so the
daemon measures calls in simulated seconds; the wall clock at the moment the event is handed to the
simulator's socket travels in an extra ``X-Sent:`` header, from which the parent measures lag.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized

from adapters.asterisk.simulator import AmiSimulator
from adapters.asterisk.synthetic import Dist, ExpectedCall, TrafficGenerator, TrafficProfile

SECRET = "load-bench-secret"
SENT_HEADER = "X-Sent"
WINDOW_S = 5.0
AGENTS = tuple(str(201 + i) for i in range(12))


def profile(calls_per_hour: float) -> TrafficProfile:
    """One dealership of the group: 12 advisors, talk time stretched so a call lasts ~72 s on average
    (500 calls/h x 72 s / 3600 = 10 calls in progress per site, 200 over 20 sites)."""
    return TrafficProfile(
        calls_per_hour=calls_per_hour,
        agents=AGENTS,
        agent_names=tuple(f"Advisor {a}" for a in AGENTS),
        talk=Dist(median=52.0, sigma=0.8, lo=4.0, hi=900.0),
    )


@dataclass(frozen=True)
class Truth:
    """What the stored record must say about one generated call."""

    call_id: str
    direction: str
    outcome: str
    answered_by: str | None
    time_to_answer_s: float | None


def truth(exp: ExpectedCall) -> Truth:
    # Same mapping as tests/integration/test_synthetic_tracking.py: the night route is recorded as
    # after_hours, an outbound call nobody picked up as missed.
    outcome: str = exp.outcome
    if exp.scenario == "after_hours":
        outcome = "after_hours"
    elif exp.direction == "outbound" and exp.outcome == "failed":
        outcome = "missed"
    inbound = exp.direction == "inbound"
    tta = exp.answered_at - exp.arrived_at if inbound and exp.answered_at is not None else None
    return Truth(exp.call_id, exp.direction, outcome, exp.answered_by if inbound else None, tta)


@dataclass
class Lateness:
    """How far behind its schedule the PBX side fell (seconds): separates a starved simulator from a
    slow daemon when lag is high."""

    events: int = 0
    late_over_100ms: int = 0
    max_s: float = 0.0
    last_sent: float = 0.0
    sent_per_window: dict[int, int] = field(default_factory=dict)  # events by 5-s window of send time


@dataclass
class PbxResult:
    truth: list[list[Truth]] = field(default_factory=list)  # per site
    messages_sent: int = 0
    first_sent: float = 0.0
    last_sent: float = 0.0
    last_event_t: float = 0.0
    late: Lateness = field(default_factory=Lateness)


def sim_clock(t0: float, w0: Synchronized[float], speed: float) -> Callable[[], float]:
    """The simulated wall clock shared by both processes: frozen at ``t0`` until traffic starts."""

    def now() -> float:
        start = w0.value
        return t0 if not start else t0 + max(0.0, time.time() - start) * speed

    return now


def schedule(speed: float, ramp: tuple[float, float, float] | None) -> Callable[[float], float | None]:
    """Wall seconds after ``w0`` at which the event ``tau`` simulated seconds in goes out; None: stop.

    Constant ``speed``; or a ramp (s0, s1, duration): the speed rises linearly from s0 to s1 over
    ``duration`` wall seconds (simulated time covered: tau(w) = s0 w + k w^2 / 2), then traffic stops."""
    if ramp is None:
        return lambda tau: tau / speed
    s0, s1, duration = ramp
    k = (s1 - s0) / duration

    def warp(tau: float) -> float | None:
        w = (math.sqrt(s0 * s0 + 2 * k * tau) - s0) / k if k else tau / s0
        return None if w > duration else w

    return warp


async def _paced(
    items: Iterator[tuple[float, str]],
    t0: float,
    w0: Synchronized[float],
    when: Callable[[float], float | None],
    late: Lateness,
) -> AsyncIterator[tuple[float, str]]:
    while not w0.value:
        await asyncio.sleep(0.02)
    start = w0.value
    for t, raw in items:
        offset = when(t - t0)
        if offset is None:
            return
        due = start + offset
        now = time.time()
        if due > now:
            await asyncio.sleep(due - now)
            now = time.time()
        behind = now - due
        late.events += 1
        late.late_over_100ms += behind > 0.1
        late.max_s = max(late.max_s, behind)
        late.last_sent = now
        window = int((now - start) // WINDOW_S)  # by actual send time, as the lag windows
        late.sent_per_window[window] = late.sent_per_window.get(window, 0) + 1
        # raw ends with the blank line; the simulator sends it right after this yield (batched
        # only until its player next waits), so this is the send time within a loop iteration.
        yield t, f"{raw[:-2]}{SENT_HEADER}: {now:.6f}\r\n\r\n"


@dataclass(frozen=True)
class Plan:
    sites: int
    calls_per_site: int  # ignored with a ramp: traffic runs until the ramp ends
    calls_per_hour: float  # per site, simulated
    speed: float
    seed: int
    ramp: tuple[float, float, float] | None = None


async def _run(plan: Plan, t0: float, w0: Synchronized[float], conn: Connection) -> None:
    result = PbxResult()
    gens, sims = [], []
    clock = sim_clock(t0, w0, plan.speed)
    when = schedule(plan.speed, plan.ramp)
    for i in range(plan.sites):
        gen = TrafficGenerator(profile(plan.calls_per_hour), seed=plan.seed + 7919 * i, start=t0)
        calls = gen.calls(None if plan.ramp else plan.calls_per_site)
        items = _paced(calls, t0, w0, when, result.late)
        sim = AmiSimulator(items, secret=SECRET, speed=0, clock=clock, wait_for_clients=1)
        await sim.start()
        gens.append(gen)
        sims.append(sim)
    conn.send([sim.port for sim in sims])
    await asyncio.gather(*(sim.finished.wait() for sim in sims))
    if plan.ramp is None:  # a ramp cuts calls off: no ground truth to compare with
        result.truth = [[truth(exp) for exp in gen.expected] for gen in gens]
    result.messages_sent = sum(sim.messages_sent for sim in sims)
    result.first_sent, result.last_sent = w0.value, result.late.last_sent
    result.last_event_t = max(sim.sim_now() for sim in sims)
    conn.send(result)
    # Keep the connections open until the parent has stopped the daemon: a PBX that went away would
    # be a monitoring gap, not what this benchmark measures.
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    await asyncio.gather(*(sim.close() for sim in sims))


def pbx_main(plan: Plan, t0: float, w0: Synchronized[float], conn: Connection) -> None:
    asyncio.run(_run(plan, t0, w0, conn))
