"""Domain view of service-mailbox messages: what the email adapter hands to the inquiry tracker.

PBX- and IMAP-neutral: ``adapters/imap`` parses MIME, classifies automatic mail and decides the
direction; the domain threads conversations, opens inquiries and measures business time.
Addresses here are in memory only; the store keeps them keyed (HMAC) and masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MailDirection = Literal["inbound", "outbound"]
MailClass = Literal["auto", "human"]
MailKind = Literal["human", "lead", "ooo", "autoreply", "bounce", "receipt", "list", "notification"]
ContactMethod = Literal["phone", "email", "sms"]


@dataclass(frozen=True, slots=True)
class Classification:
    cls: MailClass
    kind: MailKind
    reasons: tuple[str, ...]  # every decision carries its reasons, e.g. "Auto-Submitted: auto-replied"

    @property
    def is_human(self) -> bool:
        return self.cls == "human"


@dataclass(frozen=True, slots=True)
class MailSeen:
    """One message found in a watched folder (inbox, Sent, extra folders)."""

    site: str
    mailbox: str  # the configured mailbox name (a label value: bounded, never an address)
    folder: str
    uid: int
    uidvalidity: int
    message_key: str  # de-duplication key: normalised Message-ID, else a hash of stable headers
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    thread_index: str | None  # Outlook Thread-Index conversation root (base64 of its first 22 bytes)
    subject: str  # decoded
    normalized_subject: str  # prefixes (Re:, AW:, RES:, ...) and whitespace removed, casefolded
    from_address: str  # lower-cased addr-spec
    to_addresses: tuple[str, ...]
    customer_address: str | None  # inbound: the customer (Reply-To or ADF for leads); outbound: the recipient
    customer_phone: str | None  # from a lead form / ADF, when given
    date: float | None  # the Date header (epoch), None when missing or unparsable
    received_at: float  # the server's INTERNALDATE (epoch)
    direction: MailDirection
    classification: Classification
    requested_contact: ContactMethod | None  # what the customer asked for, when detectable
    evidence_headers: str  # the headers the decisions were made from, addresses masked
