"""Domain view of service-mailbox messages: what the email adapter hands to the inquiry tracker.

PBX- and IMAP-neutral: ``adapters/imap`` parses MIME, classifies automatic mail and decides the
direction; the domain threads conversations, opens inquiries and measures business time.

Pseudonymous by construction: the adapter turns every address and phone number into an HMAC key
(``monitor.domain.privacy.key_value`` of the lower-cased address / ``key_number``) and a masked form
before building a ``MailSeen``, so the domain and the store never hold a customer's address, and a
stored message rebuilds exactly the same ``MailSeen`` after a restart. Subjects are kept only
normalised and hashed (threading needs equality, not text).
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
    # sha256 hex of the normalised subject (Re:/AW:/RES: prefixes and spaces removed, casefolded); "" if empty
    subject_hash: str
    from_key: str  # HMAC key of the lower-cased From addr-spec
    from_domain: str  # lower-cased domain of From (per-sender kind rules, dealer detection)
    # inbound: the customer (Reply-To or ADF for leads, else From); outbound: the first non-dealer To
    customer_key: str | None
    customer_masked: str | None  # e.g. "j***@example.com"
    customer_phone_key: str | None  # HMAC key (key_number) of a phone number given in a lead form / ADF
    customer_phone_masked: str | None
    date: float | None  # the Date header (epoch), None when missing or unparsable
    received_at: float  # the server's INTERNALDATE (epoch)
    direction: MailDirection
    classification: Classification
    requested_contact: ContactMethod | None  # what the customer asked for, when detectable
    evidence_headers: str  # the headers the decisions were made from, addresses masked
