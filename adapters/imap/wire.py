"""IMAP4rev1 wire format (RFC 3501), only as much as a read-only client needs.

A response is one line, or several lines joined by literals (``{n}\\r\\n`` then exactly n bytes, then the
line continues). :class:`RawResponse` keeps the line fragments and literals apart; :func:`parse_data`
turns the data part into Python values: atoms and quoted strings as ``str``, literals as ``bytes``,
``NIL`` as None, parenthesised lists as ``list``.

Also here: modified UTF-7 mailbox names (section 5.1.3), quoting of command arguments, INTERNALDATE
and sequence sets.
"""

from __future__ import annotations

import base64
import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "RawResponse",
    "Status",
    "Value",
    "decode_mailbox",
    "encode_mailbox",
    "parse_data",
    "parse_internaldate",
    "parse_status",
    "quote",
    "sequence_set",
]

Value = str | bytes | None | list["Value"]

# An atom may carry a bracketed section with spaces inside, as in BODY[HEADER] or BODY[]<0>.
_TOKEN = re.compile(
    rb'[ \t]*(?:(\()|(\))|"((?:[^"\\\r\n]|\\.)*)"|\{(\d+)\+?\}$|((?:[^\s()"\[\]{]|\[[^\]]*\])+))'
)
_STATUS = re.compile(r"(OK|NO|BAD|BYE|PREAUTH)(?:\s+\[([^\]\s]+)(?:\s+([^\]]*))?\])?\s*(.*)", re.I | re.S)
_UNESCAPE = re.compile(rb"\\(.)")
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}


@dataclass(slots=True)
class RawResponse:
    """One server response: ``lines[i]`` is followed by ``literals[i]`` (one fewer literal than lines)."""

    lines: list[bytes]
    literals: list[bytes] = field(default_factory=list)

    @property
    def first(self) -> bytes:
        return self.lines[0]

    def head(self) -> tuple[str, str]:
        """``(tag, rest of the first line)``; the tag is ``*`` (untagged), ``+`` or a command tag."""
        tag, _, rest = self.lines[0].partition(b" ")
        return tag.decode("ascii", "replace"), rest.decode("utf-8", "surrogateescape")

    def data_after(self, prefix_words: int) -> list[Value]:
        """Parse what follows the first ``prefix_words`` words of the response (e.g. ``* 3 FETCH``)."""
        first = self.lines[0]
        pos = 0
        for _ in range(prefix_words):
            nxt = first.find(b" ", pos)
            if nxt < 0:
                return []
            pos = nxt + 1
        return parse_data([first[pos:], *self.lines[1:]], self.literals)


@dataclass(frozen=True, slots=True)
class Status:
    status: str  # OK | NO | BAD | BYE | PREAUTH (upper case)
    code: str | None  # response code, e.g. UIDVALIDITY, CAPABILITY, ALERT (upper case)
    code_arg: str | None
    text: str


def parse_status(rest: str) -> Status | None:
    m = _STATUS.fullmatch(rest)
    if m is None:
        return None
    code = m.group(2)
    return Status(m.group(1).upper(), code.upper() if code else None, m.group(3), m.group(4))


def parse_data(lines: list[bytes], literals: list[bytes]) -> list[Value]:
    """Tokenise line fragments and literals into nested values."""
    stack: list[list[Value]] = [[]]
    for i, line in enumerate(lines):
        pos, end = 0, len(line)
        while pos < end:
            m = _TOKEN.match(line, pos)
            if m is None:
                if line[pos:].strip():
                    raise ValueError(f"cannot parse IMAP data at {line[pos : pos + 40]!r}")
                break
            pos = m.end()
            opened, closed, quoted, literal, atom = m.groups()
            if opened:
                stack.append([])
            elif closed:
                if len(stack) == 1:
                    raise ValueError("unbalanced ')' in IMAP data")
                done = stack.pop()
                stack[-1].append(done)
            elif quoted is not None:
                stack[-1].append(_UNESCAPE.sub(rb"\1", quoted).decode("utf-8", "surrogateescape"))
            elif literal is not None:
                if i >= len(literals):
                    raise ValueError("literal announced but missing")
                stack[-1].append(literals[i])
            elif atom is not None:
                text = atom.decode("utf-8", "surrogateescape")
                stack[-1].append(None if text.upper() == "NIL" else text)
    if len(stack) != 1:
        raise ValueError("unbalanced '(' in IMAP data")
    return stack[0]


def quote(text: str) -> bytes:
    """A quoted string argument. Callers pass only ASCII without CR/LF (mailbox names are encoded)."""
    raw = text.encode("ascii")
    if b"\r" in raw or b"\n" in raw or b"\0" in raw:
        raise ValueError("CR, LF and NUL cannot be sent in a quoted string")
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def encode_mailbox(name: str) -> str:
    """Modified UTF-7: printable ASCII stays (``&`` becomes ``&-``), other runs are base64 of UTF-16."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            b64 = base64.b64encode("".join(pending).encode("utf-16-be")).rstrip(b"=")
            out.append("&" + b64.decode("ascii").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def decode_mailbox(name: str) -> str:
    def shifted(m: re.Match[str]) -> str:
        body = m.group(1)
        if not body:
            return "&"
        b64 = body.replace(",", "/")
        return base64.b64decode(b64 + "=" * (-len(b64) % 4)).decode("utf-16-be")

    try:
        return re.sub(r"&([A-Za-z0-9+,]*)-", shifted, name)
    except (ValueError, UnicodeDecodeError):
        return name  # not valid modified UTF-7: show it as the server sent it


def parse_internaldate(text: str) -> float:
    """``"17-Jul-1996 02:44:25 -0700"`` (day may be space-padded) as an epoch instant."""
    try:
        date_part, time_part, zone = text.split()
        day, month, year = date_part.split("-")
        hh, mm, ss = time_part.split(":")
        offset = (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60) * (-1 if zone[0] == "-" else 1)
        seconds = calendar.timegm((int(year), _MONTHS[month.upper()], int(day), int(hh), int(mm), int(ss)))
    except (ValueError, KeyError, IndexError):
        raise ValueError(f"invalid INTERNALDATE {text!r}") from None
    return float(seconds - offset)


def sequence_set(uids: Iterable[int]) -> str:
    """Compress sorted UIDs into ``1:3,5,7:9``."""
    parts: list[str] = []
    start = prev = -2
    for uid in uids:
        if uid == prev + 1:
            prev = uid
            continue
        if start >= 0:
            parts.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    if start >= 0:
        parts.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(parts)
