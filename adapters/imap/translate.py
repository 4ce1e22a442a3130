"""One fetched message -> ``monitor.domain.mail.MailSeen``.

Decides the direction (outbound when From is a dealer address or domain), the customer (leads:
Reply-To or the ADF/form contact; other inbound mail: From; outbound: the first non-dealer
recipient), classifies, and turns every address and phone number into an HMAC key plus a mask
before anything leaves the adapter. Never raises: broken input yields a ``MailSeen`` anyway and
the repairs are returned as defects for counting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.imap.classify import MailAnalysis, analyse
from adapters.imap.mime import MAX_PARSE_BYTES, MimeDefect, ParsedMail, parse_message
from adapters.imap.senders import NOREPLY_LOCALS, domain_of, in_domains, local_part
from adapters.imap.threading import message_key, msg_ids, subject_hash, thread_index_root
from monitor.domain.mail import MailSeen
from monitor.domain.privacy import key_number, key_value, mask_address, mask_number, normalise_number

if TYPE_CHECKING:
    from adapters.imap.fetched import FetchedMessage
    from monitor.config import MailboxSettings

# Headers auditors need to see why a message was classified and threaded as it was. Subjects and
# display names are left out: they carry customers' names (the subject is kept only hashed).
EVIDENCE_HEADERS = (
    "from", "sender", "reply-to", "to", "return-path", "date", "message-id", "in-reply-to",
    "auto-submitted", "precedence", "x-autoreply", "x-autorespond", "x-autoresponder", "x-auto-reply",
    "x-auto-response-suppress", "x-ms-exchange-inbox-rules-loop",
    "x-ms-exchange-generated-message-source", "x-ms-exchange-message-is-ndr", "x-failed-recipients",
    "x-loop", "x-apple-action", "list-id", "list-unsubscribe", "list-post", "x-mailer",
)  # fmt: skip
_ADDRESS_HEADERS = frozenset({"from", "sender", "reply-to", "to", "return-path"})
# The lookbehind starts a match only where a run of address characters starts: without it a 64 KiB
# header of such characters and no "@" was rescanned from every position (quadratic: 12 s a message).
_ADDRESS = re.compile(r"(?<![\w.+'=-])[\w.+'=-]+@[\w-]+(?:\.[\w-]+)+")
MAX_EVIDENCE_VALUE = 200
_NOT_CODE = re.compile(r"[^A-Za-z0-9-]")
_FORWARD = re.compile(r"^\s*(?:fwd?|wg|enc|rv|tr|i|pd|doorst|vs|vb|转发|轉寄|転送)\s*[:：]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MailboxIdentity:
    """The mailbox a message was found in, and who counts as the dealer."""

    site: str
    mailbox: str  # the configured label (never an address)
    dealer_domains: frozenset[str] = frozenset()
    dealer_addresses: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: MailboxSettings) -> MailboxIdentity:
        addresses = {a.strip().lower() for a in settings.dealer_addresses}
        if "@" in settings.username:
            addresses.add(settings.username.strip().lower())  # the mailbox's own account is the dealer
        return cls(
            site=settings.site,
            mailbox=settings.label,
            dealer_domains=frozenset(d.strip().lower().lstrip("@") for d in settings.dealer_domains),
            dealer_addresses=frozenset(addresses),
        )

    def is_dealer(self, address: str) -> bool:
        address = address.lower()
        return address in self.dealer_addresses or in_domains(address, self.dealer_domains) is not None


def _mask_value(value: str) -> str:
    return _ADDRESS.sub(lambda m: mask_address(m.group(0)), value)


def evidence_headers(mail: ParsedMail) -> str:
    """``Name: value`` lines of the decisive headers, addresses masked, display names dropped."""
    lines = [
        f"Content-Type: {mail.content_type}"
        + (f"; report-type={mail.report_type}" if mail.report_type else "")
    ]
    for name in EVIDENCE_HEADERS:
        if name in _ADDRESS_HEADERS:
            raw = mail.raw_header(name)
            if raw is None:
                continue
            addrs = mail.addresses(name)
            value = ", ".join(mask_address(a) for _, a in addrs) if addrs else raw.strip()[:20]
        elif name in ("message-id", "in-reply-to"):
            value = " ".join(f"<{i}>" for i in msg_ids(mail, name))
            if not value:
                continue
        else:
            found = mail.header(name)
            if found is None:
                continue
            value = _mask_value(found)
        lines.append(
            f"{name.title().replace('-Ms-', '-MS-').replace('-Id', '-ID')}: {value[:MAX_EVIDENCE_VALUE]}"
        )
    problems = parse_problems(mail)
    if problems:
        lines.append(f"Parse-Problems: {', '.join(problems)}"[:1000])
    return "\n".join(lines)


def parse_problems(mail: ParsedMail) -> tuple[str, ...]:
    """What the parser had to repair or guess, as short codes (no header values: they can carry
    names), kept with the stored message so an auditor sees why a broken message was read as it was.
    A missing Message-ID is listed because the message is then de-duplicated by a content hash."""
    codes = dict.fromkeys(_NOT_CODE.sub("", d.code)[:40] for d in mail.defects)
    if not msg_ids(mail, "message-id"):
        codes["message-id-missing"] = None
    codes.pop("", None)
    return tuple(codes)


def _customer(
    mail: ParsedMail, analysis: MailAnalysis, outbound: bool, sender: str, mailbox: MailboxIdentity
) -> str | None:
    if outbound:
        for header in ("to", "cc"):
            for _, addr in mail.addresses(header):
                if not mailbox.is_dealer(addr):
                    return addr
        return None
    if analysis.lead is not None:
        if analysis.lead.customer_email:
            return analysis.lead.customer_email
        # a lead robot's own noreply@ would merge every lead into one "customer"
        return None if NOREPLY_LOCALS.match(local_part(sender)) else sender or None
    return sender or None


def translate_parsed(
    mail: ParsedMail,
    *,
    received_at: float,
    folder: str,
    uid: int,
    uidvalidity: int,
    mailbox: MailboxIdentity,
    key: bytes,
) -> MailSeen:
    analysis = analyse(mail)
    sender = next((addr for _, addr in mail.addresses("from")), "")
    # A lead is a customer's inquiry even when the dealer's own website sends it from its domain;
    # an advisor forwarding a lead to a colleague is still the dealer talking.
    website_lead = analysis.classification.kind == "lead" and not _FORWARD.match(mail.subject)
    outbound = bool(sender) and mailbox.is_dealer(sender) and not website_lead
    customer = _customer(mail, analysis, outbound, sender, mailbox)
    phone = None if outbound else analysis.customer_phone
    if phone and len(normalise_number(phone).lstrip("+")) < 7:
        phone = None  # too short to be a customer's number
    ids = msg_ids(mail, "message-id")
    return MailSeen(
        site=mailbox.site,
        mailbox=mailbox.mailbox,
        folder=folder,
        uid=uid,
        uidvalidity=uidvalidity,
        message_key=message_key(mail),
        message_id=ids[0] if ids else None,
        in_reply_to=msg_ids(mail, "in-reply-to"),
        references=msg_ids(mail, "references"),
        thread_index=thread_index_root(mail.header("thread-index")),
        subject_hash=subject_hash(mail.subject),
        from_key=key_value(key, sender),
        from_domain=domain_of(sender) if sender else "",
        customer_key=key_value(key, customer) if customer else None,
        customer_masked=mask_address(customer) if customer else None,
        customer_phone_key=key_number(key, phone) if phone else None,
        customer_phone_masked=mask_number(phone) if phone else None,
        date=mail.date,
        received_at=received_at,
        direction="outbound" if outbound else "inbound",
        classification=analysis.classification,
        requested_contact=None if outbound else analysis.requested_contact,
        evidence_headers=evidence_headers(mail),
    )


def translate_with_defects(
    raw: bytes,
    *,
    received_at: float,
    folder: str,
    uid: int,
    uidvalidity: int,
    mailbox: MailboxIdentity,
    key: bytes,
) -> tuple[MailSeen, tuple[MimeDefect, ...]]:
    """The ``MailSeen`` and the parser's repairs (for a defects counter)."""
    mail = parse_message(raw)
    seen = translate_parsed(
        mail,
        received_at=received_at,
        folder=folder,
        uid=uid,
        uidvalidity=uidvalidity,
        mailbox=mailbox,
        key=key,
    )
    return seen, mail.defects


def translate(
    raw: bytes,
    *,
    received_at: float,
    folder: str,
    uid: int,
    uidvalidity: int,
    mailbox: MailboxIdentity,
    key: bytes,
) -> MailSeen:
    """Raw message bytes plus IMAP INTERNALDATE / folder / UID / UIDVALIDITY -> ``MailSeen``."""
    return translate_with_defects(
        raw,
        received_at=received_at,
        folder=folder,
        uid=uid,
        uidvalidity=uidvalidity,
        mailbox=mailbox,
        key=key,
    )[0]


def translate_fetched(
    fetched: FetchedMessage, mailbox: MailboxIdentity, key: bytes
) -> tuple[MailSeen, tuple[MimeDefect, ...]]:
    """A ``FetchedMessage`` from the IMAP source (header + possibly capped body)."""
    body = fetched.body or b""
    size = len(fetched.header) + len(body)
    # Only the head is parsed: joining a 50 MB body to its header would copy it all for nothing.
    head = fetched.header + body[: max(0, MAX_PARSE_BYTES + 1 - len(fetched.header))]
    mail = parse_message(head, size=size)
    seen = translate_parsed(
        mail,
        received_at=fetched.internaldate,
        folder=fetched.folder,
        uid=fetched.uid,
        uidvalidity=fetched.uidvalidity,
        mailbox=mailbox,
        key=key,
    )
    return seen, mail.defects
