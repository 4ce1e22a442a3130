"""Messages up to 50 MB: a result every time, and memory bounded.

Only the first ``MAX_PARSE_BYTES`` (8 MiB) of a message are parsed, so the memory a message costs
stops growing with its size: measured peaks (tracemalloc, Python allocations while translating a
fetched message the IMAP source already holds) are 1.3x (10,000 parts), 1.6x (one large attachment)
and 2.1x (one non-ASCII text part: the parser holds it as a 4-bytes-a-character string) the message
size. The bound asserted: under 2.5x the size (joining header and body before cutting made it 3x)
and under 16x ``MAX_PARSE_BYTES`` whatever the size. Floods of tiny parts, header fields or lines
(email's parser keeps an object for each) are cut before parsing: 8 MiB of them stay under 64 MB.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import pytest

from adapters.imap.fetched import FetchedMessage
from adapters.imap.mime import MAX_PARSE_BYTES, ParsedMail, parse_message
from adapters.imap.translate import translate_fetched
from tests.fuzz.mail import DEALER, KEY, fetched

MB = 1024 * 1024
SIZE = 50 * MB
HEAD = b"From: Ana Lima <ana.lima@example.org>\nDate: Tue, 24 Nov 2026 10:00:00 -0500\n"


def large_attachment() -> bytes:
    head = (
        HEAD + b'Subject: photos\nContent-Type: multipart/mixed; boundary="B"\n\n'
        b"--B\nContent-Type: text/plain\n\nPlease call me back about the brakes.\n"
        b"--B\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
        b'Content-Disposition: attachment; filename="scan.pdf"\n\n'
    )
    line = b"QUFB" * 19 + b"\n"
    return head + line * ((SIZE - len(head)) // len(line)) + b"--B--\n"


def large_text() -> bytes:
    head = HEAD + b"Subject: long\nContent-Type: text/plain; charset=utf-8\n\n"
    line = "Please call me back about the brakes, merci beaucoup, é.\n".encode()
    return head + line * ((SIZE - len(head)) // len(line))


def many_parts() -> bytes:
    head = HEAD + b'Subject: many\nContent-Type: multipart/mixed; boundary="B"\n\n'
    part = SIZE // 10_000
    chunks = [head]
    for i in range(10_000):
        start = b"--B\nContent-Type: text/plain\n\npart %d " % i
        chunks.append(start + b"x" * (part - len(start) - 1) + b"\n")
    chunks.append(b"--B--\n")
    return b"".join(chunks)


@pytest.mark.parametrize("build", [large_attachment, large_text, many_parts], ids=lambda f: f.__name__)
def test_a_50mb_message_gives_a_result_with_bounded_memory(build: Callable[[], bytes]) -> None:
    message: FetchedMessage = fetched(build())
    size = message.size
    assert size >= 49 * MB
    tracemalloc.start()
    try:
        seen, defects = translate_fetched(message, DEALER, KEY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2.5 * size and peak < 16 * MAX_PARSE_BYTES, f"{peak / MB:.0f} MB for {size / MB:.0f} MB"
    codes = {d.code for d in defects}
    assert "message-truncated" in codes  # the rest was not read, and that is on record
    assert seen.classification.kind == "human"
    assert seen.customer_masked is not None and "ana.lima" not in seen.customer_masked
    assert seen.date == 1_795_532_400.0
    if build is many_parts:
        assert "too-many-parts" in codes or "text-truncated" in codes


def _peak(raw: bytes) -> tuple[int, ParsedMail]:
    tracemalloc.start()
    try:
        mail = parse_message(raw)
        return tracemalloc.get_traced_memory()[1], mail
    finally:
        tracemalloc.stop()


EIGHT = 8 * MB - 1024
FLOODS = {
    # regressions, peaks measured before the cuts: ~460 MB (1.6 million empty parts), 227 MB (a million
    # header fields), 293 MB (4 million short lines), 206 MB (a million fields in one part's header)
    "empty-parts": b'Content-Type: multipart/mixed; boundary="b"\n\n' + b"--b\n\n" * (EIGHT // 5),
    "header-fields": b"X-A: 1\n" * (EIGHT // 7) + b"\nhello\n",
    "short-lines": b"Content-Type: text/plain\n\n" + b"a\n" * (EIGHT // 2),
    "part-header-fields": b'Content-Type: multipart/mixed; boundary="b"\n\n--b\n'
    + b"X-A: 1\n" * (EIGHT // 7),
}


@pytest.mark.parametrize("shape", sorted(FLOODS))
def test_8mb_of_tiny_parts_fields_or_lines_stays_within_a_fixed_memory(shape: str) -> None:
    raw = b"Subject: flood\nFrom: ana@example.org\n" + FLOODS[shape]
    peak, mail = _peak(raw)
    assert peak < 64 * MB, f"{peak / MB:.0f} MB"
    assert mail.subject == "flood" and mail.addresses("from") == [("", "ana@example.org")]
    assert {"message-truncated", "too-many-headers"} & {d.code for d in mail.defects}
