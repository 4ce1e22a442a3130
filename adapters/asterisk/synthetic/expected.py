"""Ground truth of every generated call, recorded from the very timestamps the generator emitted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Direction = Literal["inbound", "internal", "outbound"]
Outcome = Literal["answered", "abandoned", "missed", "voicemail", "failed"]


class Leg(NamedTuple):
    """One ring attempt on an advisor phone: ring_s = DialBegin -> DialEnd (ANSWER or final status)."""

    agent: str
    ring_s: float
    reached_ringing: bool  # the phone sent 180 (DialState RINGING); False for an unreachable phone
    answered: bool


class Hold(NamedTuple):
    start: float  # Event: Hold on the advisor channel
    end: float  # Unhold, or MusicOnHoldStop on the caller when an attended transfer completes
    by: str


class Transfer(NamedTuple):
    kind: Literal["blind", "attended"]
    from_agent: str
    to_agent: str
    at: float  # BlindTransfer / AttendedTransfer event time


@dataclass
class ExpectedCall:
    call_id: str  # Linkedid = Uniqueid of the originating channel
    caller_number: str
    dialed: str
    direction: Direction
    scenario: str
    arrived_at: float
    caller_channel: str = ""
    outcome: Outcome = "failed"
    answered_by: str | None = None  # advisor who took the call (outbound: the advisor who placed it)
    answered_at: float | None = None
    queue_wait_s: float | None = None  # QueueCallerJoin -> QueueCallerLeave
    legs: list[Leg] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    # "caller" (the party that placed the call), the other party (advisor extension, or the
    # customer's number on outbound calls), or "pbx" (dialplan Hangup after an unanswered Dial).
    hung_up_by: str | None = None
    ended_at: float | None = None  # Hangup of the originating channel
