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
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized

from adapters.asterisk.simulator import AmiSimulator
from adapters.asterisk.synthetic import Dist, ExpectedCall, TrafficGenerator, TrafficProfile

SECRET = "load-bench-secret"
SENT_HEADER = "X-Sent"
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


async def _paced(
    items: Iterator[tuple[float, str]], t0: float, w0: Synchronized[float], speed: float, late: Lateness
) -> AsyncIterator[tuple[float, str]]:
    while not w0.value:
        await asyncio.sleep(0.02)
    start = w0.value
    for t, raw in items:
        due = start + (t - t0) / speed
        now = time.time()
        if due > now:
            await asyncio.sleep(due - now)
            now = time.time()
        behind = now - due
        late.events += 1
        late.late_over_100ms += behind > 0.1
        late.max_s = max(late.max_s, behind)
        late.last_sent = now
        # raw ends with the blank line; the simulator sends it right after this yield (batched
        # only until its player next waits), so this is the send time within a loop iteration.
        yield t, f"{raw[:-2]}{SENT_HEADER}: {now:.6f}\r\n\r\n"


async def _run(
    sites: int, calls_per_site: int, calls_per_hour: float, speed: float, t0: float,
    w0: Synchronized[float], conn: Connection, seed: int,
) -> None:  # fmt: skip
    result = PbxResult()
    gens, sims = [], []
    clock = sim_clock(t0, w0, speed)
    for i in range(sites):
        gen = TrafficGenerator(profile(calls_per_hour), seed=seed + 7919 * i, start=t0)
        items = _paced(gen.calls(calls_per_site), t0, w0, speed, result.late)
        sim = AmiSimulator(items, secret=SECRET, speed=0, clock=clock, wait_for_clients=1)
        await sim.start()
        gens.append(gen)
        sims.append(sim)
    conn.send([sim.port for sim in sims])
    await asyncio.gather(*(sim.finished.wait() for sim in sims))
    result.truth = [[truth(exp) for exp in gen.expected] for gen in gens]
    result.messages_sent = sum(sim.messages_sent for sim in sims)
    result.first_sent, result.last_sent = w0.value, result.late.last_sent
    result.last_event_t = max(sim.sim_now() for sim in sims)
    conn.send(result)
    # Keep the connections open until the parent has stopped the daemon: a PBX that went away would
    # be a monitoring gap, not what this benchmark measures.
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    await asyncio.gather(*(sim.close() for sim in sims))


def pbx_main(
    sites: int, calls_per_site: int, calls_per_hour: float, speed: float, t0: float,
    w0: Synchronized[float], conn: Connection, seed: int,
) -> None:  # fmt: skip
    asyncio.run(_run(sites, calls_per_site, calls_per_hour, speed, t0, w0, conn, seed))
