"""SLA policy (the dealer network's written standards) and evaluation of a call against it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from monitor.domain.cadence import rings_for
from monitor.domain.calls import CallRecord, SlaResult

CALL_STANDARDS = ("answer_rings", "hold", "abandon")


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    answer_within_rings: int = 3
    max_hold_s: float = 30.0
    first_reply_business_s: float = 3600.0
    acknowledge_business_days: float = 2.0
    version: str = ""

    def content_hash(self) -> str:
        body = {k: v for k, v in asdict(self).items() if k != "version"}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]

    def with_version(self) -> SlaPolicy:
        """A policy always carries a version: the configured one, else one derived from its content,
        so two records evaluated under different thresholds never share a version."""
        if self.version:
            return self
        return SlaPolicy(
            self.answer_within_rings,
            self.max_hold_s,
            self.first_reply_business_s,
            self.acknowledge_business_days,
            f"auto-{self.content_hash()}",
        )


def evaluate_call(record: CallRecord, policy: SlaPolicy, cycle_s: float) -> dict[str, SlaResult]:
    """``met``/``breached``/``n/a`` per call standard.

    - Only inbound customer calls inside business hours are held to the standards; ``after_hours``,
      internal and outbound calls are ``n/a`` throughout.
    - answer_rings: answered by a person within ``answer_within_rings`` ring cycles. An unanswered call
      is breached once the caller was left longer than that allowance (abandoned, missed, voicemail),
      and ``n/a`` if they hung up before the allowance ran out (nobody could have answered in time).
    - hold: every advisor hold <= ``max_hold_s``; ``n/a`` when nobody answered.
    - abandon: ``breached`` when the caller gave up unanswered (``abandoned``/``missed``); otherwise
      ``n/a`` (CONTRACTS section 4 shows ``n/a`` for an answered call; the abandon *rate* comes from
      ``slamon_calls_total{outcome}``).
    """
    na: dict[str, SlaResult] = {s: "n/a" for s in CALL_STANDARDS}
    if record.direction != "inbound" or record.outcome in ("after_hours", "failed"):
        return na
    allowance_s = policy.answer_within_rings * cycle_s
    result = dict(na)
    if record.answered_at is not None:
        rings = record.rings_to_answer
        if rings is None:
            rings = rings_for(record.answered_at - record.arrived_at, cycle_s)
        result["answer_rings"] = "met" if rings <= policy.answer_within_rings else "breached"
        result["hold"] = "breached" if record.hold_max_s > policy.max_hold_s else "met"
    else:
        waited = record.ended_at - record.arrived_at
        result["answer_rings"] = "breached" if waited > allowance_s + 1e-9 else "n/a"
    if record.outcome in ("abandoned", "missed"):
        result["abandon"] = "breached"
    return result
