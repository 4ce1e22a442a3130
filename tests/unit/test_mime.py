"""MIME parsing: never raises, repairs what real mail breaks, and counts every repair."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.imap.charsets import decode_bytes, guess_legacy, resolve
from adapters.imap.classify import analyse
from adapters.imap.headers import decode_header, parse_date, parse_msg_ids
from adapters.imap.mime import MAX_PARSE_BYTES, parse_message
from tests.paths import EMAIL

FIXTURES = sorted((EMAIL / "auto").glob("*.eml")) + sorted((EMAIL / "human").glob("*.eml"))


def fixture(prefix: str) -> bytes:
    (path,) = [p for p in FIXTURES if p.name.startswith(prefix)]
    return path.read_bytes()


def codes(raw: bytes) -> set[str]:
    return {d.code for d in parse_message(raw).defects}


def test_fixture_folder_is_there() -> None:
    assert len(FIXTURES) == 77


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_every_fixture_parses_with_a_subject_structure_and_text(path: Path) -> None:
    mail = parse_message(path.read_bytes())
    assert mail.raw_size == path.stat().st_size
    assert mail.parts, "the top-level part is always listed"
    assert "\ufffd" not in mail.subject or path.name.startswith("079")
    assert all(d.code and d.detail for d in mail.defects)


# -- encoded words and 8-bit headers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "subject"),
    [
        ("auto/044", "Automatyczna odpowiedź: Piotrze, test z 6 miesięcy nauki ciągle na Ciebie czeka"),
        ("auto/208", "Abwesenheitsnotiz: Bestätigung Ihres Werkstatttermins am 18.03."),
        ("auto/209", "自动回复: 关于您的车辆保养预约"),
        ("auto/210", "Автоответ: Запись на техническое обслуживание"),
        ("auto/010", "Non remis : Votre deuxième paire de chaussures à 5 euros"),
        ("auto/014", "Undeliverable: ニャーン"),
        ("human/082", "test äöüßÄÖÜß€"),
        ("human/079", "тест тест"),  # raw 8-bit KOI8-R, no charset anywhere
        # utf-7 Q-word with spaces inside (malformed)
        (
            "auto/052",
            "Microsoft Forefront Protection for SharePoint successfully updated the Command scan"
            " engine on server XXX",
        ),
    ],
)
def test_subjects_decode(prefix: str, subject: str) -> None:
    folder, number = prefix.split("/")
    (path,) = [p for p in FIXTURES if p.parent.name == folder and p.name.startswith(number)]
    assert parse_message(path.read_bytes()).subject == subject


def test_adjacent_words_join_bytes_split_inside_a_character() -> None:
    data = "Bestätigung".encode()
    cut = data.index(b"\xc3") + 1  # between the two bytes of "ä"
    words = [f"=?utf-8?b?{base64.b64encode(part).decode()}?=" for part in (data[:cut], data[cut:])]
    assert decode_header(" ".join(words))[0] == "Bestätigung"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?q?caf=C3=A9?= ok", "café ok"),
        ("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab"),  # whitespace between words is dropped
        ("=?utf-8?b?Y2Fmw6k?=", "café"),  # missing base64 padding
        ("=?x-unknown-charset?q?abc?=", "abc"),
        ("=?utf-8?q?unterminated", "=?utf-8?q?unterminated"),
        ("=?utf-8*en?q?lang_suffix?=", "lang suffix"),  # RFC 2231 language
        ("=?gb2312?b?" + base64.b64encode("镕".encode("gbk")).decode() + "?=", "镕"),
        ("=?US-ASCII?Q??= x", " x"),
        ("plain\r\n folded", "plain folded"),
    ],
)
def test_malformed_encoded_words_degrade_gracefully(raw: str, expected: str) -> None:
    assert decode_header(raw)[0].strip() == expected.strip()


def test_raw_8bit_header_is_rescued_and_reported() -> None:
    raw = "From: Wilhelmsen H\xe5vard <hw@example.org>\nSubject: x\n\nbody\n".encode("latin-1")
    mail = parse_message(raw)
    assert mail.header("from") == "Wilhelmsen Håvard <hw@example.org>"
    assert mail.addresses("from") == [("Wilhelmsen Håvard", "hw@example.org")]
    assert "header-8bit" in {d.code for d in mail.defects}


# -- body charsets --------------------------------------------------------------------------------


def test_gb2312_label_is_decoded_as_gb18030() -> None:
    text = "您的车辆保养预约 镕瑢 已确认"  # the last characters exist in GBK only, not in GB2312
    raw = b"Content-Type: text/plain; charset=gb2312\n\n" + text.encode("gbk")
    mail = parse_message(raw)
    assert mail.text == text
    assert not mail.defects or all(d.code.startswith("date") for d in mail.defects)


def test_fixture_declared_gb2312_decodes() -> None:
    assert "配信に失敗しました" in parse_message(fixture("047")).text


def test_utf8_labelled_big5_is_read_as_utf8_and_reported() -> None:
    mail = parse_message(fixture("091"))
    assert mail.text == "您好！ 你今天好吗？"
    assert "charset-mislabelled" in codes(fixture("091"))


@pytest.mark.parametrize(
    ("prefix", "needle"),
    [
        ("human/079", "ТЕСТ"),  # undeclared KOI8-R
        ("auto/210", "Я в отпуске"),  # declared koi8-r
        ("auto/004", "I will be traveling"),  # windows-1252 quoted-printable
        ("human/071", "Na štriku se suši šosić"),  # ISO-8859-2
        ("human/082", "äöüßÄÖÜß€"),  # ISO-8859-15
        ("auto/052", "successful scan engine update"),  # utf-7
        ("human/073", "Здравствуйте"),  # invalid UTF-8 tail
        ("auto/209", "我目前正在休假"),  # GB18030 base64
    ],
)
def test_body_charsets(prefix: str, needle: str) -> None:
    folder, number = prefix.split("/")
    (path,) = [p for p in FIXTURES if p.parent.name == folder and p.name.startswith(number)]
    assert needle in parse_message(path.read_bytes()).text


def test_charset_helpers() -> None:
    assert resolve("GB2312") == "gb18030"
    assert resolve("iso-8859-1") == "cp1252"
    assert resolve("no-such-charset") is None
    assert guess_legacy("Привет, как дела".encode("koi8_r")) == "koi8_r"
    assert guess_legacy("Привет, как дела".encode("cp1251")) == "cp1251"
    assert guess_legacy("Grüße aus Köln".encode("cp1252")) == "cp1252"
    text, why = decode_bytes("naïve".encode("latin-1"), "utf-8")
    assert (text, why) == ("naïve", "charset-invalid: not utf-8, decoded as cp1252")
    assert decode_bytes(b"\x80abc", None)[1] is not None


# -- dates, ids, line endings, structure ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "epoch", "problem"),
    [
        ("Thu, 29 Apr 2005 23:34:45 +0900", 1114785285.0, None),
        ("Wed, 20 Sep 1995 00:19:00 (EDT) -0400", 811570740.0, None),
        ("Mon, 5 Jul 2010 08:57:06 EDT", 1278334626.0, None),
        ("Mon, 5 Jul 2010 08:57:06", 1278320226.0, "date-no-zone: read as UTC"),
        ("yesterday-ish", None, "date-unparsable"),
        ("Mon, 5 Jul 99999 08:57:06 +0000", None, None),
        (None, None, "date-missing"),
    ],
)
def test_dates(raw: str | None, epoch: float | None, problem: str | None) -> None:
    got, why = parse_date(raw)
    assert got == epoch
    if problem is not None:
        assert why == problem
    elif epoch is None:
        assert why is not None


def test_message_ids() -> None:
    assert parse_msg_ids("<a@b>  <c@d>\r\n <a@b>") == ("a@b", "c@d")
    assert parse_msg_ids("bare@id.example") == ("bare@id.example",)
    assert parse_msg_ids("") == ()


@pytest.mark.parametrize("prefix", ["human/203", "auto/023", "auto/010", "human/058"])
def test_lf_and_crlf_parse_the_same(prefix: str) -> None:
    folder, number = prefix.split("/")
    (path,) = [p for p in FIXTURES if p.parent.name == folder and p.name.startswith(number)]
    lf = path.read_bytes().replace(b"\r\n", b"\n")
    crlf = lf.replace(b"\n", b"\r\n")
    a, b = parse_message(lf), parse_message(crlf)
    assert (a.subject, a.text, a.parts, a.date) == (b.subject, b.text, b.parts, b.date)
    assert analyse(a).classification == analyse(b).classification


def test_attached_message_is_structure_not_own_text() -> None:
    mail = parse_message(fixture("058"))
    rfc822 = next(i for i, p in enumerate(mail.parts) if p.content_type == "message/rfc822")
    assert not mail.parts[rfc822].attached  # the wrapper belongs to the forward ...
    assert all(p.attached for p in mail.parts[rfc822 + 1 : rfc822 + 2])  # ... its inside does not
    assert mail.text == "it shouldn't be considered as bounce"


def test_report_fields_are_read_from_dsn_mdn_and_arf() -> None:
    assert ("Action", "delayed") in parse_message(fixture("038")).report_fields
    assert ("Feedback-Type", "abuse") in parse_message(fixture("034")).report_fields
    mdn = dict(parse_message(fixture("035")).report_fields)
    assert mdn["Disposition"].endswith("displayed")


@pytest.mark.parametrize(
    ("prefix", "code"),
    [
        ("auto/013", "mime-CloseBoundaryNotFoundDefect"),
        ("auto/047", "mime-CloseBoundaryNotFoundDefect"),
        ("auto/049", "mime-StartBoundaryNotFoundDefect"),
        ("human/061", "mime-FirstHeaderLineIsContinuationDefect"),
        ("human/079", "charset-missing"),
        ("human/065", "date-missing"),
    ],
)
def test_known_defects_are_counted(prefix: str, code: str) -> None:
    folder, number = prefix.split("/")
    (path,) = [p for p in FIXTURES if p.parent.name == folder and p.name.startswith(number)]
    mail = parse_message(path.read_bytes())
    assert code in {d.code for d in mail.defects}
    assert mail.defect_count == len(mail.defects) >= 1


def test_html_only_body_becomes_text() -> None:
    raw = (
        b"Subject: x\nContent-Type: text/html; charset=utf-8\n\n"
        b"<html><head><style>p{}</style></head><body><p>Ol&aacute;!</p>"
        b"<table><tr><td>Name</td><td>Ana</td></tr></table></body></html>"
    )
    assert parse_message(raw).text == "Olá!\nName: Ana"


def test_huge_message_is_parsed_head_first_and_reported() -> None:
    body = b"x" * 76 + b"\n"
    raw = b"Subject: big\nContent-Type: text/plain\n\n" + body * (MAX_PARSE_BYTES // len(body) + 1000)
    mail = parse_message(raw)
    assert mail.subject == "big"
    assert mail.raw_size == len(raw)
    assert {"message-truncated", "part-truncated"} <= {d.code for d in mail.defects}


def test_deep_nesting_is_cut_and_reported() -> None:
    depth = 60
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(depth)
    )
    raw = b"Subject: deep\n" + head + b"Content-Type: text/plain\n\nhello\n"
    mail = parse_message(raw)
    assert mail.subject == "deep"
    assert "too-deep" in {d.code for d in mail.defects}


def test_many_parts_are_capped() -> None:
    parts = b"".join(b"--b\nContent-Type: text/plain\n\npart %d\n" % i for i in range(700))
    raw = b'Subject: many\nContent-Type: multipart/mixed; boundary="b"\n\n' + parts + b"--b--\n"
    mail = parse_message(raw)
    assert "too-many-parts" in {d.code for d in mail.defects}


# -- garbage ----------------------------------------------------------------------------------------

_HEADER_NAMES = st.sampled_from(
    ["Subject", "From", "To", "Reply-To", "Date", "Content-Type", "Content-Transfer-Encoding", "Message-ID",
     "References", "Auto-Submitted", "Precedence", "Return-Path", "List-Id", "Thread-Index", "X-Garbage"]
)  # fmt: skip
_HEADER_VALUES = st.one_of(
    st.binary(max_size=120),
    st.text(max_size=80).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [b"=?utf-8?b?", b"=?gb2312?q?=FF=FE?=", b"multipart/mixed; boundary=", b"<>", b'"a@b" <@>',
         b"multipart/report; report-type=delivery-status", b"text/plain; charset=utf-7", b"=?utf-7?Q?+AGE?=",
         b"base64", b"quoted-printable", b"(((", b"Mon, 99 Foo 2020 99:99:99 +9999"]
    ),
)  # fmt: skip


@st.composite
def garbage_messages(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), max_size=12))
    body = draw(st.binary(max_size=400))
    newline = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    return b"".join(n.encode() + b": " + v + newline for n, v in headers) + newline + body


@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    mail = parse_message(raw)
    analyse(mail)


@given(garbage_messages())
def test_garbage_headers_never_raise(raw: bytes) -> None:
    mail = parse_message(raw)
    result = analyse(mail).classification
    assert result.cls in ("auto", "human") and result.reasons
    for name in ("from", "to", "reply-to", "return-path"):
        mail.addresses(name)
    mail.message_ids("references")


def test_pathological_headers_stay_fast_and_are_reported() -> None:
    started = time.perf_counter()
    unterminated = parse_message(b"Subject: " + b"=?utf-8?q?a" * 20_000 + b"\n\nx")
    huge = parse_message(b"Subject: " + b"a" * 500_000 + b"\n\nx")
    assert time.perf_counter() - started < 2.0  # quadratic scanning would take tens of seconds
    assert "header-truncated" in {d.code for d in unterminated.defects}
    assert len(huge.subject) == 64 * 1024


_TOKENS = [b"=?", b"?=", b"?q?", b"\n\n", b"\r\n", b"--", b"boundary=x\n", b"charset=", b"<adf>", b"\xff"]


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> bytes:
    """Real messages with bytes cut, flipped and spliced: broken in the ways transfers break mail."""
    data = bytearray(draw(st.sampled_from(FIXTURES)).read_bytes())
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "garbage"]))
        if action == "insert":
            data[pos:pos] = draw(st.sampled_from(_TOKENS))
        elif action == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@given(mutated_fixtures())
def test_mutated_fixtures_never_raise(raw: bytes) -> None:
    mail = parse_message(raw)
    assert analyse(mail).classification.reasons
