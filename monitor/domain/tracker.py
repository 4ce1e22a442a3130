"""The call tracker: domain events of many interleaved calls in, one call record per call out.

State is kept per call (keyed by the PBX's linked id) and released when the call's last channel hangs
up, or when the call has been silent for ``stale_after_s`` (a missed Hangup must not leak memory).
Events for calls already closed (late Cdr, duplicated Hangup) are ignored through a bounded memory of
recently closed ids, so a duplicate can never open a second record for the same call.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from monitor.domain import events as ev
from monitor.domain.calls import CallRecord, Leg, Transfer
from monitor.domain.records import SiteRules, build_record
from monitor.domain.timeline import CallTimeline, Channel


@dataclass(slots=True)
class TrackerStats:
    events: int = 0
    orphan_events: int = 0  # for calls never seen starting (connected mid-call, no resync yet)
    late_events: int = 0  # for calls already closed
    calls_closed: int = 0
    stale_closed: int = 0


class CallTracker:
    def __init__(
        self,
        rules: SiteRules,
        *,
        key_number: Callable[[str], str],
        stale_after_s: float = 4 * 3600.0,
        remember_closed: int = 50_000,
    ) -> None:
        self.rules = rules
        self._key_number = key_number
        self.stale_after_s = stale_after_s
        self._calls: dict[str, CallTimeline] = {}
        self._closed: OrderedDict[str, None] = OrderedDict()
        self._remember_closed = remember_closed
        self.stats = TrackerStats()

    # --- queries --------------------------------------------------------------------------------
    @property
    def live_calls(self) -> dict[str, CallTimeline]:
        return self._calls

    def knows(self, call_id: str) -> bool:
        return call_id in self._calls or call_id in self._closed

    # --- ingest ---------------------------------------------------------------------------------
    def apply(self, event: ev.CallEvent) -> list[CallRecord]:
        """Apply one event; returns the calls it closed (zero or one)."""
        self.stats.events += 1
        call = self._calls.get(event.call_id)
        if call is None:
            if event.call_id in self._closed:
                self.stats.late_events += 1
                return []
            if isinstance(event, ev.ChannelCreated | ev.CallSnapshot):
                call = self._open(event)
            else:
                self.stats.orphan_events += 1
                return []
        if isinstance(event, ev.CallSnapshot):
            # A listing is stamped with our clock: a PBX clock running a little ahead of ours must not
            # move the arrival of a call whose own events were already heard.
            call.touch(max(event.t, call.first_t))
        else:
            call.touch(event.t)
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, call, event)
        if call.live_channels() == 0:
            return [self._close(call, call.last_t, "hangup")]
        return []

    def apply_all(self, items: Iterable[ev.CallEvent]) -> list[CallRecord]:
        out: list[CallRecord] = []
        for item in items:
            out.extend(self.apply(item))
        return out

    def expire(self, now: float) -> list[CallRecord]:
        """Close calls silent for longer than ``stale_after_s`` (a lost Hangup)."""
        cutoff = now - self.stale_after_s
        stale = [c for c in self._calls.values() if c.last_t < cutoff]
        out = []
        for call in stale:
            call.approximate = True
            self.stats.stale_closed += 1
            out.append(self._close(call, call.last_t, "stale"))
        return out

    def resync(
        self, snapshots: list[ev.CallSnapshot], at: float, gap_start: float | None
    ) -> list[CallRecord]:
        """After a (re)connect: adopt live calls we missed, close calls that ended unseen.

        A call we were tracking that is absent from the snapshot ended while we were disconnected:
        it is closed at the gap's start and flagged approximate rather than silently dropped.
        """
        live_ids = {s.call_id for s in snapshots}
        listed = {s.channel_id for s in snapshots}
        out: list[CallRecord] = []
        for call in list(self._calls.values()):
            if call.call_id not in live_ids:
                if gap_start is None or call.last_t > gap_start:
                    # Heard from since the connection came back: it started (or moved) after the
                    # listing was taken, which races with the events that follow a login.
                    continue
                call.approximate = True
                out.append(self._close(call, gap_start, "gap"))
            elif gap_start is not None and call.first_t < gap_start:
                call.approximate = True
                if call.open_hold is not None and call.open_hold.blind_until is None:
                    call.open_hold.blind_until = at
                call.hang_up_unlisted(listed, gap_start)
        for snap in sorted(snapshots, key=lambda s: s.channel_id != s.call_id):
            out.extend(self.apply(snap))
        return out

    def pbx_restarted(self, gap_start: float, dropped: Iterable[str]) -> list[CallRecord]:
        """The PBX rebooted during the gap that began at ``gap_start``: it dropped the calls live when
        we lost it (``dropped``; closed at the gap's start, approximate), and it numbers channels
        afresh, so ids of calls closed before the reboot say nothing about the ids to come: forget
        them. By id, not by time: calls of the new boot may already be live, and the two clocks differ."""
        out = []
        for call_id in dropped:
            call = self._calls.get(call_id)
            if call is not None:
                call.approximate = True
                out.append(self._close(call, gap_start, "pbx_restart"))
        self._closed.clear()
        return out

    def close_all(self, now: float, reason: str = "shutdown") -> list[CallRecord]:
        out = []
        for call in list(self._calls.values()):
            call.approximate = True
            out.append(
                self._close(call, max(call.last_t, min(now, call.last_t + self.stale_after_s)), reason)
            )
        return out

    def restore(self, calls: Iterable[CallTimeline], stored_ids: Iterable[str], heard_until: float) -> None:
        """After a restart: resume the checkpointed live calls and remember the calls already stored
        (oldest first), so a straggling event cannot open a second record. A call is taken as last
        heard of by ``heard_until`` (the last heartbeat) at the latest: a PBX clock a little ahead of
        ours must not make the resync believe it was heard from after the reconnect."""
        for call_id in stored_ids:
            self._remember_closed_id(call_id)
        for call in calls:
            if call.call_id not in self._closed:
                call.last_t = min(call.last_t, heard_until)
                self._calls[call.call_id] = call

    # --- lifecycle ------------------------------------------------------------------------------
    def _open(self, event: ev.ChannelCreated | ev.CallSnapshot) -> CallTimeline:
        start = event.started_at if isinstance(event, ev.CallSnapshot) else event.t
        caller = Channel(
            event.channel_id,
            event.endpoint,
            event.number,
            event.dialed,
            event.context,
            start,
            is_local=isinstance(event, ev.ChannelCreated) and event.is_local,
        )
        call = CallTimeline(call_id=event.call_id, first_t=start, last_t=event.t, caller=caller)
        call.channels[event.channel_id] = caller
        if isinstance(event, ev.CallSnapshot):
            call.approximate = True
        self._calls[event.call_id] = call
        return call

    def _close(self, call: CallTimeline, end: float, reason: str) -> CallRecord:
        del self._calls[call.call_id]
        self._remember_closed_id(call.call_id)
        self.stats.calls_closed += 1
        call.end_hold(end)
        return build_record(call, end, reason, self.rules, self._key_number)

    def _remember_closed_id(self, call_id: str) -> None:
        self._closed[call_id] = None
        self._closed.move_to_end(call_id)
        while len(self._closed) > self._remember_closed:
            self._closed.popitem(last=False)

    # --- event handlers -------------------------------------------------------------------------
    def _on_channel(self, call: CallTimeline, e: ev.ChannelCreated) -> None:
        if e.channel_id not in call.channels:
            call.channels[e.channel_id] = Channel(
                e.channel_id, e.endpoint, e.number, e.dialed, e.context, e.t, is_local=e.is_local
            )

    def _on_state(self, call: CallTimeline, e: ev.ChannelStateChanged) -> None:
        channel = call.channels.get(e.channel_id)
        if channel is None:
            return
        channel.state = e.state
        if channel is call.caller and e.state == "Up" and call.pbx_answered_at is None:
            call.pbx_answered_at = e.t
        leg = call.legs.get(e.channel_id)
        if leg is not None and e.state == "Ringing" and (leg.ringing_at is None or e.t < leg.ringing_at):
            leg.ringing_at = e.t

    def _on_dial(self, call: CallTimeline, e: ev.DialStarted) -> None:
        topo = self.rules.topology
        if topo.is_device(e.dest_endpoint):
            if e.dest_channel_id not in call.legs:
                call.legs[e.dest_channel_id] = Leg(e.dest_endpoint, e.dest_channel_id, e.t, queue=e.queue)
        elif (
            topo.is_trunk(e.dest_endpoint)
            and not e.dest_endpoint.startswith("Local/")
            and e.dest_channel_id not in call.trunk_legs
        ):
            call.trunk_legs.append(e.dest_channel_id)

    def _on_ringing(self, call: CallTimeline, e: ev.DialRinging) -> None:
        leg = call.legs.get(e.dest_channel_id)
        if leg is not None and (leg.ringing_at is None or e.t < leg.ringing_at):
            leg.ringing_at = e.t

    def _on_dial_end(self, call: CallTimeline, e: ev.DialEnded) -> None:
        if e.dest_channel_id in call.trunk_legs:
            if e.status == "ANSWER" and (call.trunk_answered_at is None or e.t < call.trunk_answered_at):
                call.trunk_answered_at = e.t
            return
        leg = call.legs.get(e.dest_channel_id)
        if leg is None:
            return
        if leg.ended_at is not None:
            # A second DialEnd (NOANSWER then CANCEL) keeps the first. But the queue's CANCEL, or the
            # CANCEL a Hangup implies, can race ahead of the specific reason sent in the same instant.
            if leg.status == "CANCEL" and e.status not in ("CANCEL", "ANSWER", "") and e.t <= leg.ended_at:
                leg.status = e.status
            return
        leg.ended_at = e.t
        leg.status = e.status
        if e.status == "ANSWER":
            leg.answered_at = e.t

    def _on_queue_join(self, call: CallTimeline, e: ev.QueueJoined) -> None:
        if call.queue_joined_at is None:
            call.queue = e.queue
            call.queue_joined_at = e.t

    def _on_queue_leave(self, call: CallTimeline, e: ev.QueueLeft) -> None:
        if call.queue_joined_at is not None and (call.queue_left_at is None or e.t < call.queue_left_at):
            call.queue_left_at = e.t  # the earliest: AgentConnect may race ahead of QueueCallerLeave

    def _on_abandon(self, call: CallTimeline, e: ev.QueueAbandoned) -> None:
        if call.abandoned_at is None:
            call.abandoned_at = e.t
            if call.queue is None:
                call.queue = e.queue
            if call.queue_left_at is None and call.queue_joined_at is not None:
                call.queue_left_at = e.t

    def _on_agent_connect(self, call: CallTimeline, e: ev.AgentConnected) -> None:
        leg = call.legs.get(e.agent_channel_id)
        if leg is not None and leg.answered_at is None:
            leg.answered_at = e.t  # DialEnd ANSWER was missed; AgentConnect comes in the same tick
            leg.status = leg.status or "ANSWER"
        if call.queue_left_at is None and call.queue_joined_at is not None:
            call.queue_left_at = e.t

    def _on_hold(self, call: CallTimeline, e: ev.HoldStarted) -> None:
        if call.channels.get(e.channel_id) is None or call.answered_at() is None:
            return
        if self.rules.topology.is_trunk(call.channels[e.channel_id].endpoint):
            return  # the customer pressing hold is not the dealership holding the customer
        if call.open_hold is not None and not call.open_hold.channel_id:
            # The caller's hold music raced ahead of this Hold: it is the same hold, and only the
            # holding channel's Unhold can end it exactly.
            call.open_hold.channel_id = e.channel_id
        call.start_hold(e.t, call.agent_on(e.channel_id), e.channel_id)

    def _on_unhold(self, call: CallTimeline, e: ev.HoldEnded) -> None:
        hold = call.open_hold
        if hold is not None and hold.channel_id == e.channel_id:
            # A lone Unhold (chan_sip at REFER) has no open hold and is ignored.
            call.end_hold(e.t, seen=True)

    def _on_moh_start(self, call: CallTimeline, e: ev.MusicStarted) -> None:
        if e.channel_id in call.trunk_legs and call.trunk_answered_at is not None:
            call.start_hold(e.t, call.caller.endpoint, "")  # the advisor holds the customer they called
            return
        # Music on the caller while queued (or before anyone answered) is waiting, not a hold.
        if e.channel_id != call.caller.channel_id or call.in_queue():
            return
        if call.person_answered_at() is None or call.current_agent() == "":
            return
        call.start_hold(e.t, call.current_agent(), "")

    def _on_moh_stop(self, call: CallTimeline, e: ev.MusicStopped) -> None:
        if e.channel_id == call.caller.channel_id or e.channel_id in call.trunk_legs:
            call.end_hold(e.t, seen=True)

    def _on_app(self, call: CallTimeline, e: ev.ApplicationEntered) -> None:
        is_caller = e.channel_id == call.caller.channel_id
        if e.application.lower() == "voicemail" and is_caller and call.voicemail_at is None:
            call.voicemail_at = e.t

    def _on_transfer(self, call: CallTimeline, e: ev.Transferred) -> None:
        call.end_hold(e.t)
        source = call.agent_on(e.channel_id)
        for existing in call.transfers:
            if existing.kind == e.kind and existing.from_agent == source and existing.to == e.target:
                return
        call.transfers.append(Transfer(e.kind, source, e.target, e.t))

    def _on_hangup(self, call: CallTimeline, e: ev.ChannelHungUp) -> None:
        channel = call.channels.get(e.channel_id)
        if channel is None or channel.hung_up_at is not None:
            return
        channel.hung_up_at = e.t
        hold = call.open_hold
        if hold is not None and (channel is call.caller or hold.channel_id == e.channel_id):
            call.end_hold(e.t)
        leg = call.legs.get(e.channel_id)
        if leg is not None and leg.ended_at is None:
            leg.ended_at = e.t
            leg.status = leg.status or ("ANSWER" if leg.answered_at else "CANCEL")

    def _on_snapshot(self, call: CallTimeline, e: ev.CallSnapshot) -> None:
        if e.channel_id not in call.channels:
            channel = Channel(e.channel_id, e.endpoint, e.number, e.dialed, e.context, e.started_at)
            call.channels[e.channel_id] = channel
            if e.channel_id != call.caller.channel_id and self.rules.topology.is_device(e.endpoint):
                leg = Leg(e.endpoint, e.channel_id, e.started_at)
                if e.state == "Up":
                    leg.answered_at = e.t  # answered while we were away: the earliest we can vouch for
                    leg.status = "ANSWER"
                elif e.state == "Ringing":
                    leg.ringing_at = e.started_at
                call.legs[e.channel_id] = leg
        channel = call.channels[e.channel_id]
        channel.state = e.state
        if e.state == "Up":  # answered while we were away (the answer itself was not heard)
            known = call.legs.get(e.channel_id)
            if known is not None and known.answered_at is None and known.ended_at is None:
                known.answered_at, known.status = e.t, "ANSWER"
            elif e.channel_id in call.trunk_legs and call.trunk_answered_at is None:
                call.trunk_answered_at = e.t
        if e.application.lower() == "voicemail" and channel is call.caller and call.voicemail_at is None:
            call.voicemail_at = e.t
        if channel is call.caller and call.queue_joined_at is None:
            if e.queue_joined_at is not None:
                call.queue, call.queue_joined_at = e.queue or call.queue, e.queue_joined_at
            elif e.application.lower() == "queue":
                call.queue_joined_at = e.started_at  # no QueueStatus entry: the channel's age is the bound


_HANDLERS: dict[type, Callable[[CallTracker, CallTimeline, ev.CallEvent], None]] = {
    ev.ChannelCreated: CallTracker._on_channel,  # type: ignore[dict-item]
    ev.ChannelStateChanged: CallTracker._on_state,  # type: ignore[dict-item]
    ev.DialStarted: CallTracker._on_dial,  # type: ignore[dict-item]
    ev.DialRinging: CallTracker._on_ringing,  # type: ignore[dict-item]
    ev.DialEnded: CallTracker._on_dial_end,  # type: ignore[dict-item]
    ev.QueueJoined: CallTracker._on_queue_join,  # type: ignore[dict-item]
    ev.QueueLeft: CallTracker._on_queue_leave,  # type: ignore[dict-item]
    ev.QueueAbandoned: CallTracker._on_abandon,  # type: ignore[dict-item]
    ev.AgentConnected: CallTracker._on_agent_connect,  # type: ignore[dict-item]
    ev.HoldStarted: CallTracker._on_hold,  # type: ignore[dict-item]
    ev.HoldEnded: CallTracker._on_unhold,  # type: ignore[dict-item]
    ev.MusicStarted: CallTracker._on_moh_start,  # type: ignore[dict-item]
    ev.MusicStopped: CallTracker._on_moh_stop,  # type: ignore[dict-item]
    ev.ApplicationEntered: CallTracker._on_app,  # type: ignore[dict-item]
    ev.Transferred: CallTracker._on_transfer,  # type: ignore[dict-item]
    ev.ChannelHungUp: CallTracker._on_hangup,  # type: ignore[dict-item]
    ev.CallSnapshot: CallTracker._on_snapshot,  # type: ignore[dict-item]
}
