"""Raw message bytes -> ``ParsedMail``: decoded headers, structure, readable text, defects.

``parse_message`` never raises. Whatever is broken (charsets, encoded words, boundaries, dates,
nesting, size) is repaired as far as it can be and recorded as a ``MimeDefect`` with a reason, so
the adapter can count defects instead of losing messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import TypeVar

from adapters.imap.charsets import decode_bytes
from adapters.imap.headers import decode_header, parse_addresses, parse_date, parse_msg_ids
from adapters.imap.htmltext import html_to_text
from adapters.imap.mime_input import (
    MAX_HEADERS,
    MAX_PARSE_BYTES,
    MAX_PARTS,
    MimeDefect,
    param_header_cuts,
    parse_bounded,
)

__all__ = ["MAX_PARSE_BYTES", "MAX_PARTS", "MimeDefect", "ParsedMail", "PartInfo", "parse_message"]

T = TypeVar("T")
D = TypeVar("D")

MAX_PART_BYTES = 1024 * 1024  # decoded bytes read from any one part
MAX_TEXT_CHARS = 200_000  # readable text kept per message
MAX_DEPTH = 24


@dataclass(frozen=True, slots=True)
class PartInfo:
    content_type: str
    filename: str | None
    disposition: str | None
    depth: int
    attached: bool  # inside an attached message (message/rfc822): somebody else's mail


@dataclass(frozen=True, slots=True)
class ParsedMail:
    raw_size: int
    headers: tuple[tuple[str, str], ...]  # (name as written, decoded value), in order
    raw_headers: tuple[tuple[str, str], ...]  # (name, unfolded raw value): addresses, ids, <>
    content_type: str
    report_type: str | None
    subject: str
    date: float | None
    parts: tuple[PartInfo, ...]
    text: str  # the message's own readable text; attached messages excluded
    xml: tuple[str, ...]  # own XML parts and attachments (ADF leads)
    report_fields: tuple[tuple[str, str], ...]  # fields of delivery-status / MDN / ARF parts
    defects: tuple[MimeDefect, ...]
    _index: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False, compare=False)
    _raw_index: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False, compare=False)
    # Classifier, lead finder, translation and evidence each ask for From/Reply-To/To: parse once.
    _addresses: dict[str, tuple[tuple[str, str], ...]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def header(self, name: str) -> str | None:
        values = self._index.get(name.lower())
        return values[0] if values else None

    def header_all(self, name: str) -> tuple[str, ...]:
        return self._index.get(name.lower(), ())

    def raw_header(self, name: str) -> str | None:
        values = self._raw_index.get(name.lower())
        return values[0] if values else None

    def addresses(self, name: str) -> list[tuple[str, str]]:
        key = name.lower()
        found = self._addresses.get(key)
        if found is None:
            found = tuple(parse_addresses(list(self._raw_index.get(key, ()))))
            self._addresses[key] = found
        return list(found)

    def message_ids(self, name: str) -> tuple[str, ...]:
        out: list[str] = []
        for value in self._raw_index.get(name.lower(), ()):
            out.extend(parse_msg_ids(value))
        return tuple(dict.fromkeys(out))

    @property
    def defect_count(self) -> int:
        return len(self.defects)


class _Collector:
    """Walks the tree once: part list, own text, XML, report fields, defects."""

    def __init__(self) -> None:
        self.parts: list[PartInfo] = []
        self.plain: list[str] = []
        self.html: list[str] = []
        self.xml: list[str] = []
        self.report: list[tuple[str, str]] = []
        self.defects: list[MimeDefect] = []
        self.text_chars = 0

    def defect(self, code: str, detail: str) -> None:
        if len(self.defects) < 200:
            self.defects.append(MimeDefect(code, detail))

    def walk(self, part: Message, depth: int, attached: bool, skip_text: bool = False) -> None:
        if len(self.parts) >= MAX_PARTS:
            if len(self.parts) == MAX_PARTS:
                self.defect("too-many-parts", f"stopped after {MAX_PARTS} parts")
                self.parts.append(PartInfo("x-truncated/parts", None, None, depth, attached))
            return
        if depth > MAX_DEPTH:
            self.defect("too-deep", f"nesting deeper than {MAX_DEPTH}")
            return
        for cut in param_header_cuts(part):
            self.defect(cut.code, cut.detail)
        ctype = _ctype(part)
        filename = _safe(lambda: part.get_filename(), None)
        disposition = _safe(lambda: part.get_content_disposition(), None)
        if filename:
            filename = decode_header(str(filename))[0]
        self.parts.append(PartInfo(ctype, filename, disposition, depth, attached))
        for item in getattr(part, "defects", []):
            self.defect("mime-" + type(item).__name__, str(item).strip()[:200] or type(item).__name__)
        payload = _safe(lambda: part.get_payload(), None)
        if isinstance(payload, list):
            children = [c for c in payload if isinstance(c, Message)]
            self._walk_children(ctype, children, depth, attached, skip_text)
            return
        if attached or skip_text:
            return
        self._leaf(part, ctype, filename, disposition)

    def _walk_children(
        self, ctype: str, children: list[Message], depth: int, attached: bool, skip_text: bool
    ) -> None:
        if ctype in _REPORT_PARTS and not attached:
            self._report_fields(children)
            return
        nested = attached or (ctype.startswith("message/") and ctype != "message/partial")
        has_plain = False
        if ctype == "multipart/alternative":
            # One rendering is enough; prefer plain text, as the sender's client did.
            has_plain = any(_ctype(c) == "text/plain" for c in children)
        for child in children:
            other = has_plain and _ctype(child) != "text/plain"
            self.walk(child, depth + 1, nested, skip_text or other)

    def _report_fields(self, blocks: list[Message]) -> None:
        for block in blocks:
            try:
                items = list(block.raw_items())
            except Exception:
                continue
            for name, value in items:
                if len(self.report) < 100:
                    self.report.append((str(name), decode_header(str(value))[0]))

    def _leaf(self, part: Message, ctype: str, filename: str | None, disposition: str | None) -> None:
        lowered = (filename or "").lower()
        is_xml = ctype in ("text/xml", "application/xml") or lowered.endswith((".xml", ".adf"))
        is_text = ctype in ("text/plain", "text/html", "text/enriched")
        if not (is_xml or is_text) or (disposition == "attachment" and not is_xml):
            return
        if self.text_chars >= MAX_TEXT_CHARS:
            self.defect("text-truncated", f"readable text capped at {MAX_TEXT_CHARS} characters")
            return
        text = self._decode(part)
        self.text_chars += len(text)
        if is_xml:
            self.xml.append(text)
        elif ctype == "text/html":
            self.html.append(html_to_text(text))
        else:
            self.plain.append(text)

    def _decode(self, part: Message) -> str:
        data = _safe(lambda: part.get_payload(decode=True), None)
        if not isinstance(data, bytes):
            raw = _safe(lambda: part.get_payload(), "")
            data = str(raw).encode("ascii", "surrogateescape") if isinstance(raw, str) else b""
        if len(data) > MAX_PART_BYTES:
            self.defect("part-truncated", f"{len(data)} bytes, read {MAX_PART_BYTES}")
            data = data[:MAX_PART_BYTES]
        charset = _safe(lambda: part.get_param("charset"), None)
        text, why = decode_bytes(data, charset if isinstance(charset, str) else None)
        if why:
            self.defect(why.split(":", 1)[0], why)
        return text.replace("\r\n", "\n").replace("\r", "\n")


# Machine-readable report bodies; the email package parses them into header blocks.
_REPORT_PARTS = frozenset(
    {"message/delivery-status", "message/disposition-notification", "message/feedback-report"}
)


def _ctype(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "text/plain"  # RFC 2045's default for a part whose type cannot be read


def _safe(fn: Callable[[], T], default: D) -> T | D:
    """Calls into ``email`` objects that can raise on malformed input."""
    try:
        return fn()
    except Exception:
        return default


def parse_message(raw: bytes, *, size: int | None = None) -> ParsedMail:
    """Parse one message. Never raises; damage is reported in ``defects``.

    ``size``: the whole message's size when ``raw`` is only its head (callers holding a large message
    in pieces pass the first ``MAX_PARSE_BYTES + 1`` bytes rather than joining all of it: only the
    head is parsed anyway)."""
    try:
        return _parse_message(raw, len(raw) if size is None else max(size, len(raw)))
    except Exception as exc:  # pragma: no cover - a bug here must not lose the message
        return ParsedMail(
            raw_size=size or (len(raw) if isinstance(raw, bytes | bytearray) else 0),
            headers=(),
            raw_headers=(),
            content_type="text/plain",
            report_type=None,
            subject="",
            date=None,
            parts=(),
            text="",
            xml=(),
            report_fields=(),
            defects=(MimeDefect("parse-crashed", repr(exc)[:200]),),
        )


def _parse_message(raw: bytes, size: int) -> ParsedMail:
    msg, defects = parse_bounded(bytes(raw), size)
    raw_headers: list[tuple[str, str]] = []
    headers: list[tuple[str, str]] = []
    index: dict[str, list[str]] = {}
    raw_index: dict[str, list[str]] = {}
    fields = _safe(lambda: list(msg.raw_items()), [])
    if len(fields) > MAX_HEADERS:
        defects.append(
            MimeDefect("too-many-headers", f"{len(fields)} header fields; read the first {MAX_HEADERS}")
        )
        del fields[MAX_HEADERS:]
    for name, value in fields:
        name, value = str(name), str(value)
        decoded, reasons = decode_header(value)
        for reason in reasons:
            defects.append(MimeDefect(reason.split(":", 1)[0].replace(" ", "-"), f"{name}: {reason}"))
        raw_headers.append((name, value))
        headers.append((name, decoded))
        index.setdefault(name.lower(), []).append(decoded)
        raw_index.setdefault(name.lower(), []).append(value)
    date, date_problem = parse_date(raw_index.get("date", [None])[0])
    if date_problem:
        defects.append(MimeDefect(date_problem.split(":", 1)[0], date_problem))
    collector = _Collector()
    collector.walk(msg, 0, attached=False)
    text = "\n".join(collector.plain).strip() or "\n".join(collector.html).strip()
    report_type = _safe(lambda: msg.get_param("report-type"), None)
    return ParsedMail(
        raw_size=size,
        headers=tuple(headers),
        raw_headers=tuple(raw_headers),
        content_type=collector.parts[0].content_type if collector.parts else "text/plain",
        report_type=report_type.lower() if isinstance(report_type, str) else None,
        subject=index.get("subject", [""])[0],
        date=date,
        parts=tuple(collector.parts),
        text=text[:MAX_TEXT_CHARS],
        xml=tuple(collector.xml),
        report_fields=tuple(collector.report),
        defects=tuple(defects + collector.defects),
        _index={k: tuple(v) for k, v in index.items()},
        _raw_index={k: tuple(v) for k, v in raw_index.items()},
    )
