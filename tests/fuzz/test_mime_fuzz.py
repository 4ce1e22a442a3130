"""Broken mail through the whole read path: MIME parsing, classification, translation, the pipeline.

Properties: a result every time (a ``MailSeen`` with a classification and reasons), never an
exception; every repair is a defect with a stable code, counted per code by the pipeline and logged
rate-limited. (Sizes up to 50 MB and their memory bound: tests/fuzz/test_mime_sizes.py.)
"""

from __future__ import annotations

import logging
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.imap.classify import analyse
from adapters.imap.headers import parse_addresses
from adapters.imap.mime import MAX_DEPTH, parse_message
from adapters.imap.pipeline import ImapMailPipeline
from adapters.imap.translate import translate_fetched, translate_with_defects
from monitor.domain.calendar import BusinessCalendar
from monitor.domain.inquiries import InquiryBook, MailboxRules
from monitor.domain.mail import MailSeen
from monitor.domain.policy import SlaPolicy
from monitor.service.inquiries import InquiryService
from tests.fuzz.mail import DEALER, KEY, broken_messages, fetched

CODE = re.compile(r"^[A-Za-z0-9-]+$")


def pipeline() -> ImapMailPipeline:
    rules = MailboxRules(
        "detroit", "service", "written", BusinessCalendar.always_open(), SlaPolicy(version="fuzz.1")
    )
    return ImapMailPipeline(InquiryService([InquiryBook(rules)]), DEALER, KEY)


def _check(seen: MailSeen) -> None:
    assert seen.classification.cls in ("auto", "human")
    assert seen.classification.reasons
    assert seen.direction in ("inbound", "outbound")
    assert seen.message_key


@given(broken_messages())
def test_broken_mime_always_gives_a_result_and_coded_defects(raw: bytes) -> None:
    seen, defects = translate_fetched(fetched(raw), DEALER, KEY)
    _check(seen)
    for defect in defects:
        assert CODE.match(defect.code), defect.code  # counted per code: a code is never free text


@given(st.lists(broken_messages(), min_size=1, max_size=4))
def test_the_pipeline_counts_every_repair_by_code(raws: list[bytes]) -> None:
    p = pipeline()
    batch = [fetched(raw, uid=i + 1) for i, raw in enumerate(raws)]
    p.on_messages(batch)
    assert p.stats.messages == len(raws)
    assert p.repairs.total == p.stats.defects
    expected = sum(len(translate_fetched(f, DEALER, KEY)[1]) for f in batch)
    assert p.stats.defects == expected


@given(st.binary(max_size=3000))
def test_arbitrary_bytes_as_a_fetched_message(raw: bytes) -> None:
    _check(translate_fetched(fetched(raw), DEALER, KEY)[0])


@pytest.mark.parametrize("depth", [1, MAX_DEPTH, MAX_DEPTH + 1, 400, 1000, 5000])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_nesting_of_any_depth_is_cut_and_reported(depth: int, newline: bytes) -> None:
    # Regression: from ~500 levels email's parser ran out of stack under both policies and the message
    # came back with no headers at all (no subject, no sender: classified as a machine's mail).
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(depth)
    )
    raw = b"Subject: deep\nFrom: a@b.example\n" + head + b"Content-Type: text/plain\n\nhello\n"
    mail = parse_message(raw.replace(b"\n", newline))
    assert (mail.subject, mail.addresses("from")) == ("deep", [("", "a@b.example")])
    assert ("too-deep" in {d.code for d in mail.defects}) == (depth > MAX_DEPTH)
    assert "parser-failed" not in {d.code for d in mail.defects}
    analyse(mail)


@pytest.mark.parametrize("nest", ["message/rfc822", "multipart/digest"])
def test_deep_attached_messages_do_not_recurse_out_of_the_stack(nest: str) -> None:
    depth = 3000
    if nest == "message/rfc822":
        head = b"Content-Type: message/rfc822\n\nSubject: inner\n" * depth
    else:
        head = b"".join(
            b'Content-Type: multipart/digest; boundary="d%d"\n\n--d%d\n' % (i, i) for i in range(depth)
        )
    mail = parse_message(b"Subject: outer\n" + head + b"\nbody\n")
    assert mail.subject == "outer"
    _check(translate_fetched(fetched(b"Subject: outer\n" + head + b"\nbody\n"), DEALER, KEY)[0])


def test_a_flood_of_broken_mail_is_counted_exactly_and_logged_a_few_times(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = (
        b"Subject: =?utf-8?b?////?=\nDate: Mon, 99 Foo 2020\n"
        b"Content-Type: text/plain; charset=nope\n\n\xff\xfe"
    )
    p = pipeline()
    with caplog.at_level(logging.DEBUG, logger="adapters.imap.pipeline"):
        for start in range(0, 2000, 100):
            p.on_messages([fetched(raw, uid=start + i + 1) for i in range(100)])
    one = translate_fetched(fetched(raw), DEALER, KEY)[1]
    assert len(one) >= 2
    assert p.stats.defects == 2000 * len(one)
    assert sum(p.repairs.by_reason.values()) == p.stats.defects
    lines = [r.getMessage() for r in caplog.records if r.name == "adapters.imap.pipeline"]
    assert len(lines) == len(p.repairs.by_reason), lines  # one line per code, not one per message


@pytest.mark.parametrize("header", ["X-Failed-Recipients", "List-Id", "X-Mailer", "Precedence"])
def test_a_64k_header_of_address_characters_is_masked_in_linear_time(header: str) -> None:
    # Regression: the address mask rescanned a run of address characters from every position; a 64 KiB
    # header without "@" took 12 s per message (a mailbox of them stalls the reader). Linear: ~10 ms.
    value = "a" * (64 * 1024 - 40) + " john.smith@example.org"
    raw = f"From: x@y.example\n{header}: {value}\n\nhi\n".encode()
    started = time.perf_counter()
    seen, _ = translate_fetched(fetched(raw), DEALER, KEY)
    assert time.perf_counter() - started < 3.0  # generous: the quadratic scan took 12 s
    assert "john.smith" not in seen.evidence_headers


def test_a_64k_garbage_address_header_is_scanned_in_linear_time() -> None:
    # Regression: when getaddresses found nothing, the loose address search rescanned the value from
    # every position: a 64 KiB From of address characters without "@" took seconds per message.
    started = time.perf_counter()
    assert parse_addresses(["a" * 65_536]) == []
    assert parse_addresses(["((" + "a." * 40_000]) == []
    assert time.perf_counter() - started < 3.0  # generous: the quadratic scan took ~5 s for 64 KiB
    assert parse_addresses(["((garbage <<ana@example.org"]) == [("", "ana@example.org")]


@given(broken_messages())
def test_header_and_body_fetched_apart_read_like_the_whole_message(raw: bytes) -> None:
    """The IMAP source fetches BODY[HEADER] and BODY[TEXT] separately; joined they are the message."""
    whole, whole_defects = translate_with_defects(
        raw, received_at=1_764_000_000.0, folder="INBOX", uid=1, uidvalidity=7, mailbox=DEALER, key=KEY
    )
    apart, apart_defects = translate_fetched(fetched(raw), DEALER, KEY)
    assert apart == whole
    assert apart_defects == whole_defects


@given(st.lists(broken_messages(), min_size=1, max_size=4), st.lists(st.integers(0, 3), max_size=4))
def test_a_message_delivered_twice_is_counted_once(raws: list[bytes], again: list[int]) -> None:
    """A batch read again after a crash (positions are saved after delivery) adds nothing."""
    p = pipeline()
    batch = [fetched(raw, uid=i + 1) for i, raw in enumerate(raws)]
    p.on_messages(batch)
    new, duplicates = p.stats.new, p.service.stats.duplicates
    p.on_messages(batch + [batch[i % len(batch)] for i in again])
    assert p.stats.new == new
    assert p.service.stats.duplicates - duplicates == len(batch) + len(again)


_N = 190_000  # just under the 200,000 readable characters kept per message
PATHOLOGICAL_BODIES = {
    "adf-unclosed": b"<adf>" * (_N // 5),  # regression: 33 s (each <adf> rescanned to the end)
    "customer-unclosed": b"<adf>" + b"<customer>" * (_N // 10) + b"</adf>",  # regression: 14 s
    "letters": b"a" * _N,
    "digits-and-spaces": b"1 " * (_N // 2),
    "digits-and-parens": b"1(" * (_N // 2),
    "field-lines": b"Name: x\n" * (_N // 8),
    "colons": b":" * _N,
    "call-me": b"please call me " * (_N // 15),
    "address-runs": b"a.b+c@d" * (_N // 7),
    "at-dots": (b"a@" + b"." * 50) * (_N // 52),
    "negations": b"not " * (_N // 4),
    "quotes": b"> " * (_N // 2),
    "wrote-lines": b"On Mon, X wrote:\n" * (_N // 17),
}


@pytest.mark.parametrize("subtype", ["plain", "html"])
@pytest.mark.parametrize("shape", sorted(PATHOLOGICAL_BODIES))
def test_pathological_bodies_are_read_in_linear_time(shape: str, subtype: str) -> None:
    raw = (
        b"From: Web <noreply@leads.example>\nSubject: New lead from website\n"
        b"Content-Type: text/" + subtype.encode() + b"\n\n" + PATHOLOGICAL_BODIES[shape]
    )
    started = time.perf_counter()
    seen, _ = translate_fetched(fetched(raw), DEALER, KEY)
    assert time.perf_counter() - started < 5.0  # generous: linear is ~0.1 s, the quadratic scan 33 s
    _check(seen)


PATHOLOGICAL_HEADERS = {
    # regression: email's parameter parser re-slices the value per ";" - 4 s for 300,000, hours for 8 MB
    "Content-Type": "text/plain; charset=utf-8" + ";" * 1_000_000,
    "Content-Disposition": "inline" + "; a=1" * 200_000,
    # regression: ~2 s per megabyte in the address parser, now cut to 64 KiB like every decoded header
    "Reply-To": "@" * 1_200_000,
    "Return-Path": "<a@b" * 300_000,
    "Subject": "=?utf-8?q?a?= " * 100_000,
    "References": "<a@b" * 300_000,
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL_HEADERS))
def test_megabyte_headers_are_read_in_linear_time(name: str) -> None:
    raw = (
        b"From: Ana <ana@example.org>\n"
        + name.encode()
        + b": "
        + PATHOLOGICAL_HEADERS[name].encode()
        + b"\nMessage-ID: <m1@example.org>\n\nhello\n"
    )
    started = time.perf_counter()
    seen, defects = translate_fetched(fetched(raw), DEALER, KEY)
    assert time.perf_counter() - started < 5.0  # generous: linear is ~0.2 s
    _check(seen)
    assert seen.message_id == "m1@example.org"
    if name.startswith("Content-"):
        assert "param-header-truncated" in {d.code for d in defects}
        assert parse_message(raw).text == "hello"
