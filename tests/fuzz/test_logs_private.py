"""No personal data and no secret reaches a log record, however broken the input that gets logged.

The AMI path (parser -> pipeline -> call service -> tracker) and the mail path (pipeline -> MIME ->
classification -> translation -> inquiry service) run with every logger at DEBUG on inputs full of
phone numbers, email addresses, names and the configured secret, placed where rejections quote
things: unknown event names, lines without a separator, oversize lines, missing ids, bad
timestamps, broken headers. Masked forms (``+1313555****``, ``a***@example.org``) may appear; the
values themselves never. (The whole daemon with every secret configured:
tests/e2e/test_secrets_never_logged.py.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import given
from hypothesis import strategies as st

from adapters.asterisk.framing import AmiParser
from tests.fuzz.ami import capture_items, run_items, scenario, scenario_names
from tests.fuzz.mail import broken_messages, fetched
from tests.fuzz.test_mime_fuzz import pipeline

SECRET = "s3cr3t-AMI-and-IMAP-pa55word"
PHONES = ["+13135550103", "3135550177", "+44 20 7946 0958", "(313) 555-0142"]
EMAILS = ["ana.lima@example.org", "fran.fleet@customer.example"]
NAMES = ["Fran Fleet", "Ana Lima", "Joana Ferreira"]
SENSITIVE = [SECRET, *PHONES, *EMAILS, *NAMES]


def _callers() -> list[str]:
    """The real callers' numbers and names of the captures."""
    out = []
    for name in scenario_names():
        for call in scenario(name)["ground_truth_sip"]["customer_calls"]:
            out.append(call["caller_number"])
    return sorted(set(out))


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        if record.exc_info:
            self.lines.append(logging.Formatter().formatException(record.exc_info))


@contextmanager
def _every_log_line() -> Iterator[list[str]]:
    """Every record of every logger at DEBUG (a hypothesis test cannot take pytest's caplog)."""
    root = logging.getLogger()
    handler, level = _Records(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _assert_private(lines: list[str], extra: list[str] = []) -> None:  # noqa: B006 - read only
    assert lines, "the bad input was logged (else this test proves nothing)"
    text = "\n".join(lines)
    for value in SENSITIVE + extra:
        assert value not in text, value
        digits = "".join(ch for ch in value if ch.isdigit())
        if len(digits) >= 7:
            assert digits not in "".join(ch for ch in text if ch.isdigit() or ch == "\n"), value


_TOKEN = st.sampled_from(SENSITIVE)


def _bad_ami(token: str, shape: int) -> bytes:
    text = [
        f"Event: {token}\r\nUniqueid: 1.1\r\n\r\n",  # unknown event named after a person
        f"{token}\r\nEvent: Hangup\r\n\r\n",  # a line without separator
        f"Event: Newchannel\r\nCallerIDNum: {token}\r\nCallerIDName: {token}\r\n\r\n",  # no ids
        f"Event: Hangup\r\nUniqueid: 9.9\r\nTimestamp: {token}\r\n\r\n",  # bad timestamp
        f"Event: VarSet\r\nValue: {token * 2000}\r\n\r\n",  # oversize line
        f"CallerIDNum: {token}\r\n\r\n",  # neither Event nor Response
        f"Event: DialBegin\r\nLinkedid: {token}\r\nUniqueid: 1.2\r\nDestChannel: SIP/{token}\r\n\r\n",
    ][shape % 7]
    return text.encode()


@given(
    name=st.sampled_from(scenario_names()),
    bad=st.lists(st.tuples(st.integers(min_value=1), _TOKEN, st.integers(0, 6)), min_size=1, max_size=8),
)
def test_no_personal_data_or_secret_in_ami_logs(name: str, bad: list[tuple[int, str, int]]) -> None:
    items = list(capture_items(name))
    for pos, token, shape in bad:
        at = 1 + pos % len(items)
        items.insert(at, (items[at - 1][0], _bad_ami(token, shape)))
    with _every_log_line() as lines:
        run_items(items, AmiParser())
    _assert_private(lines, _callers())


def _with_data(raw: bytes, token: str) -> bytes:
    head = (
        f"From: {NAMES[0]} <{EMAILS[0]}>\nReply-To: {token}\nTo: <{EMAILS[1]}>\n"
        f"Subject: =?utf-8?q?{token}?= =?bogus?b?{token}?=\nDate: {token}\nX-Phone: {PHONES[0]}\n"
    )
    return head.encode() + raw + f"\n{token} {PHONES[1]} {SECRET}\n".encode()


@given(raws=st.lists(broken_messages(), min_size=1, max_size=3), token=_TOKEN)
def test_no_personal_data_or_secret_in_mail_logs(raws: list[bytes], token: str) -> None:
    p = pipeline()
    with _every_log_line() as lines:
        p.on_messages([fetched(_with_data(raw, token), uid=i + 1) for i, raw in enumerate(raws)])
    _assert_private(lines)
