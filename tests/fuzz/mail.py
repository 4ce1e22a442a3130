"""Hypothesis strategies for broken mail: MIME trees with random nesting, boundaries, charsets and
transfer encodings, plus header values that break decoders. Shared by the MIME fuzz tests."""

from __future__ import annotations

import base64
import quopri

from hypothesis import strategies as st

from adapters.imap.fetched import FetchedMessage
from adapters.imap.translate import MailboxIdentity

KEY = b"fuzz-mail-key-0123456789abcdef"
DEALER = MailboxIdentity("detroit", "service", frozenset({"dealer.example"}), frozenset())

CHARSETS = [
    "utf-8", "UTF-8", "iso-8859-1", "windows-1252", "gb2312", "big5", "shift_jis", "koi8-r", "utf-7",
    "utf-16", "utf-32", "iso-2022-jp", "x-unknown", "unknown-8bit", "", "nonsense-charset", "utf8",
    "us-ascii", "ks_c_5601-1987", "../../etc/passwd", "utf-8\x00", "é", "x" * 300,
]  # fmt: skip
TRANSFER = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "BASE64", "", "bogus"]
SUBTYPES = ["mixed", "alternative", "related", "report", "signed", "digest", "parallel", "x-weird"]
LEAF_TYPES = [
    "text/plain", "text/html", "text/xml", "application/xml", "application/pdf", "image/png",
    "message/rfc822", "message/delivery-status", "message/disposition-notification", "text/enriched",
    "application/octet-stream", "text", "/", "text/plain/extra", "",
]  # fmt: skip

_TEXTS = st.text(st.characters(blacklist_categories=["Cs"]), max_size=200) | st.sampled_from(
    ["Olá, liguem-me: +351 912 345 678", "请回电 13800138000", "<adf><prospect/></adf>"]
)

_HEADER_VALUES = st.one_of(
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=80),
    st.sampled_from(
        [
            "=?utf-8?b?", "=?utf-8?b?////?=", "=?gb2312?q?=FF=FE?=", "=?nonsense?q?abc?=",
            "=?utf-8?x?abc?=", "=?utf-8?q?" + "a" * 5000 + "?=", "=?utf-7?Q?+AGE?=", "=?" * 300, "?=" * 300,
            "Mon, 99 Foo 2020 99:99:99 +9999", "Thu, 01 Jan 1970 00:00:00 +0000",
            "31 Dec 9999 23:59:59 -2359", "Tue, 1 Jan 0001 00:00:00 +0000", "1e309", "", "<>", "<<<@>>>",
            '"a@b" <@>', "undisclosed-recipients:;", "a" * 70_000, "(((((((((", "\\",
            "=?utf-8?q?=E4=BD?= =?utf-8?q?=A0?=",
        ]
    ),
)  # fmt: skip
_HEADER_NAMES = st.sampled_from(
    ["Subject", "From", "To", "Cc", "Reply-To", "Date", "Message-ID", "In-Reply-To", "References",
     "Auto-Submitted", "Precedence", "Return-Path", "List-Id", "Thread-Index", "X-Autoreply",
     "Content-Disposition", "X-Failed-Recipients", "X-Garbage", "Sender"]
)  # fmt: skip


def _encode(payload: bytes, cte: str) -> bytes:
    kind = cte.lower()
    if kind == "base64":
        return base64.encodebytes(payload)
    if kind == "quoted-printable":
        return quopri.encodestring(payload)
    return payload


@st.composite
def _leaf(draw: st.DrawFn) -> bytes:
    ctype = draw(st.sampled_from(LEAF_TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    cte = draw(st.sampled_from(TRANSFER))
    text = draw(_TEXTS)
    codec = draw(st.sampled_from(["utf-8", "gb18030", "cp1252", "utf-16", "shift_jis"]))  # maybe mislabelled
    payload = text.encode(codec, "replace")
    body = _encode(payload, cte)
    if draw(st.booleans()):  # transfer damage: cut, garbage spliced in
        pos = draw(st.integers(0, len(body)))
        body = body[:pos] + draw(st.binary(max_size=20)) + body[pos + draw(st.integers(0, 30)) :]
    head = f"Content-Type: {ctype}; charset={charset!r}\n".replace("'", '"')
    if draw(st.booleans()):
        head += f"Content-Transfer-Encoding: {cte}\n"
    if draw(st.booleans()):
        disposition = draw(st.sampled_from(["attachment", "inline", "bogus"]))
        head += f'Content-Disposition: {disposition}; filename="{draw(_HEADER_VALUES)[:40]}"\n'
    return head.encode("utf-8", "surrogateescape") + b"\n" + body


def _tree(depth: int) -> st.SearchStrategy[bytes]:
    if depth == 0:
        return _leaf()
    return st.one_of(_leaf(), _multipart(depth))


@st.composite
def _multipart(draw: st.DrawFn, depth: int) -> bytes:
    boundary = draw(st.sampled_from(["b", "=_x", "a" * 80, "", " ", "--", "b" + str(depth)]))
    children = draw(st.lists(_tree(depth - 1), max_size=5))
    subtype = draw(st.sampled_from(SUBTYPES))
    extra = draw(
        st.sampled_from(["", "; report-type=delivery-status", "; report-type=disposition-notification"])
    )
    close = draw(st.sampled_from(["--", "", "-", "--garbage"]))  # a missing or broken close delimiter
    parts = b"".join(b"\n--" + boundary.encode() + b"\n" + c for c in children)
    wrong = draw(st.booleans())  # the declared boundary is not the one used
    declared = (boundary + "x") if wrong else boundary
    return (
        f'Content-Type: multipart/{subtype}; boundary="{declared}"{extra}\n\npreamble'.encode()
        + parts
        + f"\n--{boundary}{close}\nepilogue".encode()
    )


@st.composite
def broken_messages(draw: st.DrawFn) -> bytes:
    """A whole message: random top headers, then a MIME tree up to four levels deep."""
    headers = draw(st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), max_size=10))
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    top = b"".join(n.encode() + b": " + v.encode("utf-8", "surrogateescape") + b"\n" for n, v in headers)
    raw = top + b"MIME-Version: 1.0\n" + draw(_tree(4))
    return raw.replace(b"\n", newline)


def fetched(raw: bytes, *, uid: int = 1, folder: str = "INBOX") -> FetchedMessage:
    """The message as the IMAP source hands it over: header block and body split at the blank line."""
    cut = raw.find(b"\n\n")
    split = cut + 2 if cut >= 0 else len(raw)
    crlf = raw.find(b"\r\n\r\n")
    if crlf >= 0 and (cut < 0 or crlf < cut):
        split = crlf + 4
    return FetchedMessage(
        site="detroit",
        mailbox="service",
        folder=folder,
        uid=uid,
        uidvalidity=7,
        internaldate=1_764_000_000.0,
        flags=(),
        size=len(raw),
        header=raw[:split],
        body=raw[split:],
    )
