"""Header values as people meant them: unfolded, RFC 2047 decoded (leniently), 8-bit rescued.

The ``email`` package's own header objects are strict and can raise on garbage, so the adapter
works from the raw values and decodes them here. Every function returns its result together with
the reasons for any repair; none of them raises on any input.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import re
from email.utils import getaddresses, parsedate_tz

from adapters.imap.charsets import decode_bytes

_FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
_NEWLINES = re.compile(r"[\r\n]+")
# Lenient on purpose: real senders put spaces inside Q words and forget that words must be short.
# The text excludes "?" (RFC 2047 forbids it there), which also keeps the scan linear.
_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?]*)\?=")
MAX_HEADER_CHARS = 64 * 1024  # longer values are cut: no legitimate header needs more
_GAP = re.compile(r"[ \t\r\n]*")
_Q_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")
# Starts only where a run of local-part characters starts: otherwise a long run without "@" is rescanned
# from every position (quadratic: a 64 KiB From of garbage took seconds).
_LOOSE_ADDRESS = re.compile(r"(?<![\w.+=!#$%&'*/?^`{|}~-])[\w.+=!#$%&'*/?^`{|}~-]+@[\w.-]+\w")
_MSG_ID = re.compile(r"<([^<>\s]+)>")
_COMMENT = re.compile(r"\([^()]*\)")
# parsedate_tz reports a missing zone as +0000, so whether one was written is checked here.
_ZONE = re.compile(r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:[+-]\d\d:?\d\d|[A-Za-z]{1,5})\b")


def unfold(raw: str) -> str:
    return _NEWLINES.sub(" ", _FOLD.sub("", raw)).strip()


def _rescue_8bit(value: str) -> tuple[str, list[str]]:
    """Raw 8-bit header bytes arrive as surrogate escapes; decode them by guessing."""
    if value.isascii() or not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value, []
    data = value.encode("ascii", errors="surrogateescape")
    text, why = decode_bytes(data, None)
    return text, ([f"header-8bit: {why}"] if why else ["header-8bit: raw utf-8"])


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    try:
        raw = payload.encode("ascii", errors="surrogateescape")
    except UnicodeEncodeError:
        return None
    if encoding in "bB":
        cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", raw)
        cleaned += b"=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return None
    return _Q_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), raw.replace(b"_", b" "))


def decode_words(value: str) -> tuple[str, list[str]]:
    """RFC 2047 decoding. Adjacent words in one charset are joined as bytes first, because
    senders split multi-byte characters across words; whitespace between words is dropped."""
    reasons: list[str] = []
    out: list[str] = []
    pending: bytes = b""
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending_charset is not None:
            text, why = decode_bytes(pending, pending_charset or None)
            out.append(text)
            if why:
                reasons.append(f"encoded-word {why}")
        pending, pending_charset = b"", None

    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        if gap and not (pending_charset is not None and _GAP.fullmatch(gap)):
            flush()
            out.append(gap)
        charset, encoding, payload = match.group(1), match.group(2), match.group(3)
        data = _word_bytes(encoding, payload)
        if data is None:
            flush()
            out.append(match.group(0))
            reasons.append("encoded-word undecodable")
        else:
            charset = charset.split("*", 1)[0].lower()
            if pending_charset is not None and charset != pending_charset:
                flush()
            pending_charset = charset
            pending += data
        pos = match.end()
    flush()
    out.append(value[pos:])
    return "".join(out), reasons


_C0_C1 = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def decode_header(raw: str) -> tuple[str, list[str]]:
    """Unfolded, 8-bit rescued, encoded words decoded; control characters removed."""
    try:
        cut = ["header-truncated: longer than 64 KiB"] if len(raw) > MAX_HEADER_CHARS else []
        text, reasons = _rescue_8bit(unfold(raw[:MAX_HEADER_CHARS]))
        reasons = cut + reasons
        text, more = decode_words(text)
        text = _C0_C1.sub(" ", text)  # tabs and other controls: one C-level pass for the usual case
        cleaned = text if text.isprintable() else "".join(ch if ch.isprintable() else " " for ch in text)
        return " ".join(cleaned.split()), reasons + more
    except Exception as exc:  # last resort: a value the helpers did not foresee
        return raw.encode("ascii", "replace").decode("ascii"), [f"header-undecodable: {exc!r}"]


def parse_addresses(raw_values: list[str]) -> list[tuple[str, str]]:
    """(display name, lower-cased addr-spec) pairs; names decoded, entries without @ dropped."""
    # Cut like decode_header: the address parser costs ~2 s per megabyte, and no list of recipients
    # anyone answers needs more than 64 KiB.
    raw_values = [v[:MAX_HEADER_CHARS] for v in raw_values]
    try:
        rescued = [_rescue_8bit(unfold(v))[0] for v in raw_values]
        pairs = getaddresses(rescued)
    except Exception:
        pairs = []
    out: list[tuple[str, str]] = []
    for name, addr in pairs:
        addr = addr.strip().strip("<>").strip()
        if "@" not in addr or any(ch.isspace() for ch in addr):
            continue
        out.append((decode_header(name)[0] if name else "", addr.lower()))
    if out or not raw_values:
        return out
    # getaddresses gives up on some garbage; still find anything shaped like an address
    for value in raw_values:
        for found in _LOOSE_ADDRESS.findall(value):
            out.append(("", found.lower()))
    return out


def parse_msg_ids(raw: str | None) -> tuple[str, ...]:
    """Message-IDs in a References/In-Reply-To/Message-ID value, without angle brackets."""
    if not raw:
        return ()
    value = unfold(raw)
    ids = _MSG_ID.findall(value)
    if not ids:
        # Some clients drop the brackets; a bare token with an @ is still an id.
        ids = [tok.strip("<>,;") for tok in value.split() if "@" in tok]
    seen: dict[str, None] = {}
    for item in ids:
        if item:
            seen.setdefault(item, None)
    return tuple(seen)


def parse_date(raw: str | None) -> tuple[float | None, str | None]:
    """Epoch seconds of a Date value and, when missing or broken, why."""
    if raw is None:
        return None, "date-missing"
    value = unfold(raw)
    # comments first: parsedate_tz reads "(EDT) -0400" as an unknown zone, i.e. UTC
    for candidate in (_COMMENT.sub(" ", value), value):
        try:
            parts = parsedate_tz(" ".join(candidate.split()))
        except Exception:
            parts = None
        if parts is None:
            continue
        year = parts[0]
        if not 1970 <= year <= 9999:
            return None, f"date-unparsable: year {year}"
        offset = parts[9] or 0
        try:
            epoch = float(calendar.timegm(tuple(parts[:9])) - offset)
        except (OverflowError, ValueError, TypeError):
            return None, "date-unparsable"
        return epoch, (None if _ZONE.search(candidate) else "date-no-zone: read as UTC")
    return None, "date-unparsable"
