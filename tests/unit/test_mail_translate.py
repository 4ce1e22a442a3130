"""Raw message + IMAP position + mailbox -> MailSeen: direction, customer, keys, threading, evidence."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.imap.fetched import FetchedMessage
from adapters.imap.mime import parse_message
from adapters.imap.threading import (
    message_key,
    normalize_msg_id,
    normalize_subject,
    subject_hash,
    thread_index_root,
)
from adapters.imap.translate import MailboxIdentity, translate, translate_fetched, translate_with_defects
from monitor.config import MailboxSettings
from monitor.domain.mail import MailSeen
from monitor.domain.privacy import key_number, key_value
from tests.paths import EMAIL

KEY = b"translate-test-key-0123456789abcdef"
DEALER = MailboxIdentity("detroit", "service", frozenset({"example.com"}), frozenset())


def path(prefix: str) -> Path:
    (found,) = [p for p in EMAIL.glob("*/*.eml") if p.name.startswith(prefix)]
    return found


def seen(prefix: str, mailbox: MailboxIdentity = DEALER, folder: str = "INBOX") -> MailSeen:
    raw = path(prefix).read_bytes()
    return translate(
        raw, received_at=1_710_000_000.0, folder=folder, uid=42, uidvalidity=7, mailbox=mailbox, key=KEY
    )


def test_position_and_mailbox_are_carried() -> None:
    item = seen("204")
    assert (item.site, item.mailbox, item.folder, item.uid, item.uidvalidity) == (
        "detroit",
        "service",
        "INBOX",
        42,
        7,
    )
    assert item.received_at == 1_710_000_000.0
    assert item.date == 1_710_159_262.0  # Mon, 11 Mar 2024 09:14:22 -0300


def test_inbound_customer_is_from() -> None:
    item = seen("204")
    assert item.direction == "inbound"
    assert item.customer_key == key_value(KEY, "joana.ferreira@example.org")
    assert item.customer_masked == "j***@example.org"
    assert item.from_key == key_value(KEY, "joana.ferreira@example.org")
    assert item.from_domain == "example.org"
    assert item.requested_contact == "email"  # "Prefiro ser contactada por e-mail"
    assert item.classification.kind == "human"


def test_outbound_customer_is_first_non_dealer_recipient() -> None:
    item = seen("205", folder="Sent")
    assert item.direction == "outbound"
    assert item.customer_key == key_value(KEY, "joana.ferreira@example.org")
    assert item.requested_contact is None  # only customers ask for a contact method


def test_dealer_addresses_and_subdomains() -> None:
    by_address = MailboxIdentity("detroit", "service", frozenset(), frozenset({"ricardo.costa@example.com"}))
    assert seen("205", by_address).direction == "outbound"
    assert seen("204", by_address).direction == "inbound"
    parent = MailboxIdentity("detroit", "service", frozenset({"prod.example.com"}), frozenset())
    assert parent.is_dealer("advisor@eu.prod.example.com")
    assert not parent.is_dealer("advisor@example.com")
    assert not DEALER.is_dealer("someone@notexample.com")


@pytest.mark.parametrize(
    ("prefix", "customer", "phone"),
    [
        ("201", "maria.alvarez@example.org", "312-555-0134"),  # ADF <customer><contact><email>
        ("202", "kenji.watanabe@example.net", "312-555-0192"),  # ADF attachment, Auto-Submitted
        ("203", "daniel.okafor@example.org", "(312) 555-0147"),  # web form, Reply-To
    ],
)
def test_lead_customer_and_phone(prefix: str, customer: str, phone: str) -> None:
    item = seen(prefix)
    assert (item.classification.cls, item.classification.kind) == ("human", "lead")
    assert item.direction == "inbound"  # 203 comes from the dealer's own website domain
    assert item.customer_key == key_value(KEY, customer)
    assert item.customer_phone_key == key_number(KEY, phone)
    assert item.customer_phone_masked == "312555****"
    assert item.requested_contact == "email"


def test_a_lead_forwarded_by_an_advisor_stays_outbound() -> None:
    raw = path("201").read_bytes().replace(b"DealerWeb Leads <noreply@example.net>", b"a@example.com")

    def direction(data: bytes) -> str:
        item = translate(data, received_at=0.0, folder="Sent", uid=1, uidvalidity=1, mailbox=DEALER, key=KEY)
        return item.direction

    assert direction(raw) == "inbound"  # the website's own domain: still the customer's
    assert direction(raw.replace(b"Subject: ADF Lead", b"Subject: Fwd: ADF Lead")) == "outbound"


def test_auto_mail_is_classified_and_threaded() -> None:
    ooo = seen("206")
    assert (ooo.classification.cls, ooo.classification.kind) == ("auto", "ooo")
    reply, inquiry = seen("205"), seen("204")
    assert reply.in_reply_to == (inquiry.message_id,)
    assert reply.message_id in ooo.in_reply_to and reply.message_id in ooo.references
    assert inquiry.subject_hash == reply.subject_hash == ooo.subject_hash != ""
    assert reply.thread_index is not None and reply.thread_index == ooo.thread_index


def test_evidence_headers_show_decisions_but_no_address() -> None:
    item = seen("206")
    assert "X-MS-Exchange-Inbox-Rules-Loop: j***@example.org" in item.evidence_headers
    assert "X-Auto-Response-Suppress: All" in item.evidence_headers
    assert "From: j***@example.org" in item.evidence_headers
    assert "Joana" not in item.evidence_headers  # display names and subjects stay out
    lead = seen("202")
    assert "Auto-Submitted: auto-generated" in lead.evidence_headers
    assert "Kenji" not in lead.evidence_headers


ADDRESS = re.compile(r"[\w.+'=-]+@[\w-]+(?:\.[\w-]+)+")


@pytest.mark.parametrize("eml", sorted(EMAIL.glob("*/*.eml")), ids=lambda p: p.name)
def test_no_plain_address_leaves_the_adapter(eml: Path) -> None:
    raw = eml.read_bytes()
    item = translate(raw, received_at=0.0, folder="INBOX", uid=1, uidvalidity=1, mailbox=DEALER, key=KEY)
    mail = parse_message(raw)
    people = {a for name in ("from", "to", "cc", "reply-to") for _, a in mail.addresses(name)}
    ids = {item.message_id, *item.in_reply_to, *item.references}
    for f in fields(item):
        if f.name in ("message_id", "message_key", "in_reply_to", "references", "classification"):
            continue
        text = str(getattr(item, f.name))
        leaked = {a for a in ADDRESS.findall(text) if a.lower() in people and a not in ids}
        assert not leaked, f.name
    assert all(
        "@" not in reason or "@ (" in reason or "@)" in reason for reason in item.classification.reasons
    )


def test_defects_are_returned_for_counting() -> None:
    raw = path("079").read_bytes()
    item, defects = translate_with_defects(
        raw, received_at=0.0, folder="INBOX", uid=1, uidvalidity=1, mailbox=DEALER, key=KEY
    )
    assert item.classification.cls == "human"
    assert {"header-8bit", "charset-missing"} <= {d.code for d in defects}


def test_fetched_message_header_and_body_are_joined() -> None:
    raw = path("203").read_bytes()
    split = re.search(rb"\r?\n\r?\n", raw).end()  # type: ignore[union-attr]
    fetched = FetchedMessage(
        site="detroit",
        mailbox="service",
        folder="INBOX",
        uid=9,
        uidvalidity=3,
        internaldate=1_710_420_070.0,
        flags=(),
        size=len(raw),
        header=raw[:split],
        body=raw[split:],
    )
    item, _ = translate_fetched(fetched, DEALER, KEY)
    assert (item.uid, item.uidvalidity, item.received_at) == (9, 3, 1_710_420_070.0)
    assert item.classification.kind == "lead"
    headers_only, _ = translate_fetched(
        FetchedMessage("detroit", "service", "INBOX", 9, 3, 0.0, (), len(raw), raw[:split], None), DEALER, KEY
    )
    assert headers_only.message_key == item.message_key


def test_mailbox_identity_from_settings() -> None:
    settings = MailboxSettings(
        site="detroit",
        host="mail.example",
        username="Service@Dealer.Example",
        dealer_domains=["@Dealer.Example"],
        dealer_addresses=["Advisor@Gmail.Example"],
    )
    ident = MailboxIdentity.from_settings(settings)
    assert ident.mailbox == settings.label == "service"
    assert ident.dealer_domains == frozenset({"dealer.example"})
    assert ident.dealer_addresses == frozenset({"advisor@gmail.example", "service@dealer.example"})
    assert ident.is_dealer("ADVISOR@gmail.example")


# -- threading helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "normalized"),
    [
        ("Re: Brake noise", "brakenoise"),
        ("RE: AW: Fwd: Brake  noise", "brakenoise"),
        ("Re[2]: Brake noise", "brakenoise"),
        ("AW: WG: Bremsen", "bremsen"),
        ("RES: ENC: Revisão", "revisão"),
        ("SV: VS: Bromsar", "bromsar"),
        ("Odp: PD: Hamulce", "hamulce"),
        ("回复：保养预约", "保养预约"),
        ("Resposta automática: RE: Agendamento de revisão", "agendamentoderevisão"),
        ("Automatic reply: Brake noise", "brakenoise"),
        ("Réponse automatique : Rendez-vous", "rendez-vous"),
        ("Recall notice", "recallnotice"),  # "Re" only counts with its colon
        ("", ""),
    ],
)
def test_normalize_subject(subject: str, normalized: str) -> None:
    assert normalize_subject(subject) == normalized


def test_subject_hash_of_empty_subject_is_empty() -> None:
    assert subject_hash("Re: ") == ""
    assert len(subject_hash("Brakes")) == 64


def test_thread_index_root() -> None:
    assert thread_index_root("AQHac6Ew2d8tJv0yQkS3Z7cF1sYx8bAABzLQ") == "AQHac6Ew2d8tJv0yQkS3Z7cF1sYx8Q=="
    assert thread_index_root("AQHac6Ew2d8tJv0yQkS3Z7cF1sYx8Q==") == "AQHac6Ew2d8tJv0yQkS3Z7cF1sYx8Q=="
    assert thread_index_root("short") is None
    assert thread_index_root("!!!") is None
    assert thread_index_root(None) is None


def test_message_ids_and_keys() -> None:
    assert normalize_msg_id(" <Abc.Def@Mail.Example.COM> ") == "Abc.Def@mail.example.com"
    assert (
        message_key(parse_message(path("204").read_bytes()))
        == "CAF3x9Qe7pT2m1v=Hk8sJ0dYbN4rLw5uZ@mail.example.org"
    )
    lf = path("065").read_bytes().replace(b"\r\n", b"\n")
    no_id = parse_message(lf)  # no Message-ID header
    assert message_key(no_id).startswith("sha256:")
    assert message_key(no_id) == message_key(parse_message(lf.replace(b"\n", b"\r\n")))


@given(st.binary(max_size=1500))
def test_translate_never_raises(raw: bytes) -> None:
    item = translate(raw, received_at=0.0, folder="INBOX", uid=1, uidvalidity=1, mailbox=DEALER, key=KEY)
    assert item.message_key
