"""Customer inquiries by email: when one opens, what counts as the first human reply, and how much
business time it took (CONTRACTS section 5 and section 8).

Rules, in one place:
- An inquiry opens on the first inbound human (or lead) message of a conversation. Follow-ups in the
  same conversation never open another inquiry nor restart the clock; automatic messages (either
  direction, incl. the dealer's own "we received your request") never open, stop or pause it.
- Received time = the server's arrival time (IMAP INTERNALDATE) of that inbound message.
- The first human reply is the first outbound, non-automatic message of the conversation after the
  inquiry, or, when the customer asked to be called, an answered outbound call from the PBX to the
  customer's number (matched through the HMAC key), whichever is first.
- Reply time = the sent message's ``Date`` header, trusted only when it is within
  ``DATE_TRUST_S`` of the Sent copy's INTERNALDATE (the mail client's clock is then consistent with the
  server's); otherwise the INTERNALDATE. It is never earlier than the inquiry's received time (a reply
  cannot precede what it answers; clock skew is clamped).
- Allowance: internet inquiry ``first_reply_business_s``; written communication
  ``acknowledge_business_days`` x the site's full weekday business length. Met when the business time
  to the reply is <= the allowance; breached as soon as it exceeds it, reply or not; at risk when less
  than 25 % of the allowance is left (and it stays so once breached).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from monitor.domain.calendar import BusinessCalendar
from monitor.domain.calls import CallRecord
from monitor.domain.conversations import Conversation, ConversationIndex
from monitor.domain.mail import MailSeen
from monitor.domain.policy import SlaPolicy

InquiryKind = Literal["internet_inquiry", "written"]
InquiryStatus = Literal["open", "met", "breached"]
DATE_TRUST_S = 300.0
AT_RISK_SHARE = 0.25


@dataclass(frozen=True, slots=True)
class KindRule:
    """Per-sender override of the mailbox's inquiry kind: ``domain`` (``fleet.example``) or the HMAC
    ``key`` of one address (rules are keyed at configuration time like everything else)."""

    kind: InquiryKind
    domain: str = ""
    key: str = ""

    def matches(self, msg: MailSeen) -> bool:
        if self.key:
            return self.key in (msg.customer_key, msg.from_key)
        return bool(self.domain) and msg.from_domain == self.domain.lower().lstrip("@")


@dataclass(frozen=True, slots=True)
class MailboxRules:
    site: str
    mailbox: str
    kind: InquiryKind
    calendar: BusinessCalendar
    policy: SlaPolicy
    kind_rules: tuple[KindRule, ...] = ()

    def kind_for(self, msg: MailSeen) -> InquiryKind:
        for rule in self.kind_rules:
            if rule.matches(msg):
                return rule.kind
        return self.kind

    def allowance_s(self, kind: InquiryKind) -> float:
        if kind == "written":
            return self.policy.acknowledge_business_days * self.calendar.weekday_length_s()
        return self.policy.first_reply_business_s


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    role: str  # opened | reply | call_reply | auto | follow_up | other
    message_key: str
    direction: str
    cls: str
    kind: str
    at: float
    reasons: tuple[str, ...]
    folder: str = ""
    uid: int = 0
    headers: str = ""


@dataclass(frozen=True, slots=True)
class InquiryView:
    """An inquiry as of an evaluation instant."""

    inquiry_id: str
    site: str
    mailbox: str
    kind: InquiryKind
    conversation_id: str
    customer_key: str
    customer_masked: str
    received_at: float
    first_human_reply_at: float | None
    reply_via: str | None  # email | phone
    business_seconds_to_first_human_reply: float | None
    business_seconds_elapsed: float  # to the reply, or to the evaluation instant while open
    allowance_s: float
    deadline_at: datetime
    status: InquiryStatus
    at_risk: bool
    auto_replies: int
    requested_contact: str | None
    policy_version: str
    evaluated_at: float
    evidence: tuple[EvidenceItem, ...] = field(default=())

    @property
    def remaining_s(self) -> float:
        return max(0.0, self.allowance_s - self.business_seconds_elapsed)


class InquiryBook:
    """All conversations of one mailbox and the inquiries they hold."""

    def __init__(self, rules: MailboxRules) -> None:
        self.rules = rules
        self.index = ConversationIndex()
        self._calls_by_key: dict[str, list[float]] = {}  # customer number key -> answered outbound calls

    # --- input ----------------------------------------------------------------------------------
    def add(self, msg: MailSeen) -> bool:
        """Add a message; False when it was already known (the same Message-ID seen again)."""
        known = msg.message_key in self.index
        self.index.add(msg)
        return not known

    def add_call(self, record: CallRecord) -> None:
        """An outbound call the PBX placed: answered ones can be the reply to a "please call me"."""
        if record.direction == "outbound" and record.answered_at is not None and record.caller_key:
            self.add_call_reply(record.caller_key, record.answered_at)

    def add_call_reply(self, customer_number_key: str, answered_at: float) -> None:
        times = self._calls_by_key.setdefault(customer_number_key, [])
        if answered_at not in times:
            times.append(answered_at)

    # --- evaluation -------------------------------------------------------------------------------
    def inquiries(self, at: float) -> list[InquiryView]:
        out = []
        for conversation in self.index.conversations():
            view = self.evaluate(conversation, at)
            if view is not None:
                out.append(view)
        return sorted(out, key=lambda v: (v.received_at, v.inquiry_id))

    def evaluate(self, conversation: Conversation, at: float) -> InquiryView | None:
        messages = conversation.ordered()
        opener = next(
            (
                m
                for m in messages
                if m.direction == "inbound" and m.classification.is_human and m.received_at <= at
            ),
            None,
        )
        if opener is None:
            return None
        rules = self.rules
        kind = rules.kind_for(opener)
        allowance = rules.allowance_s(kind)
        received = opener.received_at
        evidence = [self._evidence("opened", opener)]
        reply_at: float | None = None
        reply_via: str | None = None
        auto_replies = 0
        for msg in messages:
            if msg is opener or msg.received_at > at:
                continue
            if not msg.classification.is_human:
                if msg.received_at >= received:
                    auto_replies += 1
                    evidence.append(self._evidence("auto", msg))
                continue
            if (
                msg.direction == "outbound"
                and reply_at is None
                and msg.received_at >= received - DATE_TRUST_S
            ):
                candidate = max(self._sent_time(msg), received)
                if candidate <= at:
                    reply_at, reply_via = candidate, "email"
                    evidence.append(self._evidence("reply", msg, candidate))
            elif msg.direction == "inbound":
                evidence.append(self._evidence("follow_up", msg))
        if opener.requested_contact == "phone" and opener.customer_phone_key:
            calls = self._calls_by_key.get(opener.customer_phone_key, [])
            call_at = min((t for t in calls if received <= t <= at), default=None)
            if call_at is not None and (reply_at is None or call_at < reply_at):
                reply_at, reply_via = call_at, "phone"
                evidence.append(
                    EvidenceItem(
                        "call_reply",
                        "",
                        "outbound",
                        "human",
                        "call",
                        call_at,
                        ("answered outbound call to the customer's number",),
                    )
                )
        calendar = rules.calendar
        deadline = calendar.deadline(received, allowance)
        if reply_at is not None:
            used = calendar.business_seconds(received, reply_at)
            status: InquiryStatus = "met" if used <= allowance else "breached"
            at_risk = status == "breached"
            to_reply: float | None = used
        else:
            used = calendar.business_seconds(received, at)
            status = "breached" if used > allowance else "open"
            at_risk = status == "breached" or (allowance - used) < AT_RISK_SHARE * allowance
            to_reply = None
        return InquiryView(
            inquiry_id=self._inquiry_id(opener),
            site=rules.site,
            mailbox=rules.mailbox,
            kind=kind,
            conversation_id=conversation.conversation_id,
            customer_key=opener.customer_key or opener.from_key,
            customer_masked=opener.customer_masked or "",
            received_at=received,
            first_human_reply_at=reply_at,
            reply_via=reply_via,
            business_seconds_to_first_human_reply=None if to_reply is None else round(to_reply, 3),
            business_seconds_elapsed=round(used, 3),
            allowance_s=allowance,
            deadline_at=deadline,
            status=status,
            at_risk=at_risk,
            auto_replies=auto_replies,
            requested_contact=opener.requested_contact,
            policy_version=rules.policy.version,
            evaluated_at=at,
            evidence=tuple(sorted(evidence, key=lambda e: e.at)),
        )

    def _inquiry_id(self, opener: MailSeen) -> str:
        digest = hashlib.sha256(
            f"{self.rules.site}\0{self.rules.mailbox}\0{opener.message_key}".encode()
        ).hexdigest()
        return f"inq-{digest[:20]}"

    @staticmethod
    def _sent_time(msg: MailSeen) -> float:
        if msg.date is not None and abs(msg.date - msg.received_at) <= DATE_TRUST_S:
            return msg.date
        return msg.received_at

    @staticmethod
    def _evidence(role: str, msg: MailSeen, at: float | None = None) -> EvidenceItem:
        c = msg.classification
        return EvidenceItem(
            role,
            msg.message_key,
            msg.direction,
            c.cls,
            c.kind,
            msg.received_at if at is None else at,
            c.reasons,
            msg.folder,
            msg.uid,
            msg.evidence_headers,
        )


def summarize(views: Iterable[InquiryView]) -> dict[str, int]:
    counts = {"open": 0, "met": 0, "breached": 0, "at_risk": 0}
    for v in views:
        counts[v.status] += 1
        counts["at_risk"] += int(v.at_risk and v.status == "open")
    return counts
