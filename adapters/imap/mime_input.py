"""Raw bytes -> an ``email`` message tree, with the input bounded first.

``email``'s parser keeps an object per line, per header field and per part, and parses parameters in
quadratic time; the limits here keep the cost of one message fixed however it was built: only the
head is parsed, floods of lines, fields or delimiters are cut, and parameter headers are read
shortened. Every cut is a ``MimeDefect``.
"""

from __future__ import annotations

import email
import email.parser
import email.policy
from dataclasses import dataclass
from email.message import Message

MAX_PARSE_BYTES = 8 * 1024 * 1024  # beyond this only the head of the message is parsed
MAX_PARTS = 500
MAX_DELIMITER_LINES = 10 * MAX_PARTS  # lines starting "--" handed to email's parser (see _cut_parts)
MAX_HEADERS = 5000  # header fields of the message read (decoded, indexed)
# Lines handed to email's parser: it keeps an object per line, ~36 bytes of memory per byte of short
# lines (300 MB for 8 MiB of "a\n"). 200,000 lines hold 8 MiB of base64 (77-byte lines) with room.
MAX_LINES = 200_000
MAX_PARAM_HEADER_CHARS = 8 * 1024  # Content-Type / Content-Disposition as the parameter parser sees them
_PARAM_HEADERS = frozenset({"content-type", "content-disposition"})


@dataclass(frozen=True, slots=True)
class MimeDefect:
    code: str  # stable short identifier, e.g. "charset-mislabelled", "mime-CloseBoundaryNotFoundDefect"
    detail: str


class _BoundedMessage(Message):
    """A ``Message`` whose Content-Type and Content-Disposition reach email's parameter parser cut to
    ``MAX_PARAM_HEADER_CHARS``. That parser re-slices the rest of the value for every ``;``: 300,000 of
    them took 4 s, and a header may be megabytes long. Real values are well under 1 KiB; the full value
    stays in ``raw_items()`` for the header list and the evidence."""

    def get(self, name: str, failobj: object = None) -> object:  # type: ignore[override]
        value = super().get(name, failobj)
        if isinstance(value, str) and len(value) > MAX_PARAM_HEADER_CHARS and name.lower() in _PARAM_HEADERS:
            return value[:MAX_PARAM_HEADER_CHARS]
        return value


def param_header_cuts(part: Message) -> list[MimeDefect]:
    """A defect for each parameter header of ``part`` that ``_BoundedMessage`` shortens."""
    out = []
    for name in sorted(_PARAM_HEADERS):
        full = Message.get(part, name)
        if isinstance(full, str) and len(full) > MAX_PARAM_HEADER_CHARS:
            out.append(
                MimeDefect(
                    "param-header-truncated",
                    f"{name}: {len(full)} characters; parameters read from the first "
                    f"{MAX_PARAM_HEADER_CHARS}",
                )
            )
    return out


def parse_bounded(raw: bytes, size: int) -> tuple[Message, list[MimeDefect]]:
    """The message tree of ``raw`` (the head of a message of ``size`` bytes), and what was cut."""
    data, truncated = _limit(raw, size)
    data, headers_cut = _cut_header_block(data)
    data, lines_cut = _cut_lines(data)
    data, parts_cut = _cut_parts(data)
    msg, defects = _parse(data)
    defects.extend(d for d in (truncated, headers_cut, lines_cut, parts_cut) if d is not None)
    return msg, defects


def _parse(raw: bytes) -> tuple[Message, list[MimeDefect]]:
    defects: list[MimeDefect] = []
    # compat32 first: header values stay raw strings (this module decodes them itself, more
    # leniently), where policy.default re-parses a header object on every access (~40 % of the time).
    for policy in (email.policy.compat32, email.policy.default):
        try:
            if policy is email.policy.compat32:
                msg = email.message_from_bytes(raw, _class=_BoundedMessage, policy=policy)
            else:
                msg = email.message_from_bytes(raw, policy=policy)
            msg.get_content_type()  # forces the header parsing that could fail
            return msg, defects
        except RecursionError:
            # email's parser recurses once per nesting level: ~500 nested multiparts exhaust the stack
            # under either policy. The headers (sender, subject, ids) still classify the message.
            defects.append(MimeDefect("too-deep", "nesting exhausted the parser's stack; headers only"))
            break
        except Exception as exc:
            defects.append(MimeDefect("parser-failed", f"{policy!r}: {type(exc).__name__}"))
    try:
        return email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw), defects
    except Exception as exc:  # pragma: no cover - the header parser takes any bytes
        defects.append(MimeDefect("parser-failed", f"headers only: {type(exc).__name__}"))
    return Message(), defects


def _limit(raw: bytes, size: int) -> tuple[bytes, MimeDefect | None]:
    if size <= MAX_PARSE_BYTES:
        return raw, None
    return raw[:MAX_PARSE_BYTES], MimeDefect(
        "message-truncated", f"{size} bytes; parsed the first {MAX_PARSE_BYTES}"
    )


def _cut_parts(data: bytes) -> tuple[bytes, MimeDefect | None]:
    """Cut the message before its ``MAX_DELIMITER_LINES + 1``-th line starting with ``--``.

    email's parser builds an object per part however many there are, and only the first ``MAX_PARTS``
    are read: 8 MiB of empty parts (``--b`` lines) would be 1.6 million objects, ~460 MB and ~15 s.
    Every part needs a delimiter line, so the cut keeps every part that would be read unless the
    text before them has thousands of lines starting with ``--``."""
    pos, count = 0, 0
    while True:
        pos = data.find(b"\n--", pos)
        if pos < 0:
            return data, None
        count += 1
        if count > MAX_DELIMITER_LINES:
            return data[: pos + 1], MimeDefect(
                "message-truncated",
                f"more than {MAX_DELIMITER_LINES} lines start with '--'; parsed up to there",
            )
        pos += 3


def _cut_header_block(data: bytes) -> tuple[bytes, MimeDefect | None]:
    """Keep the first ``4 * MAX_HEADERS`` lines of the message's header block (and all of its body):
    email's parser holds every field, ~30 bytes of memory per byte for 8 MiB of one-line fields."""
    ends = [i for i in (data.find(b"\n\n"), data.find(b"\n\r\n")) if i >= 0]
    end = min(ends) if ends else len(data)
    limit = 4 * MAX_HEADERS
    if data.count(b"\n", 0, end) <= limit:
        return data, None
    pos = -1
    for _ in range(limit):
        pos = data.find(b"\n", pos + 1, end)
    return data[: pos + 1] + data[end + 1 :], MimeDefect(
        "too-many-headers", f"header block of more than {limit} lines; read the first {limit}"
    )


def _cut_lines(data: bytes) -> tuple[bytes, MimeDefect | None]:
    if data.count(b"\n") <= MAX_LINES:
        return data, None
    pos = -1
    for _ in range(MAX_LINES):
        pos = data.find(b"\n", pos + 1)
    return data[: pos + 1], MimeDefect(
        "message-truncated", f"more than {MAX_LINES} lines; parsed the first {MAX_LINES}"
    )
