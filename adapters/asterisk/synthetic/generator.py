"""TrafficGenerator: Poisson arrivals of a scenario mix, run concurrently on one simulated PBX."""

from __future__ import annotations

import random
from collections.abc import Iterator

from adapters.asterisk.synthetic.ctx import CallCtx
from adapters.asterisk.synthetic.desk import internal_call, outbound_call
from adapters.asterisk.synthetic.direct import after_hours_call, direct_call
from adapters.asterisk.synthetic.expected import Direction, ExpectedCall
from adapters.asterisk.synthetic.pbx import Member, Pbx
from adapters.asterisk.synthetic.profile import TrafficProfile
from adapters.asterisk.synthetic.queue_call import queue_call
from adapters.asterisk.synthetic.sim import Proc, Sim

_FIRST = (
    "Dana",
    "Evan",
    "Fran",
    "Gail",
    "Ivy",
    "Jack",
    "Olga",
    "Pete",
    "Rosa",
    "Sam",
    "Tara",
    "Vic",
    "Wes",
    "Zoe",
)
_LAST = (
    "Driver",
    "Owner",
    "Fleet",
    "Grant",
    "Iris",
    "Jones",
    "Ortiz",
    "Park",
    "Reyes",
    "Stone",
    "Nguyen",
    "Kowalski",
)
_AREAS = ("313", "248", "586", "734")


class TrafficGenerator:
    """Realistic dealership phone traffic as AMI messages, plus the ground truth of every call.

    ``calls()`` yields ``(t, raw)`` exactly like the capture jsonl lines (without the banner, login
    response and logoff, which belong to the AMI session, not to the traffic). Same profile, seed
    and start give byte-identical output.

    Uniqueids are ``<epoch second of the channel's creation>.<sequence since boot>``, as Asterisk makes
    them. ``booted_at`` is when this PBX started (default: an hour before ``start``, advisors logged in
    since); ``first_uniqueid_seq`` how many channels it created before ``start``. A generator with a
    later ``booted_at`` and ``first_uniqueid_seq=0`` is the same PBX after a restart: the sequence
    starts again, the epoch part tells the ids apart.
    """

    def __init__(
        self,
        profile: TrafficProfile,
        *,
        seed: int,
        start: float,
        first_uniqueid_seq: int = 0,
        booted_at: float | None = None,
    ) -> None:
        self.profile = profile
        self.expected: list[ExpectedCall] = []
        self._rng = random.Random(seed)
        self._sim = Sim(start, random.Random(seed + 1))
        self.booted_at = start - 3600.0 if booted_at is None else booted_at
        if self.booted_at > start:
            raise ValueError("the PBX cannot carry calls before it booted")
        self._pbx = Pbx(profile, seed, start, first_uniqueid_seq, login=int(self.booted_at))
        self._started = False

    def calls(self, n: int | None = None) -> Iterator[tuple[float, str]]:
        """Merged, time-ordered messages of ``n`` calls (all of them run to their end), or endless."""
        if self._started:
            raise RuntimeError("calls() can be iterated once per TrafficGenerator")
        self._started = True
        self._sim.spawn(self._arrivals(n), self._sim.timeline())
        return self._sim.run()

    def _arrivals(self, n: int | None) -> Proc:
        rate = self.profile.calls_per_hour / 3600.0
        count = 0
        yield self._rng.uniform(0.2, 1.0)
        while n is None or count < n:
            self._start_call()
            count += 1
            if n is not None and count >= n:
                return
            yield self._rng.expovariate(rate)

    def _start_call(self) -> None:
        p, rng, pbx = self.profile, self._rng, self._pbx
        now = self._sim.now
        call_rng = random.Random(rng.getrandbits(64))
        r = rng.random()
        idle = [m for m in pbx.members.values() if m.free and not m.offline(now)]
        number = f"+1{rng.choice(_AREAS)}555{rng.randrange(10000):04d}"
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        carrier = rng.choices(p.carriers, weights=p.carrier_weights)[0]
        cut = p.p_after_hours
        if r < cut:
            self._launch(
                call_rng,
                "after_hours",
                "inbound",
                number,
                p.service_number,
                after_hours_call,
                carrier,
                number,
                name,
            )
            return
        cut += p.p_outbound
        if r < cut and idle:
            src = rng.choice(idle)
            self._launch(
                call_rng, "outbound", "outbound", src.ext, number, outbound_call, src, number, carrier
            )
            return
        cut += p.p_internal
        if r < cut and idle and len(pbx.members) > 1:
            src = rng.choice(idle)
            dst = rng.choice([m for m in pbx.members.values() if m is not src])
            self._launch(call_rng, "internal", "internal", src.ext, dst.ext, internal_call, src, dst)
            return
        cut += p.p_direct_dial
        if r < cut:
            member: Member = rng.choice(list(pbx.members.values()))
            self._launch(
                call_rng, "direct", "inbound", number, member.ext, direct_call, carrier, number, name, member
            )
            return
        self._launch(
            call_rng, "queue", "inbound", number, p.service_number, queue_call, carrier, number, name
        )

    def _launch(
        self,
        rng: random.Random,
        scenario: str,
        direction: Direction,
        caller_number: str,
        dialed: str,
        flow: object,
        *args: object,
    ) -> None:
        truth = ExpectedCall(
            call_id="",
            caller_number=caller_number,
            dialed=dialed,
            direction=direction,
            scenario=scenario,
            arrived_at=self._sim.now,
        )
        self.expected.append(truth)
        tl = self._sim.timeline()
        ctx = CallCtx(self._pbx, tl, rng, truth)
        assert callable(flow)
        proc: Proc = flow(ctx, *args)
        tl.spawn(proc)
