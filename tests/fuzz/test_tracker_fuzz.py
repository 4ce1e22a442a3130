"""The tracker fed an arbitrary soup of domain events: the shapes a broken PBX, a lost message or a
replayed stream can produce once translation has accepted them (ids from a small pool so events
collide, times jittered backwards and forwards).

Properties: nothing raises; a call is closed at most once and every opened call is closed by the
end (hang-up or shutdown); every figure is a finite number and no duration is negative.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from monitor.domain import events as ev
from monitor.domain.calls import CallRecord
from tests.unit.test_tracker import T0, tracker

CALLS = st.sampled_from(["c1", "c2", "c3"])
CHANNELS = st.sampled_from(["c1", "c2", "c3", "a1", "a2", "a3", "t1", ""])
ENDPOINTS = st.sampled_from(["carrier1", "201", "202", "Local/202", "trunk", "", "unknown-9"])
STATES = st.sampled_from(["Down", "Ring", "Ringing", "Up", "Busy", ""])
STATUS = st.sampled_from(["ANSWER", "NOANSWER", "CANCEL", "BUSY", "CHANUNAVAIL", ""])
QUEUES = st.sampled_from(["service", "parts", ""])
APPS = st.sampled_from(["VoiceMail", "Queue", "Dial", ""])


@st.composite
def soups(draw: st.DrawFn) -> list[ev.CallEvent]:
    n = draw(st.integers(1, 60))
    out: list[ev.CallEvent] = []
    t = T0
    for _ in range(n):
        t += draw(st.floats(-5.0, 30.0, allow_nan=False))
        c, ch = draw(CALLS), draw(CHANNELS)
        kind = draw(st.integers(0, 16))
        built: ev.CallEvent
        if kind == 0:
            built = ev.ChannelCreated(t, c, ch, draw(ENDPOINTS), "+13135550199", "600", "from-pstn")
        elif kind == 1:
            built = ev.ChannelStateChanged(t, c, ch, draw(STATES))
        elif kind == 2:
            built = ev.DialStarted(t, c, c, ch, draw(ENDPOINTS), draw(st.none() | QUEUES))
        elif kind == 3:
            built = ev.DialRinging(t, c, c, ch)
        elif kind == 4:
            built = ev.DialEnded(t, c, c, ch, draw(STATUS))
        elif kind == 5:
            built = ev.QueueJoined(t, c, ch, draw(QUEUES))
        elif kind == 6:
            built = ev.QueueLeft(t, c, ch, draw(QUEUES))
        elif kind == 7:
            built = ev.QueueAbandoned(t, c, ch, draw(QUEUES), draw(st.none() | st.floats(0, 600)))
        elif kind == 8:
            built = ev.AgentConnected(t, c, c, draw(QUEUES), ch, draw(ENDPOINTS))
        elif kind == 9:
            built = ev.HoldStarted(t, c, ch)
        elif kind == 10:
            built = ev.HoldEnded(t, c, ch)
        elif kind == 11:
            built = ev.MusicStarted(t, c, ch)
        elif kind == 12:
            built = ev.MusicStopped(t, c, ch)
        elif kind == 13:
            built = ev.ApplicationEntered(t, c, ch, draw(APPS))
        elif kind == 14:
            built = ev.Transferred(t, c, ch, draw(st.sampled_from(["blind", "attended"])), "203")
        else:
            built = ev.ChannelHungUp(t, c, ch, 16, draw(STATES))
        out.append(built)
    return out


def _finite_and_ordered(record: CallRecord) -> None:
    d: dict[str, Any] = record.to_dict()
    for key in ("arrived_at", "ended_at", "talk_s"):
        assert math.isfinite(d[key]), key
    assert d["ended_at"] >= d["arrived_at"]
    assert d["talk_s"] >= 0
    for key in ("queue_wait_s", "time_to_answer_s"):
        assert d[key] is None or (math.isfinite(d[key]) and d[key] >= 0), (key, d[key])
    for hold in d["holds"]:
        assert hold["s"] >= 0, hold
    for leg in d["legs"]:
        assert leg["ring_s"] is None or leg["ring_s"] >= 0, leg


@given(soups())
def test_any_event_soup_closes_each_call_once_with_sane_figures(events: list[ev.CallEvent]) -> None:
    t = tracker()
    records = t.apply_all(events)
    records += t.close_all(max(e.t for e in events))
    opened = {e.call_id for e in events if isinstance(e, ev.ChannelCreated)}
    closed = [r.call_id for r in records]
    assert len(closed) == len(set(closed)), "a call closed twice"
    assert set(closed) <= opened
    assert not t.live_calls
    for record in records:
        _finite_and_ordered(record)
