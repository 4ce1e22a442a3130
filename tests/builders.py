"""Builders of domain objects for tests (pseudonymous like the real adapter output)."""

from __future__ import annotations

import hashlib

from monitor.domain.mail import Classification, ContactMethod, MailDirection, MailSeen
from monitor.domain.privacy import key_number, key_value, mask_address

KEY = b"inquiry-test-key-0123456789"
HUMAN = Classification("human", "human", ("no automatic markers",))
LEAD = Classification("human", "lead", ("ADF/XML lead",))
OOO = Classification("auto", "ooo", ("Auto-Submitted: auto-replied",))


def mail(
    key: str,
    at: float,
    *,
    direction: MailDirection = "inbound",
    cls: Classification = HUMAN,
    reply_to: str | None = None,
    subject: str = "Brake noise",
    customer: str = "jane@example.com",
    date: float | None = None,
    contact: ContactMethod | None = None,
    phone: str | None = None,
) -> MailSeen:
    return MailSeen(
        site="detroit",
        mailbox="service",
        folder="INBOX" if direction == "inbound" else "Sent",
        uid=1,
        uidvalidity=1,
        message_key=key,
        message_id=key,
        in_reply_to=(reply_to,) if reply_to else (),
        references=(),
        thread_index=None,
        subject_hash=hashlib.sha256(subject.lower().encode()).hexdigest(),
        from_key=key_value(KEY, customer if direction == "inbound" else "advisor@dealer.example"),
        from_domain=(customer if direction == "inbound" else "advisor@dealer.example").split("@")[1],
        customer_key=key_value(KEY, customer),
        customer_masked=mask_address(customer),
        customer_phone_key=key_number(KEY, phone) if phone else None,
        customer_phone_masked=None,
        date=date,
        received_at=at,
        direction=direction,
        classification=cls,
        requested_contact=contact,
        evidence_headers="",
    )
