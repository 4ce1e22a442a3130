"""One test per bug the AMI fuzzing found, on the smallest input that showed it."""

from __future__ import annotations

import math

from adapters.asterisk.framing import AmiParser
from adapters.asterisk.translate import event_time, queue_entries, snapshot, translate
from monitor.domain import events as ev
from tests.fuzz.ami import run_items
from tests.unit.test_tracker import T0, Call, answered_queue_call, tracker

NEWCHANNEL = (
    "Event: Newchannel\r\nChannel: SIP/carrier1-00000004\r\nChannelStateDesc: Down\r\n"
    "CallerIDNum: +13135550103\r\nContext: from-pstn\r\nExten: 600\r\n{ids}{extra}\r\n"
)
HANGUP = "Event: Hangup\r\nChannel: SIP/carrier1-00000004\r\nCause: 16\r\n{ids}{extra}\r\n"
IDS = "Uniqueid: 1.4\r\nLinkedid: 1.4\r\n"


def _run(*messages: str, t: float = T0) -> object:
    return run_items([(t + i, m.encode()) for i, m in enumerate(messages)], AmiParser(expect_banner=False))


def test_nan_and_infinite_timestamps_fall_back_to_the_receive_time() -> None:
    # float() accepts "nan" and "inf": a NaN event time made every figure of the call NaN.
    for bad in ("nan", "inf", "-inf", "1e999", "NaN"):
        assert event_time({"Timestamp": bad}, 5.0) == 5.0
    run = _run(NEWCHANNEL.format(ids=IDS, extra="Timestamp: nan\r\n"), HANGUP.format(ids=IDS, extra=""))
    (record,) = run.figures  # type: ignore[attr-defined]
    assert record["arrived_at"] == T0 and math.isfinite(record["ended_at"])
    assert run.pipeline.stats.bad_timestamps == 1  # type: ignore[attr-defined]
    assert run.pipeline.rejects.by_reason == {"bad-timestamp": 1}  # type: ignore[attr-defined]


def test_nan_queue_wait_and_duration_are_not_numbers() -> None:
    (abandon,) = translate({"Event": "QueueCallerAbandon", "Uniqueid": "1.4", "HoldTime": "nan"}, 1.0)
    assert isinstance(abandon, ev.QueueAbandoned) and abandon.waited_s is None
    assert queue_entries([{"Event": "QueueEntry", "Uniqueid": "1.4", "Wait": "inf"}]) == {}
    snap = snapshot({"Event": "CoreShowChannel", "Uniqueid": "1.4", "Duration": "nan"}, 100.0)
    assert snap is not None and snap.started_at == 100.0


def test_events_without_ids_are_rejected_not_filed_under_an_empty_call() -> None:
    # A Newchannel with neither Uniqueid nor Linkedid opened call "" that every other id-less event joined.
    run = _run(NEWCHANNEL.format(ids="", extra=""), HANGUP.format(ids="", extra=""))
    assert run.figures == []  # type: ignore[attr-defined]
    assert run.pipeline.rejects.by_reason == {"missing-id": 2}  # type: ignore[attr-defined]
    assert run.pipeline.stats.rejected == 2  # type: ignore[attr-defined]
    dial = "Event: DialBegin\r\nUniqueid: 1.4\r\nLinkedid: 1.4\r\nDestChannel: SIP/201-5\r\n\r\n"
    assert _run(dial).pipeline.rejects.by_reason == {"missing-id": 1}  # type: ignore[attr-defined]


def test_an_action_response_is_not_a_rejection() -> None:
    run = _run("Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n")
    assert run.pipeline.stats.rejected == 0 and run.pipeline.stats.no_figure == 1  # type: ignore[attr-defined]


# -- races inside Asterisk: neighbours in the same millisecond delivered the other way round -------


def _legs(events: list[ev.CallEvent]) -> list[tuple[str, str | None]]:
    (record,) = tracker().apply_all(events)
    return [(leg.agent, leg.status) for leg in record.legs]


def test_cancel_racing_ahead_of_noanswer_keeps_the_specific_reason() -> None:
    c = Call("1.1").queue(1.6).ring("1.1a", "201", 2)
    tail = Call("1.1")
    tail.out = []
    tail.dial_end("1.1a", 17, "CANCEL").dial_end("1.1a", 17, "NOANSWER").hangup("1.1a", 17).hangup("1.1", 20)
    assert _legs(c.out + tail.out) == [("201", "NOANSWER")]


def test_hangup_racing_ahead_of_its_dialend_keeps_the_dialend_status() -> None:
    c = (
        Call("1.1")
        .ring("1.1a", "201", 1)
        .hangup("1.1a", 21)
        .dial_end("1.1a", 21, "NOANSWER")
        .hangup("1.1", 22)
    )
    assert _legs(c.out) == [("201", "NOANSWER")]


def test_agent_connect_racing_ahead_of_queue_leave_keeps_the_earliest_leave() -> None:
    c = Call("1.1").queue(1.6).ring("1.1a", "201", 1.7)
    c.add(
        ev.DialEnded(c.at(13.7002), "1.1", "1.1", "1.1a", "ANSWER"),
        ev.AgentConnected(c.at(13.7002), "1.1", "1.1", "service", "1.1a", "201"),
        ev.QueueLeft(c.at(13.7001), "1.1", "1.1", "service"),
    ).hangup("1.1", 22).hangup("1.1a", 22)
    (record,) = tracker().apply_all(c.out)
    assert record.queue_wait_s == round(13.7001 - 1.6, 3)


def test_hold_music_racing_ahead_of_hold_is_ended_by_the_unhold() -> None:
    base = answered_queue_call("1.1").out[:-2]
    hold: list[ev.CallEvent] = [
        ev.MusicStarted(T0 + 15.0002, "1.1", "1.1"),
        ev.HoldStarted(T0 + 15.0001, "1.1", "1.1a"),
        ev.HoldEnded(T0 + 50.0, "1.1", "1.1a"),
        ev.MusicStopped(T0 + 50.0006, "1.1", "1.1"),
    ]
    end: list[ev.CallEvent] = [
        ev.ChannelHungUp(T0 + 60, "1.1", "1.1", 16, "Up"),
        ev.ChannelHungUp(T0 + 60, "1.1", "1.1a", 16, "Up"),
    ]
    (record,) = tracker().apply_all(base + hold + end)
    assert [(round(h.start - T0, 4), round(h.end - T0, 4)) for h in record.holds] == [(15.0001, 50.0)]
