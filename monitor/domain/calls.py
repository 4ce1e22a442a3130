"""The call record: the measured result for one customer call (CONTRACTS section 4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["answered", "abandoned", "missed", "voicemail", "after_hours", "failed"]
Direction = Literal["inbound", "outbound", "internal"]
SlaResult = Literal["met", "breached", "n/a"]


@dataclass(slots=True)
class Leg:
    agent: str
    channel_id: str
    began_at: float
    ended_at: float | None = None
    ringing_at: float | None = None
    answered_at: float | None = None
    status: str = ""
    queue: str | None = None

    @property
    def reached_ringing(self) -> bool:
        return self.ringing_at is not None or self.answered_at is not None

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    @property
    def ring_s(self) -> float:
        end = self.answered_at if self.answered_at is not None else self.ended_at
        return round(max(0.0, (end if end is not None else self.began_at) - self.began_at), 3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "ring_s": self.ring_s,
            "reached_ringing": self.reached_ringing,
            "answered": self.answered,
            "status": self.status,
        }


@dataclass(slots=True)
class Hold:
    start: float
    end: float
    by: str

    @property
    def s(self) -> float:
        return round(self.end - self.start, 3)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "s": self.s, "by": self.by}


@dataclass(slots=True)
class Transfer:
    kind: str
    from_agent: str
    to: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "from": self.from_agent, "to": self.to, "at": self.at}


@dataclass(slots=True)
class CallRecord:
    call_id: str
    site: str
    direction: Direction
    caller: str  # masked for display, never the full number
    caller_key: str  # HMAC of the normalised number (for matching, never reversible)
    dialed: str
    queue: str | None
    arrived_at: float
    answered_at: float | None
    ended_at: float
    outcome: Outcome
    answered_by: str | None
    queue_wait_s: float | None
    rings_to_answer: int | None
    legs: list[Leg] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    talk_s: float = 0.0
    sla: dict[str, SlaResult] = field(default_factory=dict)
    policy_version: str = ""
    approximate: bool = False  # start or end not observed (resync after a gap, stale close)
    closed_reason: str = "hangup"  # hangup | stale | gap | pbx_restart | end_of_capture (| shutdown: old)

    @property
    def time_to_answer_s(self) -> float | None:
        if self.answered_at is None:
            return None
        return round(self.answered_at - self.arrived_at, 3)

    @property
    def hold_total_s(self) -> float:
        return round(sum((h.end - h.start for h in self.holds), 0.0), 3)

    @property
    def hold_max_s(self) -> float:
        return round(max((h.end - h.start for h in self.holds), default=0.0), 3)

    @property
    def is_customer_call(self) -> bool:
        return self.direction == "inbound"

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON shape (CONTRACTS section 4) plus a few documented extras."""
        return {
            "call_id": self.call_id,
            "site": self.site,
            "direction": self.direction,
            "caller": self.caller,
            "dialed": self.dialed,
            "queue": self.queue,
            "arrived_at": round(self.arrived_at, 3),
            "answered_at": None if self.answered_at is None else round(self.answered_at, 3),
            "ended_at": round(self.ended_at, 3),
            "outcome": self.outcome,
            "answered_by": self.answered_by,
            "time_to_answer_s": self.time_to_answer_s,
            "rings_to_answer": self.rings_to_answer,
            "queue_wait_s": self.queue_wait_s,
            "legs": [leg.to_dict() for leg in self.legs],
            "holds": [h.to_dict() for h in self.holds],
            "hold_total_s": self.hold_total_s,
            "hold_max_s": self.hold_max_s,
            "talk_s": self.talk_s,
            "transfers": [t.to_dict() for t in self.transfers],
            "sla": dict(self.sla),
            "policy_version": self.policy_version,
            "approximate": self.approximate,
            "closed_reason": self.closed_reason,
        }


@dataclass(frozen=True, slots=True)
class Evidence:
    """One source message a call's figures were computed from (e.g. the raw AMI event text)."""

    t: float
    kind: str  # e.g. the AMI event name
    raw: str


@dataclass(slots=True)
class CompletedCall:
    """What the tracker hands to the store when a call ends: the record and its evidence."""

    record: CallRecord
    evidence: list[Evidence] = field(default_factory=list)
