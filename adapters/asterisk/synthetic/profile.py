"""Traffic profile: arrival rate, scenario mix and the duration distributions of a dealership desk."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Dist:
    """Log-normal duration in seconds (median, sigma), clipped to [lo, hi].

    Log-normal because human reaction and conversation times are right-skewed: most rings are short,
    a few are very long, which is what makes SLA breaches show up.
    """

    median: float
    sigma: float
    lo: float
    hi: float

    def sample(self, rng: random.Random) -> float:
        if self.sigma <= 0:
            return min(max(self.median, self.lo), self.hi)
        value = self.median * math.exp(rng.gauss(0.0, self.sigma))
        return min(max(value, self.lo), self.hi)


@dataclass(frozen=True)
class TrafficProfile:
    calls_per_hour: float = 60.0
    agents: tuple[str, ...] = ("201", "202", "203")
    agent_names: tuple[str, ...] = ("Alice Advisor", "Bob Advisor", "Carol Advisor")
    service_number: str = "600"
    queue: str = "service"
    greeting_s: float = 1.6
    member_timeout_s: float = 15.0
    retry_s: float = 3.0
    queue_timeout_s: float = 120.0  # Queue(service,tT,,,120), then VoiceMail(600)
    dial_timeout_s: float = 20.0  # Dial(SIP/2XX,20)
    outbound_timeout_s: float = 45.0  # advisor gives up on an unanswered outbound call
    # Scenario mix (shares of all calls; the remainder are inbound calls to the service queue).
    p_direct_dial: float = 0.18
    p_internal: float = 0.05
    p_outbound: float = 0.10
    p_after_hours: float = 0.02
    # Behaviour inside a call.
    p_abandon: float = 0.30  # share of callers with finite patience (they hang up after `patience`)
    p_hold: float = 0.20
    p_blind_transfer: float = 0.05
    p_attended_transfer: float = 0.04
    p_voicemail_direct: float = 0.25  # direct-dialled advisor does not pick up at all (a busy one: 486)
    p_member_no_answer: float = 0.06  # queue member lets it ring (away from the desk)
    p_agent_offline: float = 0.03  # share of time an advisor's phone is unreachable
    p_agent_hangs_up: float = 0.4
    p_outbound_answered: float = 0.75
    ring: Dist = Dist(median=6.0, sigma=0.55, lo=1.0, hi=19.5)
    talk: Dist = Dist(median=40.0, sigma=0.8, lo=4.0, hi=900.0)
    hold: Dist = Dist(median=25.0, sigma=0.6, lo=4.0, hi=240.0)
    patience: Dist = Dist(median=25.0, sigma=0.7, lo=4.0, hi=300.0)
    voicemail: Dist = Dist(median=16.0, sigma=0.5, lo=3.0, hi=110.0)
    consult: Dist = Dist(median=12.0, sigma=0.5, lo=3.0, hi=90.0)
    offline_s: Dist = Dist(median=420.0, sigma=0.6, lo=60.0, hi=3600.0)
    rtcp_interval_s: float = 5.0
    carriers: tuple[str, ...] = ("carrier1", "carrier2", "carrier3")
    carrier_weights: tuple[float, ...] = (0.7, 0.2, 0.1)

    def agent_name(self, ext: str) -> str:
        idx = self.agents.index(ext)
        return self.agent_names[idx] if idx < len(self.agent_names) else f"Advisor {ext}"
