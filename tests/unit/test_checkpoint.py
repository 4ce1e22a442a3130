"""Live calls checkpointed mid-traffic and restored into a fresh tracker give exactly the records an
uninterrupted tracker gives, and a restored tracker never makes a second record of a stored call."""

from __future__ import annotations

import json

import pytest

from adapters.asterisk.framing import AmiMessage, AmiParser
from adapters.asterisk.pipeline import AmiCallPipeline
from adapters.asterisk.synthetic import TrafficGenerator, TrafficProfile
from monitor.bootstrap import call_service
from monitor.config import Settings, open_24_7_site
from monitor.domain import events as ev
from monitor.domain.calls import CompletedCall
from monitor.domain.checkpoint import CheckpointError, timeline_from_dict, timeline_to_dict
from monitor.service.calls import CallService

KEY = b"checkpoint-test-key-0123456789"


def _messages(seed: int, n: int) -> list[tuple[float, AmiMessage]]:
    generator = TrafficGenerator(TrafficProfile(calls_per_hour=400), seed=seed, start=1.8e9)
    parser = AmiParser(expect_banner=False)
    return [(t, m) for t, raw in generator.calls(n) for m in parser.feed(raw.encode())]


def _service(out: list[CompletedCall]) -> CallService:
    settings = Settings(site=[open_24_7_site("x")])
    return call_service(settings, settings.site[0], KEY, [out.append])


def _feed(service: CallService, messages: list[tuple[float, AmiMessage]]) -> None:
    pipeline = AmiCallPipeline(service)
    for t, message in messages:
        pipeline.on_message(message, t)


@pytest.mark.parametrize(("seed", "cut"), [(1, 0.3), (2, 0.5), (3, 0.8)])
def test_restored_calls_end_with_the_figures_of_an_uninterrupted_run(seed: int, cut: float) -> None:
    messages = _messages(seed, 150)
    whole: list[CompletedCall] = []
    _feed(_service(whole), messages)

    k = int(len(messages) * cut)
    before: list[CompletedCall] = []
    first = _service(before)
    _feed(first, messages[:k])
    live = first.tracker.live_calls
    assert len(live) >= 3, "the cut falls in the middle of several calls"
    # Through JSON text, as stored.
    saved = {
        call_id: (json.loads(json.dumps(timeline_to_dict(call))), list(first.evidence_of(call_id)))
        for call_id, call in live.items()
    }
    after: list[CompletedCall] = []
    second = _service(after)
    restored = [(timeline_from_dict(state), evidence) for state, evidence in saved.values()]
    second.restore(restored, [c.record.call_id for c in before], heard_until=messages[k - 1][0])
    assert set(second.tracker.live_calls) == set(saved)
    _feed(second, messages[k:])

    assert not second.tracker.live_calls
    got = {c.record.call_id: c for c in before + after}
    assert len(got) == len(before) + len(after) == len(whole) == 150
    for completed in whole:
        mine = got[completed.record.call_id]
        assert mine.record.to_dict() == completed.record.to_dict()
        assert mine.evidence == completed.evidence


def test_stored_calls_are_remembered_and_a_straggler_makes_no_record() -> None:
    messages = _messages(4, 30)
    before: list[CompletedCall] = []
    first = _service(before)
    _feed(first, messages)
    assert len(before) == 30
    after: list[CompletedCall] = []
    second = _service(after)
    second.restore([], [c.record.call_id for c in before], heard_until=messages[-1][0])
    done = before[0].record
    # A late Newchannel/Hangup of a stored call (a retransmission after the restart).
    second.ingest(
        [ev.ChannelCreated(done.ended_at + 1, done.call_id, done.call_id, "carrier1", "1", "600", "")]
    )
    assert after == [] and not second.tracker.live_calls
    assert second.tracker.stats.late_events == 1


def test_a_restored_call_is_heard_of_no_later_than_the_heartbeat() -> None:
    messages = _messages(5, 40)
    first = _service([])
    _feed(first, messages[: len(messages) // 2])
    call = next(iter(first.tracker.live_calls.values()))
    state = timeline_to_dict(call)
    second = _service([])
    heartbeat = call.last_t - 0.5  # the PBX clock runs a little ahead of ours
    second.restore([(timeline_from_dict(state), [])], [], heard_until=heartbeat)
    assert second.tracker.live_calls[call.call_id].last_t == heartbeat


def test_unknown_format_is_refused() -> None:
    first = _service([])
    _feed(first, _messages(6, 10)[:40])
    state = timeline_to_dict(next(iter(first.tracker.live_calls.values())))
    with pytest.raises(CheckpointError, match="format"):
        timeline_from_dict(state | {"v": 99})
    with pytest.raises(CheckpointError, match="incomplete"):
        timeline_from_dict({k: v for k, v in state.items() if k != "channels"})


def test_restored_call_resumes_after_the_gap_with_what_the_listing_shows() -> None:
    """Across the restart advisor 201 rang out (its channel is gone from the listing) and 202 answered
    (listed Up, the answer itself unseen): the caller's hang-up then closes the call, answered by 202,
    instead of the vanished 201 leg keeping it open until the stale timer."""
    t0, gap_start, relisted = 1.8e9, 1.8e9 + 10, 1.8e9 + 20
    out: list[CompletedCall] = []
    first = _service(out)
    first.ingest(
        [
            ev.ChannelCreated(t0, "c.1", "c.1", "carrier1", "+13135550100", "600", "from-pstn"),
            ev.ChannelCreated(t0 + 1, "c.1", "c.2", "201", "201", "", "desk"),
            ev.DialStarted(t0 + 1, "c.1", "c.1", "c.2", "201"),
            ev.DialRinging(t0 + 1.2, "c.1", "c.1", "c.2"),
            ev.ChannelCreated(t0 + 8, "c.1", "c.3", "202", "202", "", "desk"),
            ev.DialStarted(t0 + 8, "c.1", "c.1", "c.3", "202"),
        ]
    )
    state = json.loads(json.dumps(timeline_to_dict(first.tracker.live_calls["c.1"])))
    second = _service(out)
    second.restore([(timeline_from_dict(state), [])], [], heard_until=gap_start)
    listing = [
        ev.CallSnapshot(relisted, "c.1", "c.1", "carrier1", "+13135550100", "600", "from-pstn", "Up", t0),
        ev.CallSnapshot(relisted, "c.1", "c.3", "202", "202", "", "desk", "Up", t0 + 8),
    ]
    second.resync(listing, relisted, gap_start)
    assert out == []
    second.ingest(
        [
            ev.ChannelHungUp(relisted + 5, "c.1", "c.3", 16, "Up"),
            ev.ChannelHungUp(relisted + 5, "c.1", "c.1", 16, "Up"),
        ]
    )
    [done] = [c.record for c in out]
    assert (done.outcome, done.answered_by, done.answered_at) == ("answered", "202", relisted)
    assert done.approximate and done.closed_reason == "hangup" and done.ended_at == relisted + 5
    assert [(leg.agent, leg.answered, leg.status) for leg in done.legs] == [
        ("201", False, "CANCEL"),
        ("202", True, "ANSWER"),
    ]
