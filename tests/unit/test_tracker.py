"""Call tracker semantics on hand-built domain event sequences (no I/O)."""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.domain import events as ev
from monitor.domain.calendar import BusinessCalendar
from monitor.domain.calls import CallRecord
from monitor.domain.policy import SlaPolicy
from monitor.domain.records import SiteRules
from monitor.domain.topology import PbxTopology
from monitor.domain.tracker import CallTracker

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("America/Detroit")).timestamp()
WEEKDAYS = {d: ["07:30-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def tracker(calendar: BusinessCalendar | None = None, **kw: float) -> CallTracker:
    rules = SiteRules(
        site="detroit",
        calendar=calendar or BusinessCalendar.always_open(),
        policy=SlaPolicy(version="test.1"),
        ring_cycle_s=6.0,
        topology=PbxTopology(service_numbers=frozenset({"600"})),
    )
    return CallTracker(rules, key_number=lambda n: "k:" + n[-2:], **kw)  # type: ignore[arg-type]


class Call:
    """Builds the domain events of one call: caller channel ``c``, advisor legs ``a1``, ``a2``..."""

    def __init__(
        self,
        cid: str,
        t0: float = T0,
        caller_ep: str = "carrier1",
        number: str = "+13135550199",
        dialed: str = "600",
    ) -> None:
        self.cid = cid
        self.t0 = t0
        self.out: list[ev.CallEvent] = [
            ev.ChannelCreated(t0, cid, cid, caller_ep, number, dialed, "from-pstn")
        ]

    def at(self, dt: float) -> float:
        return self.t0 + dt

    def queue(self, dt: float) -> Call:
        self.out += [
            ev.ChannelStateChanged(self.at(dt - 1.6), self.cid, self.cid, "Up"),
            ev.QueueJoined(self.at(dt), self.cid, self.cid, "service"),
            ev.MusicStarted(self.at(dt), self.cid, self.cid),
        ]
        return self

    def ring(self, leg: str, agent: str, dt: float, ringing: bool = True) -> Call:
        self.out += [
            ev.ChannelCreated(self.at(dt), self.cid, leg, agent, agent, "s", "internal"),
            ev.DialStarted(self.at(dt), self.cid, self.cid, leg, agent),
        ]
        if ringing:
            self.out += [ev.DialRinging(self.at(dt + 0.01), self.cid, self.cid, leg)]
        return self

    def answer(self, leg: str, agent: str, dt: float, queued: bool = True) -> Call:
        self.out += [
            ev.DialEnded(self.at(dt), self.cid, self.cid, leg, "ANSWER"),
            ev.MusicStopped(self.at(dt), self.cid, self.cid),
        ]
        if queued:
            self.out += [
                ev.QueueLeft(self.at(dt), self.cid, self.cid, "service"),
                ev.AgentConnected(self.at(dt), self.cid, self.cid, "service", leg, agent),
            ]
        return self

    def dial_end(self, leg: str, dt: float, status: str) -> Call:
        self.out.append(ev.DialEnded(self.at(dt), self.cid, self.cid, leg, status))
        return self

    def hangup(self, channel: str, dt: float, state: str = "Up") -> Call:
        self.out.append(ev.ChannelHungUp(self.at(dt), self.cid, channel, 16, state))
        return self

    def add(self, *events: ev.CallEvent) -> Call:
        self.out += events
        return self


def run(t: CallTracker, events: list[ev.CallEvent]) -> list[CallRecord]:
    return t.apply_all(events)


def answered_queue_call(cid: str = "100.1", t0: float = T0) -> Call:
    c = Call(cid, t0).queue(1.6).ring(cid + "a", "201", 1.7).answer(cid + "a", "201", 13.7)
    return c.hangup(cid, 22).hangup(cid + "a", 22)


def test_answered_queue_call_figures() -> None:
    [rec] = run(tracker(), answered_queue_call().out)
    assert rec.outcome == "answered" and rec.answered_by == "201"
    assert rec.time_to_answer_s == 13.7 and rec.rings_to_answer == 3
    assert rec.queue_wait_s == 12.1
    assert rec.holds == [] and rec.sla == {"answer_rings": "met", "hold": "met", "abandon": "n/a"}
    assert rec.caller == "+1313555****" and rec.policy_version == "test.1"


def test_duplicate_events_do_not_double_count() -> None:
    events = answered_queue_call().out
    doubled = [e for e in events for _ in range(2)]
    t = tracker()
    records = run(t, doubled)
    assert len(records) == 1
    assert records[0].to_dict() == run(tracker(), events)[0].to_dict()
    assert t.stats.late_events >= 1  # the duplicated final Hangup arrived after the close


def test_out_of_order_within_a_tick_gives_same_figures() -> None:
    events = answered_queue_call().out
    body = events[1:-2]
    shuffled = body[:]
    random.Random(7).shuffle(shuffled)
    [a] = run(tracker(), events)
    [b] = run(tracker(), [events[0], *shuffled, *events[-2:]])
    assert (b.answered_at, b.answered_by, b.queue_wait_s) == (a.answered_at, a.answered_by, a.queue_wait_s)


def test_events_for_unknown_call_are_counted_not_crashing() -> None:
    t = tracker()
    assert (
        run(t, [ev.DialEnded(T0, "nope", "x", "y", "ANSWER"), ev.ChannelHungUp(T0, "nope", "x", 16, "Up")])
        == []
    )
    assert t.stats.orphan_events == 2


def test_ring_no_answer_rollover_and_offline_phone() -> None:
    c = Call("200.1").queue(1.6)
    c.ring("l1", "201", 1.7).dial_end("l1", 16.7, "NOANSWER").dial_end("l1", 16.7, "CANCEL").hangup(
        "l1", 16.7, "Ringing"
    )
    c.ring("l2", "202", 19.7, ringing=False).hangup("l2", 19.8, "Down")  # phone offline: never rang
    c.ring("l3", "203", 20.0).answer("l3", "203", 24.0).hangup("200.1", 30).hangup("l3", 30)
    [rec] = run(tracker(), c.out)
    assert [(leg.agent, leg.reached_ringing, leg.answered, leg.status) for leg in rec.legs] == [
        ("201", True, False, "NOANSWER"),
        ("202", False, False, "CANCEL"),
        ("203", True, True, "ANSWER"),
    ]
    assert rec.legs[0].ring_s == 15.0
    assert rec.answered_by == "203" and rec.rings_to_answer == 4
    assert rec.sla["answer_rings"] == "breached"


def test_abandon_in_queue_vs_missed_while_ringing() -> None:
    c = Call("300.1").queue(1.6).ring("l1", "201", 1.7)
    c.add(ev.MusicStopped(c.at(21), "300.1", "300.1")).dial_end("l1", 21, "CANCEL")
    c.add(ev.QueueAbandoned(c.at(21), "300.1", "300.1", "service", 19.4)).hangup("l1", 21, "Ringing").hangup(
        "300.1", 21
    )
    [abandoned] = run(tracker(), c.out)
    assert abandoned.outcome == "abandoned" and abandoned.sla["abandon"] == "breached"
    assert abandoned.sla["answer_rings"] == "breached"

    d = (
        Call("301.1", dialed="201")
        .ring("l1", "201", 0.01)
        .dial_end("l1", 4, "CANCEL")
        .hangup("301.1", 4, "Ring")
        .hangup("l1", 4, "Ringing")
    )
    [missed] = run(tracker(), d.out)
    assert missed.outcome == "missed" and missed.queue_wait_s is None
    assert missed.sla["answer_rings"] == "n/a"  # hung up within the 18 s allowance: nobody could fail it


def test_hold_semantics() -> None:
    c = answered_queue_call("400.1")
    c.out = c.out[:-2]
    c.add(ev.HoldEnded(c.at(14), "400.1", "400.1a"))  # lone Unhold: ignored
    c.add(ev.HoldStarted(c.at(15), "400.1", "400.1a"), ev.MusicStarted(c.at(15.001), "400.1", "400.1"))
    c.add(ev.HoldEnded(c.at(50), "400.1", "400.1a"), ev.MusicStopped(c.at(50.001), "400.1", "400.1"))
    c.add(ev.HoldStarted(c.at(60), "400.1", "400.1a"))  # still on hold when the advisor hangs up
    c.hangup("400.1a", 70).hangup("400.1", 70.1)
    [rec] = run(tracker(), c.out)
    assert [(h.start - T0, h.s, h.by) for h in rec.holds] == [(15.0, 35.0, "201"), (60.0, 10.0, "201")]
    assert rec.hold_max_s == 35.0 and rec.sla["hold"] == "breached"


def test_queue_music_is_never_a_hold() -> None:
    [rec] = run(tracker(), answered_queue_call().out)
    assert rec.holds == []


def test_attended_transfer_closes_hold_without_unhold() -> None:
    c = answered_queue_call("500.1")
    c.out = c.out[:-2]
    c.add(ev.HoldStarted(c.at(20), "500.1", "500.1a"), ev.MusicStarted(c.at(20), "500.1", "500.1"))
    c.add(ev.ChannelCreated(c.at(20.5), "500.1", "loc2", "Local/202", "201", "202", "internal", True))
    c.add(
        ev.DialStarted(c.at(20.5), "500.1", "loc2", "l202", "202"),
        ev.DialRinging(c.at(20.6), "500.1", "loc2", "l202"),
    )
    c.add(ev.DialEnded(c.at(25), "500.1", "loc2", "l202", "ANSWER"))
    c.add(
        ev.Transferred(c.at(32), "500.1", "500.1a", "attended", "202"),
        ev.MusicStopped(c.at(32.37), "500.1", "500.1"),
    )
    c.hangup("500.1a", 32.4).hangup("loc2", 32.5).hangup("500.1", 40).hangup("l202", 40)
    [rec] = run(tracker(), c.out)
    assert [(h.s, h.by) for h in rec.holds] == [(12.0, "201")]
    assert [t.to_dict()["to"] for t in rec.transfers] == ["202"] and rec.transfers[0].kind == "attended"
    assert rec.answered_by == "201" and [leg.agent for leg in rec.legs] == ["201", "202"]


def test_internal_and_outbound_directions() -> None:
    i = (
        Call("600.1", caller_ep="201", number="201", dialed="202")
        .ring("l", "202", 0.1)
        .dial_end("l", 3, "ANSWER")
    )
    [internal] = run(tracker(), i.hangup("600.1", 9).hangup("l", 9).out)
    assert internal.direction == "internal" and internal.sla == {
        "answer_rings": "n/a",
        "hold": "n/a",
        "abandon": "n/a",
    }
    o = Call("700.1", caller_ep="201", number="201", dialed="13135550123")
    o.add(
        ev.DialStarted(o.at(0.1), "700.1", "700.1", "trk", "carrier1"),
        ev.ChannelCreated(o.at(0.1), "700.1", "trk", "carrier1", "+13135550123", "s", "to-pstn"),
    )
    [outbound] = run(tracker(), o.hangup("700.1", 9).hangup("trk", 9).out)
    assert outbound.direction == "outbound"


def test_after_hours_by_calendar() -> None:
    cal = BusinessCalendar.build(timezone="America/Detroit", hours=WEEKDAYS)
    night = datetime(2026, 11, 24, 22, 0, tzinfo=ZoneInfo("America/Detroit")).timestamp()
    c = (
        Call("800.1", night)
        .add(
            ev.ChannelStateChanged(night + 0.1, "800.1", "800.1", "Up"),
            ev.ApplicationEntered(night + 1, "800.1", "800.1", "VoiceMail"),
        )
        .hangup("800.1", 19)
    )
    [rec] = run(tracker(cal), c.out)
    assert rec.outcome == "after_hours" and set(rec.sla.values()) == {"n/a"}


def test_concurrent_calls_interleaved() -> None:
    calls = [answered_queue_call(f"9{i}.1", T0 + i * 0.5) for i in range(20)]
    merged = sorted((e for c in calls for e in c.out), key=lambda e: e.t)
    t = tracker()
    records = run(t, merged)
    assert sorted(r.call_id for r in records) == sorted(c.cid for c in calls)
    assert all(r.time_to_answer_s == 13.7 for r in records)
    assert t.live_calls == {}


def test_stale_call_closed_and_memory_released() -> None:
    t = tracker(stale_after_s=600)
    run(t, Call("1.1").queue(1.6).out)
    assert len(t.live_calls) == 1
    [rec] = t.expire(T0 + 601.7)
    assert rec.closed_reason == "stale" and rec.approximate
    assert t.live_calls == {}
    assert run(t, [ev.ChannelHungUp(T0 + 700, "1.1", "1.1", 16, "Up")]) == []


def test_resync_adopts_unknown_and_closes_vanished() -> None:
    t = tracker()
    run(t, Call("a.1").queue(1.6).out)  # ends while we are disconnected
    snap = ev.CallSnapshot(
        T0 + 60, "b.1", "b.1", "carrier1", "+13135550100", "600", "from-pstn", "Up", T0 + 40, "Queue"
    )
    closed = t.resync([snap], T0 + 60, gap_start=T0 + 30)
    assert [(r.call_id, r.closed_reason, r.ended_at) for r in closed] == [("a.1", "gap", T0 + 30)]
    assert "b.1" in t.live_calls and t.live_calls["b.1"].approximate
    [rec] = run(t, [ev.ChannelHungUp(T0 + 70, "b.1", "b.1", 0, "Up")])
    assert rec.outcome == "abandoned" and rec.arrived_at == T0 + 40 and rec.approximate


def test_resync_keeps_calls_that_started_after_the_listing_was_taken() -> None:
    """Events right after a login race the CoreShowChannels reply: a call first heard of after the
    connection came back is live, not a call that ended during the gap."""
    t = tracker()
    run(t, Call("new.1", T0 + 100).queue(1.6).out)  # arrives between the login and the listing's reply
    assert t.resync([], T0 + 101, gap_start=T0 + 90) == []
    assert t.resync([], T0 + 101, gap_start=None) == []
    assert "new.1" in t.live_calls and not t.live_calls["new.1"].approximate


def test_pbx_restart_closes_the_calls_it_dropped_and_forgets_closed_ids() -> None:
    t = tracker()
    [done] = run(t, answered_queue_call("5.1").out)
    run(t, Call("6.1", T0 + 30).queue(1.6).ring("6.1a", "201", 1.7).answer("6.1a", "201", 4).out)
    run(t, Call("7.1", T0 + 90).queue(1.6).out)  # the rebooted PBX's first call, heard after the reconnect
    closed = t.pbx_restarted(T0 + 60, ["6.1", "5.1"])  # live when the connection was lost
    assert [(r.call_id, r.closed_reason, r.ended_at, r.approximate, r.outcome) for r in closed] == [
        ("6.1", "pbx_restart", T0 + 60, True, "answered")
    ]
    assert list(t.live_calls) == ["7.1"]
    # Ids from before the reboot are no longer taken for late events of closed calls.
    assert not t.knows(done.call_id)
    [again] = run(t, answered_queue_call("5.1", T0 + 200).out)
    assert again.arrived_at == T0 + 200 and not again.approximate


def _held_call(cid: str) -> Call:
    c = Call(cid).queue(1.6).ring(cid + "a", "201", 1.7).answer(cid + "a", "201", 5)
    return c.add(ev.HoldStarted(c.at(10), cid, cid + "a"), ev.MusicStarted(c.at(10), cid, cid))


def _hangups(cid: str, t: float) -> list[ev.CallEvent]:
    return [ev.ChannelHungUp(T0 + t, cid, cid + "a", 16, "Up"), ev.ChannelHungUp(T0 + t, cid, cid, 16, "Up")]


def test_hold_across_a_gap_ends_when_seen_or_at_the_gap_end_at_the_latest() -> None:
    snap = ev.CallSnapshot(
        T0 + 30, "h.1", "h.1", "carrier1", "+13135550100", "600", "from-pstn", "Up", T0, "Queue"
    )
    # The gap (20 s .. 30 s) fell inside the hold: its end is seen, the hold is exact.
    t = tracker()
    run(t, _held_call("h.1").out)
    assert t.resync([snap], T0 + 30, gap_start=T0 + 20) == []
    [seen] = run(
        t,
        [ev.HoldEnded(T0 + 45, "h.1", "h.1a"), ev.MusicStopped(T0 + 45, "h.1", "h.1"), *_hangups("h.1", 50)],
    )
    assert [h.s for h in seen.holds] == [35.0] and seen.approximate and seen.sla["hold"] == "breached"
    # The Unhold fell in the gap: never heard, so the hold ends at the gap's end, not at the hang-up.
    t = tracker()
    run(t, _held_call("h.1").out)
    t.resync([snap], T0 + 30, gap_start=T0 + 20)
    [missed] = run(t, _hangups("h.1", 50))
    assert [(h.start, h.end) for h in missed.holds] == [(T0 + 10, T0 + 30)] and missed.approximate


def test_a_listing_stamped_by_our_clock_never_moves_a_known_arrival() -> None:
    """The PBX clock 0.5 s ahead of ours: a call heard from its first event and listed just after."""
    t = tracker()
    run(t, Call("s.1", T0 + 10.5).queue(1.6).out)
    snap = ev.CallSnapshot(
        T0 + 10, "s.1", "s.1", "carrier1", "+13135550100", "600", "from-pstn", "Up", T0 + 9, "Queue"
    )
    t.resync([snap], T0 + 10, gap_start=T0 + 5)
    assert t.live_calls["s.1"].first_t == T0 + 10.5
