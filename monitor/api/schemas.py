"""Public response schemas of the calls, inquiries and breaches resources (never table rows).

Instants: call records keep epoch seconds (CONTRACTS section 4, as ``slamon replay`` prints them);
inquiries and breaches use ISO 8601 with the site's local offset (section 5 and 8).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SlaResult = Literal["met", "breached", "n/a"]
Outcome = Literal["answered", "abandoned", "missed", "voicemail", "after_hours", "failed"]
Direction = Literal["inbound", "outbound", "internal"]
InquiryKind = Literal["internet_inquiry", "written"]
InquiryStatus = Literal["open", "met", "breached"]


class ErrorPublic(BaseModel):
    detail: str = Field(description="What was wrong, in words.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "bearer token required"}]})


class LegPublic(BaseModel):
    agent: str
    ring_s: float = Field(description="DialBegin to DialEnd of this leg, seconds.")
    reached_ringing: bool = Field(description="False when the phone never reached Ringing.")
    answered: bool
    status: str = Field(description="The DialEnd status, e.g. ANSWER, NOANSWER, BUSY.")


class HoldPublic(BaseModel):
    start: float
    end: float
    s: float
    by: str = Field(description="The advisor who put the caller on hold.")


class TransferPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    kind: str = Field(description="blind or attended")
    from_: str = Field(alias="from")
    to: str
    at: float


class CallSlaPublic(BaseModel):
    answer_rings: SlaResult = "n/a"
    hold: SlaResult = "n/a"
    abandon: SlaResult = "n/a"


_CALL_EXAMPLE: dict[str, Any] = {
    "call_id": "1795498999.0",
    "site": "detroit",
    "direction": "inbound",
    "caller": "+1313555****",
    "dialed": "600",
    "queue": "service",
    "arrived_at": 1795498998.93,
    "answered_at": 1795499012.56,
    "ended_at": 1795499020.84,
    "outcome": "answered",
    "answered_by": "201",
    "time_to_answer_s": 13.63,
    "rings_to_answer": 3,
    "queue_wait_s": 12.01,
    "legs": [
        {"agent": "201", "ring_s": 12.01, "reached_ringing": True, "answered": True, "status": "ANSWER"}
    ],
    "holds": [],
    "hold_total_s": 0.0,
    "hold_max_s": 0.0,
    "talk_s": 8.28,
    "transfers": [],
    "sla": {"answer_rings": "met", "hold": "met", "abandon": "n/a"},
    "policy_version": "2026-11-25.1",
    "approximate": False,
    "closed_reason": "hangup",
}


class CallPublic(BaseModel):
    """One customer call as measured (CONTRACTS section 4); the caller's number is masked."""

    model_config = ConfigDict(json_schema_extra={"examples": [_CALL_EXAMPLE]})

    call_id: str = Field(description="The Linkedid of the call; unique per site.")
    site: str
    direction: Direction
    caller: str = Field(description="The caller's number, masked (last digits hidden).")
    dialed: str
    queue: str | None
    arrived_at: float = Field(description="Epoch seconds: the caller's channel appeared.")
    answered_at: float | None = Field(description="Epoch seconds: the first moment a person answered.")
    ended_at: float
    outcome: Outcome
    answered_by: str | None
    time_to_answer_s: float | None
    rings_to_answer: int | None
    queue_wait_s: float | None
    legs: list[LegPublic]
    holds: list[HoldPublic]
    hold_total_s: float
    hold_max_s: float
    talk_s: float
    transfers: list[TransferPublic]
    sla: CallSlaPublic
    policy_version: str
    approximate: bool = Field(False, description="Start or end not observed (resync after a gap).")
    closed_reason: str = Field(
        "hangup",
        description=(
            "hangup; stale (silent too long); gap (ended unseen while disconnected or while slamon was "
            "down, at the gap's start); pbx_restart (dropped by a PBX reboot, at the gap's start); "
            "end_of_capture (slamon replay); shutdown (only in records stored before restarts "
            "checkpointed calls in progress)"
        ),
    )


class CallPagePublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_CALL_EXAMPLE], "next_cursor": None}]}
    )

    items: list[CallPublic]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")


class EvidencePublic(BaseModel):
    t: float = Field(description="Epoch seconds of the source event.")
    kind: str = Field(description="The AMI event name.")
    sha256: str = Field(description="SHA-256 (hex) of raw, to check a copy of the evidence.")
    raw: str = Field(description="The AMI event text as received, numbers and names masked.")


class CallDetailPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "call": _CALL_EXAMPLE,
                    "evidence": [
                        {
                            "t": 1795498998.93,
                            "kind": "Newchannel",
                            "sha256": "9f2b5c0d4c3e8a1f0b7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a2918",
                            "raw": "Event: Newchannel\r\nChannel: PJSIP/trunk-00000001\r\n"
                            "CallerIDNum: +1313555****\r\nLinkedid: 1795498999.0",
                        }
                    ],
                }
            ]
        }
    )

    call: CallPublic
    evidence: list[EvidencePublic] = Field(description="The source events the figures came from, in order.")


class InquiryEvidencePublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    role: str = Field(description="opened, reply, call_reply, auto, follow_up or other")
    at: str | None
    direction: str
    class_: str = Field(alias="class", description="auto or human")
    kind: str
    reasons: list[str]
    folder: str
    uid: int
    message_key_sha256: str = Field(description="SHA-256 of the message's identity key.")
    headers: str = Field(description="The message headers used, addresses masked.")
    headers_sha256: str


_INQUIRY_EXAMPLE: dict[str, Any] = {
    "inquiry_id": "a1b2c3d4e5f60718",
    "site": "detroit",
    "mailbox": "service",
    "kind": "internet_inquiry",
    "customer": "j***@example.com",
    "received_at": "2026-11-24T10:00:00-05:00",
    "first_human_reply_at": "2026-11-24T10:49:58-05:00",
    "reply_via": "email",
    "business_seconds_to_first_human_reply": 2998.0,
    "business_seconds_elapsed": 2998.0,
    "allowance_business_s": 3600.0,
    "deadline_at": "2026-11-24T11:00:00-05:00",
    "status": "met",
    "at_risk": False,
    "auto_replies": 1,
    "requested_contact": None,
    "policy_version": "2026-11-25.1",
    "evaluated_at": "2026-11-24T12:00:00-05:00",
    "evidence": [
        {
            "role": "opened",
            "at": "2026-11-24T10:00:00-05:00",
            "direction": "inbound",
            "class": "human",
            "kind": "human",
            "reasons": ["no automatic markers"],
            "folder": "INBOX",
            "uid": 41,
            "message_key_sha256": "3c9d1f0e2b4a59687786950a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c",
            "headers": "From: j***@example.com\nSubject: [sha256 7d1f...]",
            "headers_sha256": "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
        }
    ],
}


class InquiryPublic(BaseModel):
    """One inquiry by email (CONTRACTS section 5) as last evaluated; instants in the site's offset."""

    model_config = ConfigDict(json_schema_extra={"examples": [_INQUIRY_EXAMPLE]})

    inquiry_id: str
    site: str
    mailbox: str
    kind: InquiryKind
    customer: str | None = Field(description="The customer's address, masked.")
    received_at: str
    first_human_reply_at: str | None
    reply_via: str | None = Field(description="email or phone")
    business_seconds_to_first_human_reply: float | None
    business_seconds_elapsed: float | None = Field(
        description="Business time to the reply, or to the evaluation while unanswered (null when the "
        "site is not configured here)."
    )
    allowance_business_s: float
    deadline_at: str
    status: InquiryStatus = Field(description="As of evaluated_at.")
    at_risk: bool = Field(description="Less than 25 % of the allowance left (stays true once breached).")
    auto_replies: int
    requested_contact: str | None
    policy_version: str
    evaluated_at: str
    evidence: list[InquiryEvidencePublic] = Field(
        description="The messages (and calls) the figures came from."
    )


class InquiryPagePublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_INQUIRY_EXAMPLE], "next_cursor": None}]}
    )

    items: list[InquiryPublic]
    next_cursor: str | None


class BreachCallPublic(BaseModel):
    caller: str = Field(description="Masked.")
    queue: str | None
    answered_by: str | None
    outcome: Outcome
    direction: Direction
    arrived_at: str
    answered_at: str | None
    ended_at: str
    time_to_answer_s: float | None
    rings_to_answer: int | None
    queue_wait_s: float | None
    hold_max_s: float
    waited_s: float | None = Field(description="Arrival to hang-up of an unanswered call.")


class BreachInquiryPublic(BaseModel):
    mailbox: str
    kind: InquiryKind
    customer: str | None = Field(description="Masked.")
    received_at: str
    first_human_reply_at: str | None
    reply_via: str | None
    business_seconds_to_first_human_reply: float | None
    allowance_business_s: float
    deadline_at: str
    status: InquiryStatus


_BREACH_EXAMPLE: dict[str, Any] = {
    "subject_kind": "call",
    "subject_id": "1795499149.8",
    "site": "detroit",
    "standard": "answer_rings",
    "result": "breached",
    "measured": 5.0,
    "threshold": 3.0,
    "unit": "rings",
    "policy_version": "2026-11-25.1",
    "at": "2026-11-24T00:45:50-05:00",
    "evaluated_at": "2026-11-24T00:46:30-05:00",
    "call": {
        "caller": "+1313555****",
        "queue": "service",
        "answered_by": "202",
        "outcome": "answered",
        "direction": "inbound",
        "arrived_at": "2026-11-24T00:45:50-05:00",
        "answered_at": "2026-11-24T00:46:15-05:00",
        "ended_at": "2026-11-24T00:46:30-05:00",
        "time_to_answer_s": 25.63,
        "rings_to_answer": 5,
        "queue_wait_s": 24.01,
        "hold_max_s": 0.0,
        "waited_s": None,
    },
    "inquiry": None,
}


class BreachPublic(BaseModel):
    """A breached standard (the evaluation in force) with its subject's key figures."""

    model_config = ConfigDict(json_schema_extra={"examples": [_BREACH_EXAMPLE]})

    subject_kind: Literal["call", "inquiry"]
    subject_id: str = Field(description="call_id or inquiry_id")
    site: str
    standard: str = Field(description="answer_rings, hold, abandon, first_reply or acknowledge")
    result: Literal["breached"]
    measured: float | None = Field(description="In the standard's unit; null when not measurable.")
    threshold: float | None
    unit: str | None = Field(description="rings, s or business_s")
    policy_version: str
    at: str = Field(description="When the subject started (call arrived, inquiry received).")
    evaluated_at: str
    call: BreachCallPublic | None
    inquiry: BreachInquiryPublic | None


class BreachPagePublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_BREACH_EXAMPLE], "next_cursor": None}]}
    )

    items: list[BreachPublic]
    next_cursor: str | None
