"""Tiny discrete-event scheduler: every call is a generator that yields how long it waits.

Calls run as coroutines in simulated time, so shared PBX state (which advisor is ringing, who is
busy, how many callers wait in the queue) is always read at the moment a real PBX would read it.
Messages go through a heap and are released only once no coroutine can still emit an earlier one,
which keeps the merged stream strictly time-ordered.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Generator, Iterator

Proc = Generator[float, None, None]


class Timeline:
    """Emission cursor of one call: its messages never go back in time, even across coroutines."""

    __slots__ = ("cursor", "sim")

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.cursor = sim.now

    def emit(self, raw: str) -> float:
        # Asterisk writes a burst of events for one state change within a fraction of a millisecond.
        t = max(self.cursor, self.sim.now) + self.sim.rng.random() * 0.00025
        self.cursor = t
        heapq.heappush(self.sim.out, (t, next(self.sim.seq), raw))
        return t

    def spawn(self, proc: Proc, delay: float = 0.0) -> None:
        self.sim.spawn(proc, self, delay)


class Sim:
    def __init__(self, start: float, rng: random.Random) -> None:
        self.now = start
        self.rng = rng
        self.seq = itertools.count()
        self.out: list[tuple[float, int, str]] = []
        self._procs: list[tuple[float, int, Proc, Timeline]] = []

    def timeline(self) -> Timeline:
        return Timeline(self)

    def spawn(self, proc: Proc, tl: Timeline, delay: float = 0.0) -> None:
        wake = max(tl.cursor, self.now) + delay
        heapq.heappush(self._procs, (wake, next(self.seq), proc, tl))

    def run(self) -> Iterator[tuple[float, str]]:
        procs, out = self._procs, self.out
        while procs:
            wake, _, proc, tl = heapq.heappop(procs)
            # Nothing can be emitted before `wake` any more: release what is older.
            while out and out[0][0] <= wake:
                t, _, raw = heapq.heappop(out)
                yield t, raw
            self.now = wake
            if tl.cursor < wake:
                tl.cursor = wake
            try:
                delay = next(proc)
            except StopIteration:
                continue
            heapq.heappush(procs, (tl.cursor + max(delay, 0.0), next(self.seq), proc, tl))
        while out:
            t, _, raw = heapq.heappop(out)
            yield t, raw
