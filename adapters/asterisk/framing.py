"""AMI framing: bytes from the socket -> :class:`AmiMessage` objects.

An AMI connection starts with one banner line (``Asterisk Call Manager/9.0.0\\r\\n``, a single line
ending), then carries messages: ``Key: value`` lines ended by a blank line. This parser is on the hot
path of every event the monitor sees, so it is written for throughput:

* it works on bytes and decodes only complete messages, so a UTF-8 sequence split across two reads
  decodes correctly and invalid bytes become U+FFFD instead of vanishing;
* most of the real traffic (``VarSet``, ``RTCPSent``, ...) is noise for a service-level monitor; such
  messages are recognised from their first line and skipped without building a dict (but counted);
* memory is bounded: a line longer than ``max_line`` or a message longer than ``max_message`` is counted
  as a parse error and discarded up to the next blank line, however the bytes are chunked.

Line endings may be CRLF (what Asterisk sends), bare LF, or a mix of both.
"""

from __future__ import annotations

import logging
from itertools import repeat

from adapters.rejects import Rejections

__all__ = [
    "KEPT_NEWEXTEN_APPLICATIONS",
    "NOISE_EVENTS",
    "AmiMessage",
    "AmiParser",
]

#: Events skipped by default. ``VarSet`` alone is ~60 % of real traffic and RTCP reports arrive every few
#: seconds per media leg; none of them says anything about when a person answered or held a call.
#: ``Newexten`` (one per dialplan step) is skipped too, *except* when it enters an application listed in
#: :data:`KEPT_NEWEXTEN_APPLICATIONS`: entering VoiceMail or Queue is how a call's outcome is told apart.
#: Kept on purpose although frequent: ``DeviceStateChange``/``QueueMemberStatus`` (advisor availability),
#: ``NewConnectedLine``/``NewCallerid`` (who is connected), ``SuccessfulAuth`` (audit of other AMI logins),
#: ``Cdr`` (cross-check); together they are ~10 % of messages and cheap enough to parse.
NOISE_EVENTS: frozenset[str] = frozenset(
    {"VarSet", "RTCPSent", "RTCPReceived", "Newexten", "AGIExecStart", "AGIExecEnd", "DTMFBegin"}
)

#: Dialplan applications whose ``Newexten`` survives the noise filter (compared case-sensitively, as
#: Asterisk reports them).
KEPT_NEWEXTEN_APPLICATIONS: frozenset[str] = frozenset(
    {"VoiceMail", "VoiceMailMain", "Queue", "Dial", "Playback", "BackGround", "Answer", "Hangup"}
)

log = logging.getLogger(__name__)

_EVENT_PREFIX = b"Event: "
_APPLICATION_LINE = b"\nApplication: "
# A blank line is LF, optional CR, LF: "\r\n\r\n", "\n\n", "\r\n\n" and "\n\r\n" all contain one of these.
_TERM_CRLF = b"\n\r\n"
_TERM_LF = b"\n\n"


class AmiMessage:
    """One AMI message (event or response).

    ``headers`` maps each key to its *first* value; ``multi`` lists every value of the keys that
    repeated (``ChanVariable``, ``Variable``...), or is ``None`` when no key repeated; ``raw`` is the
    decoded message text including its terminating blank line, kept as audit evidence.
    """

    __slots__ = ("headers", "multi", "raw")

    def __init__(self, headers: dict[str, str], multi: dict[str, list[str]] | None = None, raw: str = ""):
        self.headers = headers
        self.multi = multi
        self.raw = raw

    def get(self, key: str, default: str = "") -> str:
        return self.headers.get(key, default)

    def getall(self, key: str) -> list[str]:
        """Every value of ``key`` in order (empty list if absent)."""
        if self.multi is not None and key in self.multi:
            return list(self.multi[key])
        value = self.headers.get(key)
        return [] if value is None else [value]

    @property
    def event(self) -> str:
        return self.headers.get("Event", "")

    @property
    def response(self) -> str:
        return self.headers.get("Response", "")

    @property
    def action_id(self) -> str:
        return self.headers.get("ActionID", "")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AmiMessage):
            return NotImplemented
        return self.headers == other.headers and self.multi == other.multi and self.raw == other.raw

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        kind = f"Event={self.event!r}" if "Event" in self.headers else f"Response={self.response!r}"
        return f"<AmiMessage {kind} keys={len(self.headers)}>"


def _names_as_bytes(names: frozenset[str]) -> frozenset[bytes]:
    # Both spellings so the first line can be looked up without stripping its optional CR.
    encoded = [n.encode() for n in names]
    return frozenset(encoded + [n + b"\r" for n in encoded])


class AmiParser:
    """Incremental AMI parser; feed it whatever ``read()`` returned.

    Counters: ``messages`` (returned), ``skipped`` (noise recognised and dropped), ``parse_errors``
    (malformed lines, oversize lines/messages; ``rejects.by_reason`` splits them by reason and logs them,
    rate-limited, without their content). ``banner`` is the connection's first line when it has
    no ``": "`` (``Asterisk Call Manager/9.0.0``); ``banner_done`` tells whether that line was seen yet.
    """

    def __init__(
        self,
        *,
        skip_events: frozenset[str] = NOISE_EVENTS,
        keep_applications: frozenset[str] = KEPT_NEWEXTEN_APPLICATIONS,
        max_line: int = 8192,
        max_message: int = 65536,
        expect_banner: bool = True,
    ) -> None:
        self.banner: str | None = None
        self.banner_done = not expect_banner
        self.messages = 0
        self.skipped = 0
        self.parse_errors = 0
        self.rejects = Rejections(log, "AMI input rejected")
        self._skip = _names_as_bytes(skip_events)
        self._conditional = _names_as_bytes(skip_events & {"Newexten"})
        self._keep_apps = _names_as_bytes(keep_applications)
        self._max_line = max_line
        self._max_message = max_message
        self._buf = bytearray()  # the unterminated tail of the stream
        self._line_start = 0  # offset in _buf where its last (unterminated) line starts
        self._discarding = False  # inside an oversize line/message: drop bytes up to a blank line
        self._carry = b""  # last bytes seen while discarding (a blank line may straddle two reads)

    # -- public -------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[AmiMessage]:
        if not data:
            return []
        if self._discarding:
            rest = self._discard(data)
            if rest is None:
                return []
            data = rest
        buf = self._buf
        if b"\n" not in data:
            # No line can have ended: append and enforce the bounds without rescanning (O(len(data))).
            buf += data
            self._check_tail()
            return []
        if buf:
            buf += data
            whole = bytes(buf)
        else:
            whole = data
        out: list[AmiMessage] = []
        pos = 0
        if not self.banner_done:
            pos = self._take_banner(whole)
            if pos < 0:  # banner line incomplete (cannot happen when data has a LF, but be safe)
                self._buf = bytearray(whole)
                self._check_tail()
                return out
        pos = self._parse_complete(whole, pos, out)
        tail = whole[pos:]
        self._buf = bytearray(tail)
        self._line_start = tail.rfind(b"\n") + 1
        # Complete lines of the unterminated message are bounded too, whatever the read sizes were.
        if len(tail) > self._max_line + 1 and self._has_long_line(tail):
            self._start_discard()
        else:
            self._check_tail()
        return out

    # -- internals ----------------------------------------------------------------------------------
    def _take_banner(self, whole: bytes) -> int:
        """Consume the first line if it is a banner; returns the offset where messages start."""
        nl = whole.find(b"\n")
        if nl < 0:
            return -1
        self.banner_done = True
        line = whole[:nl]
        if line.endswith(b"\r"):
            line = line[:-1]
        if b": " in line or len(line) > self._max_line:
            # A headerless stream (e.g. a capture cut mid-session), or junk that the message rules
            # (size bound, skip to the blank line) deal with exactly as they would in later reads.
            return 0
        self.banner = line.decode("utf-8", "replace")
        return nl + 1

    def _parse_complete(self, whole: bytes, pos: int, out: list[AmiMessage]) -> int:
        """Parse every complete message in ``whole[pos:]``; returns the offset of the unparsed tail."""
        find = whole.find
        skip = self._skip
        conditional = self._conditional
        max_message = self._max_message
        append = out.append
        n = len(whole)
        # Next occurrence of each blank-line form; -2 = not searched yet, -1 = none left in this buffer.
        next_crlf = next_lf = -2
        while pos < n:
            if next_crlf != -1 and next_crlf < pos:
                next_crlf = find(_TERM_CRLF, pos)
            if next_lf != -1 and next_lf < pos:
                next_lf = find(_TERM_LF, pos)
            if next_crlf < 0:
                if next_lf < 0:
                    break
                cut, end = next_lf, next_lf + 2
            elif 0 <= next_lf < next_crlf:
                cut, end = next_lf, next_lf + 2
            else:
                cut, end = next_crlf, next_crlf + 3
            # The message body is whole[pos:cut] (its last line ending is part of the terminator).
            if end - pos > max_message:
                self._error("message-too-long", f"{end - pos} bytes, limit {max_message}")
                pos = end
                continue
            if whole.startswith(_EVENT_PREFIX, pos):
                nl = find(b"\n", pos, cut + 1)
                name = whole[pos + 7 : nl]
                if name in skip and (name not in conditional or not self._keeps_application(whole, pos, cut)):
                    self.skipped += 1
                    pos = end
                    continue
            msg = self._build(whole[pos:cut], "\n\r\n" if end - cut == 3 else "\n\n")
            if msg is not None:
                append(msg)
            pos = end
        return pos

    def _keeps_application(self, whole: bytes, pos: int, cut: int) -> bool:
        j = whole.find(_APPLICATION_LINE, pos, cut)
        if j < 0:
            return False
        start = j + len(_APPLICATION_LINE)
        k = whole.find(b"\n", start, cut + 1)
        return whole[start:k] in self._keep_apps

    def _build(self, body_bytes: bytes, term: str) -> AmiMessage | None:
        body = body_bytes.decode("utf-8", "replace")
        raw = body + term
        if body.endswith("\r"):
            body = body[:-1]
        if len(body_bytes) > self._max_line and self._has_long_line(body_bytes):
            self._error("line-too-long", f"a line over {self._max_line} bytes")
            return None
        lines = body.split("\r\n")
        if body.count("\n") != len(lines) - 1:  # some bare-LF line endings: split the slow way
            lines = [ln[:-1] if ln.endswith("\r") else ln for ln in body.split("\n")]
        try:
            # Fast path: every line is "Key: value" and no key repeats.
            headers = dict(map(str.split, lines, repeat(": "), repeat(1)))
        except ValueError:
            return self._build_slow(lines, raw)
        if len(headers) != len(lines):
            return self._build_slow(lines, raw)
        self.messages += 1
        return AmiMessage(headers, None, raw)

    def _build_slow(self, lines: list[str], raw: str) -> AmiMessage | None:
        headers: dict[str, str] = {}
        multi: dict[str, list[str]] | None = None
        for line in lines:
            key, sep, value = line.partition(": ")
            if not sep:
                if line.strip("\r\n"):  # blank leftovers of extra newlines are not errors
                    self._error("line-without-separator", f"{len(line)} characters, no ': '")
                continue
            if key in headers:
                if multi is None:
                    multi = {}
                values = multi.get(key)
                if values is None:
                    multi[key] = [headers[key], value]
                else:
                    values.append(value)
            else:
                headers[key] = value
        if not headers:
            return None
        self.messages += 1
        return AmiMessage(headers, multi, raw.lstrip("\r\n"))

    def _has_long_line(self, body: bytes) -> bool:
        limit = self._max_line
        start = 0
        while True:
            nl = body.find(b"\n", start)
            if nl < 0:
                return len(body) - start > limit + 1
            if nl - start > limit + 1:  # +1: the CR of a CRLF ending is not part of the line
                return True
            start = nl + 1

    def _check_tail(self) -> None:
        buf = self._buf
        if len(buf) > self._max_message or len(buf) - self._line_start > self._max_line + 1:
            self._start_discard()

    def _error(self, reason: str, detail: str) -> None:
        self.parse_errors += 1
        self.rejects.add(reason, detail)

    def _start_discard(self) -> None:
        self._error("oversize-discarded", f"over {self._max_message} bytes or a line over {self._max_line}")
        self._discarding = True
        self._carry = bytes(self._buf[-2:])
        self._buf = bytearray()
        self._line_start = 0
        self.banner_done = True

    def _discard(self, data: bytes) -> bytes | None:
        """Drop bytes up to and including the next blank line; returns what follows it, if any."""
        joined = self._carry + data
        a = joined.find(_TERM_CRLF)
        b = joined.find(_TERM_LF)
        if a < 0 and b < 0:
            self._carry = joined[-2:]
            return None
        end = b + 2 if a < 0 or 0 <= b < a else a + 3
        self._discarding = False
        self._carry = b""
        return joined[end:]
