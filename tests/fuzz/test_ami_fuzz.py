"""Bad AMI input, fuzzed over the real captures: framing -> translation -> pipeline -> tracker.

Properties: nothing raises; how the bytes are chunked changes nothing; garbage between messages,
duplicated messages and events nobody measures change no figure; every rejected message is counted
under a reason; the captures' SIP ground truth still holds after duplication.
(Reorders and odd header values: tests/fuzz/test_ami_reorder.py.)
"""

from __future__ import annotations

import logging
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.asterisk.framing import NOISE_EVENTS, AmiMessage, AmiParser
from adapters.asterisk.translate import TRANSLATORS
from monitor.domain.privacy import key_number
from tests.fuzz.ami import (
    KEY,
    Item,
    Run,
    capture_items,
    messages_with_times,
    run_items,
    run_messages,
    scenario,
    scenario_names,
    split,
)
from tests.ground_truth import expected_calls
from tests.integration.test_replay_captures import check_call

NAMES = scenario_names()
TS_NAMES = [n for n in NAMES if n.startswith("ts_")]


@pytest.fixture(scope="module")
def baselines() -> dict[str, Run]:
    return {name: run_items(capture_items(name)) for name in NAMES}


def _garbage() -> st.SearchStrategy[bytes]:
    """Bytes that form no blank line (so they stay one bad message) and name no header that matters."""
    tokens = st.sampled_from([b": ", b"\r\n", b"\n", b"\xff\xfe", b"Linkedid", b"Uniqueid: ", b"\x00", b"\r"])
    raw = st.lists(st.one_of(st.binary(max_size=40), tokens), max_size=8).map(b"".join)
    return raw.filter(
        lambda g: b"\n\n" not in g and b"\n\r\n" not in g and not g.startswith((b"\n", b"\r\n"))
    ).filter(lambda g: all(w not in g for w in (b"Event", b"Response", b"ActionID", b"Timestamp")))


def _oversize() -> st.SearchStrategy[bytes]:
    """Junk past the parser's bounds (a line over 8 KiB, a message over 64 KiB), without a blank line."""
    line = st.integers(8200, 20_000).map(lambda n: b"x" * n)
    message = st.integers(3300, 4000).map(lambda n: b"Key: value-value\r\n" * n)
    return st.one_of(line, message, line.map(lambda x: b"Event: Hangup\r\nUniqueid: " + x))


def _is_blank(garbage: bytes) -> bool:
    return not garbage.decode("utf-8", "replace").strip("\r\n")


def _accounted(run: Run) -> None:
    """Every message the pipeline saw landed in exactly one bucket, every rejection has a reason."""
    s = run.pipeline.stats
    assert s.messages == s.translated + s.no_figure + s.unknown_events + s.rejected
    assert run.pipeline.rejects.total == s.rejected + s.bad_timestamps
    assert run.parser.rejects.total == run.parser.parse_errors


def _times_for(messages: list[AmiMessage], reference: list[tuple[AmiMessage, float]]) -> list[float]:
    """Receive time of each parsed message: the recorded one for real messages, the previous one for
    garbage (which is what the live source would stamp on it)."""
    out, j, last = [], 0, 0.0
    for m in messages:
        if j < len(reference) and m == reference[j][0]:
            last = reference[j][1]
            j += 1
        out.append(last)
    assert j == len(reference), "every real message came through"
    return out


@given(
    name=st.sampled_from(NAMES),
    cuts=st.lists(st.integers(min_value=0), max_size=60),
    garbage=st.lists(st.tuples(st.integers(min_value=1), _garbage() | _oversize()), max_size=6),
)
def test_chunking_and_garbage_change_no_figure(
    baselines: dict[str, Run], name: str, cuts: list[int], garbage: list[tuple[int, bytes]]
) -> None:
    items = list(capture_items(name))
    reference = messages_with_times(items)
    segments = [data for _, data in items]
    for pos, junk in sorted(garbage, reverse=True):
        segments.insert(1 + pos % len(segments), b"\r\n" + junk + b"\r\n\r\n")
    stream = b"".join(segments)
    parser = AmiParser()
    messages = [m for chunk in split(stream, cuts) for m in parser.feed(chunk)]
    run = run_messages(list(zip(messages, _times_for(messages, reference), strict=True)), parser)
    assert run.figures == baselines[name].figures
    nonblank = sum(not _is_blank(junk) for _, junk in garbage)
    assert run.parser.parse_errors + run.pipeline.stats.rejected >= nonblank
    _accounted(run)


@given(name=st.sampled_from(TS_NAMES), cuts=st.lists(st.integers(min_value=0), max_size=60))
def test_with_timestamps_even_the_read_times_do_not_matter(
    baselines: dict[str, Run], name: str, cuts: list[int]
) -> None:
    """Under ``timestampevents = yes`` a message's time is its own, whichever read completed it."""
    items = capture_items(name)
    ends, pos = [], 0
    for _, data in items:
        pos += len(data)
        ends.append(pos)
    stream, chunks, offset = b"".join(d for _, d in items), [], 0
    for chunk in split(stream, cuts):
        offset += len(chunk)
        i = next((k for k, e in enumerate(ends) if e >= offset), len(items) - 1)
        chunks.append((items[i][0], chunk))
    assert run_items(chunks).figures == baselines[name].figures


def _duplicated(items: tuple[Item, ...], picks: list[int]) -> list[Item]:
    chosen = {p % len(items) for p in picks}
    out: list[Item] = []
    for i, item in enumerate(items):
        out.append(item)
        if i in chosen and i > 0:
            out.append(item)  # a resend: same bytes, same receive time
    return out


@given(name=st.sampled_from(NAMES), picks=st.lists(st.integers(min_value=0), max_size=80))
def test_duplicated_messages_change_no_figure(baselines: dict[str, Run], name: str, picks: list[int]) -> None:
    run = run_items(_duplicated(capture_items(name), picks))
    assert run.figures == baselines[name].figures
    _accounted(run)


_HOLD_STARTS = (b"Event: Hold\r\n", b"Event: MusicOnHoldStart\r\n")
_HOLD_ENDS = (b"Event: Unhold\r\n", b"Event: MusicOnHoldStop\r\n")


@given(
    name=st.sampled_from(NAMES),
    copies=st.lists(st.tuples(st.integers(min_value=1), st.integers(1, 5)), min_size=1, max_size=6),
)
def test_late_duplicates_change_no_figure_except_a_replayed_hold(
    baselines: dict[str, Run], name: str, copies: list[tuple[int, int]]
) -> None:
    """A copy arriving up to five messages late is harmless, with one exception that cannot be undone:
    a Hold (or the caller's hold music) replayed after the hold ended is, without sequence numbers,
    the advisor holding again, and opens a second hold. Those copies are not made here."""
    items = list(capture_items(name))
    parser = AmiParser()
    kept = [i for i, (_, data) in enumerate(items) if i > 0 and parser.feed(data)]
    inserts: list[tuple[int, Item]] = []
    for pick, late in copies:
        k = pick % len(kept)
        at = kept[min(k + late, len(kept) - 1)]
        source = items[kept[k]]
        passed = [items[j][1] for j in range(kept[k] + 1, at + 1)]
        if source[1].startswith(_HOLD_STARTS) and any(d.startswith(_HOLD_ENDS) for d in passed):
            continue
        inserts.append((at + 1, source))
    for at, item in sorted(inserts, key=lambda x: x[0], reverse=True):
        items.insert(at, item)
    assert run_items(items).figures == baselines[name].figures


@pytest.mark.parametrize("name", NAMES)
def test_ground_truth_holds_with_every_message_duplicated(name: str) -> None:
    items = capture_items(name)
    run = run_items(_duplicated(items, list(range(len(items)))))
    inbound = [c.record for c in run.completed if c.record.direction == "inbound"]
    expected = expected_calls(scenario(name))
    assert len(inbound) == len(expected)
    for exp in expected:
        (record,) = [r for r in inbound if r.caller_key == key_number(KEY, exp.caller_number)]
        check_call(record.to_dict(), exp)
    assert run.live_after == 0


@pytest.mark.parametrize("name", NAMES)
def test_a_whole_capture_replayed_again_opens_no_second_call(baselines: dict[str, Run], name: str) -> None:
    items = capture_items(name)
    run = run_items(items + items[1:])  # the reconnect replays everything after the banner
    assert run.figures == baselines[name].figures
    assert run.pipeline.service.tracker.stats.late_events > 0


def _unknown_event() -> st.SearchStrategy[bytes]:
    known = set(TRANSLATORS) | NOISE_EVENTS | {"CoreShowChannel", "QueueEntry"}
    name = st.text(st.characters(min_codepoint=65, max_codepoint=122), min_size=1, max_size=20).filter(
        lambda n: n not in known and ":" not in n and "\\" not in n
    )
    value = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=30)
    key = st.sampled_from(["Uniqueid", "Linkedid", "Channel", "DestUniqueid", "Cause", "Queue", "X-Other"])
    headers = st.lists(st.tuples(key, value), max_size=6)
    return st.builds(
        lambda n, hs: (f"Event: {n}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs) + "\r\n").encode(),
        name,
        headers,
    )


@given(
    name=st.sampled_from(NAMES),
    injected=st.lists(st.tuples(st.integers(min_value=1), _unknown_event()), max_size=10),
)
def test_unknown_events_change_no_figure_and_are_counted(
    baselines: dict[str, Run], name: str, injected: list[tuple[int, bytes]]
) -> None:
    items = list(capture_items(name))
    for pos, data in sorted(injected, reverse=True):
        at = 1 + pos % len(items)
        items.insert(at, (items[at - 1][0], data))
    run = run_items(items)
    assert run.figures == baselines[name].figures
    base = baselines[name].pipeline.stats
    assert run.pipeline.stats.unknown_events == base.unknown_events + len(injected)
    _accounted(run)


@given(name=st.sampled_from(NAMES), cut=st.integers(min_value=0))
def test_a_stream_cut_anywhere_never_raises_and_closes_every_call(name: str, cut: int) -> None:
    stream = b"".join(d for _, d in capture_items(name))
    items = capture_items(name)
    end = cut % (len(stream) + 1)
    kept: list[Item] = []
    offset = 0
    for t, data in items:
        if offset >= end:
            break
        kept.append((t, data[: end - offset]))
        offset += len(data)
    run = run_items(kept)
    assert not run.pipeline.service.tracker.live_calls
    for record in run.figures:
        assert math.isfinite(record["arrived_at"]) and record["ended_at"] >= record["arrived_at"]
    _accounted(run)


def test_a_flood_of_bad_input_is_counted_exactly_and_logged_a_few_times(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = b"no separator here\r\n\r\n" * 5000 + b"Key: v\r\n\r\n" * 5000
    with caplog.at_level(logging.DEBUG):
        run = run_items([(1.0, bad)], AmiParser(expect_banner=False))
    assert run.parser.rejects.by_reason == {"line-without-separator": 5000}
    assert run.pipeline.rejects.by_reason == {"no-event-name": 5000}
    assert run.pipeline.stats.rejected == 5000
    lines = [r.getMessage() for r in caplog.records]
    assert 2 <= len(lines) <= 4, lines
    assert any("line-without-separator" in line for line in lines)
    assert any("no-event-name" in line for line in lines)


@given(
    name=st.sampled_from(NAMES),
    cuts=st.lists(st.tuples(st.integers(min_value=1), st.integers(min_value=0)), min_size=1, max_size=6),
)
def test_messages_truncated_mid_stream_never_raise_and_are_counted(
    name: str, cuts: list[tuple[int, int]]
) -> None:
    """A message cut short (a dropped segment, a PBX crash mid-write) still ends at a blank line."""
    items = list(capture_items(name))
    for pos, keep in cuts:
        i = 1 + pos % (len(items) - 1)
        t, data = items[i]
        body = data.rstrip(b"\r\n")
        items[i] = (t, body[: keep % (len(body) + 1)] + b"\r\n\r\n")
    run = run_items(items)
    assert not run.pipeline.service.tracker.live_calls
    for record in run.figures:
        assert record["call_id"] and record["ended_at"] >= record["arrived_at"]
    _accounted(run)
