"""One customer call's timeline: the facts seen so far, and the call record they add up to.

Facts are collected as they arrive and figures are derived only when the call closes, so duplicate
or slightly out-of-order events change nothing: every setter keeps the earliest observation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.domain.calls import Hold, Leg, Transfer


@dataclass(slots=True)
class Channel:
    channel_id: str
    endpoint: str
    number: str
    dialed: str
    context: str
    created_at: float
    is_local: bool = False
    state: str = "Down"
    hung_up_at: float | None = None


@dataclass(slots=True)
class OpenHold:
    start: float
    by: str
    channel_id: str
    # Set when a monitoring gap interrupted this hold: the PBX time we could see again from.
    blind_until: float | None = None


@dataclass(slots=True)
class CallTimeline:
    call_id: str
    first_t: float
    last_t: float
    caller: Channel
    channels: dict[str, Channel] = field(default_factory=dict)
    legs: dict[str, Leg] = field(default_factory=dict)  # by dest channel id, in dial order
    trunk_legs: list[str] = field(default_factory=list)  # outbound dials to a carrier
    trunk_answered_at: float | None = None  # the called customer picked up (outbound)
    queue: str | None = None
    queue_joined_at: float | None = None
    queue_left_at: float | None = None
    abandoned_at: float | None = None
    voicemail_at: float | None = None
    pbx_answered_at: float | None = None
    holds: list[Hold] = field(default_factory=list)
    open_hold: OpenHold | None = None
    transfers: list[Transfer] = field(default_factory=list)
    approximate: bool = False
    events: int = 0

    # --- facts -------------------------------------------------------------------------------
    def touch(self, t: float) -> None:
        self.events += 1
        if t > self.last_t:
            self.last_t = t
        if t < self.first_t:
            self.first_t = t

    def live_channels(self) -> int:
        return sum(1 for c in self.channels.values() if c.hung_up_at is None)

    def in_queue(self) -> bool:
        return self.queue_joined_at is not None and self.queue_left_at is None

    def answered_at(self) -> float | None:
        """A person on the far side answered: an advisor leg, or the customer on an outbound call."""
        person = self.person_answered_at()
        if person is None or (self.trunk_answered_at is not None and self.trunk_answered_at < person):
            return self.trunk_answered_at
        return person

    def answered_legs(self) -> list[Leg]:
        return [leg for leg in self.legs.values() if leg.answered_at is not None]

    def person_answered_at(self) -> float | None:
        times = [leg.answered_at for leg in self.legs.values() if leg.answered_at is not None]
        return min(times) if times else None

    def agent_on(self, channel_id: str) -> str:
        leg = self.legs.get(channel_id)
        if leg is not None:
            return leg.agent
        channel = self.channels.get(channel_id)
        return channel.endpoint if channel is not None else ""

    def current_agent(self) -> str:
        """The advisor the caller is talking to now: the latest answered leg still up."""
        for leg in reversed(list(self.legs.values())):
            channel = self.channels.get(leg.channel_id)
            if leg.answered_at is not None and (channel is None or channel.hung_up_at is None):
                return leg.agent
        return ""

    def start_hold(self, t: float, by: str, channel_id: str) -> None:
        if self.open_hold is None:
            self.open_hold = OpenHold(t, by, channel_id)
        elif t < self.open_hold.start:
            self.open_hold.start = t

    def end_hold(self, t: float, *, seen: bool = False) -> None:
        """Close the open hold at ``t``; ``seen``: ``t`` is the hold's own end (Unhold, music stopped)."""
        hold = self.open_hold
        if hold is None:
            return
        self.open_hold = None
        if not seen and hold.blind_until is not None and t > hold.blind_until:
            # A gap hid this hold's end and nothing after it said "resumed": it ended in the gap at the
            # latest, not at the hang-up (that would count the talk after the gap as hold time).
            t = hold.blind_until
        if t >= hold.start:
            self.holds.append(Hold(start=hold.start, end=t, by=hold.by))

    def hang_up_unlisted(self, listed: set[str], gap_start: float) -> None:
        """The call is live after a gap, but channels we knew of before it that a resync no longer
        lists (a phone that rang out, a transferred advisor) hung up unseen: at the gap's start at the
        latest. Left open, they would keep the call open until the stale timer."""
        for channel in self.channels.values():
            gone = channel.channel_id not in listed and channel.created_at <= gap_start
            if channel.hung_up_at is not None or not gone:
                continue
            channel.hung_up_at = gap_start  # an open hold ends at the gap's end at the latest (blind_until)
            leg = self.legs.get(channel.channel_id)
            if leg is not None and leg.ended_at is None:
                leg.ended_at = gap_start
                leg.status = leg.status or ("ANSWER" if leg.answered_at is not None else "CANCEL")

    # --- derived figures -----------------------------------------------------------------------
    def talk_s(self, end: float) -> float:
        """Seconds a person was connected (answered legs up to their hang-up), holds excluded."""
        total = 0.0
        for leg in self.legs.values():
            if leg.answered_at is None:
                continue
            channel = self.channels.get(leg.channel_id)
            leg_end = channel.hung_up_at if channel is not None and channel.hung_up_at else end
            total += max(0.0, min(leg_end, end) - leg.answered_at)
        total -= sum(h.end - h.start for h in self.holds)
        return round(max(0.0, total), 3)

    def queue_wait_s(self, end: float) -> float | None:
        if self.queue_joined_at is None:
            return None
        left = self.queue_left_at if self.queue_left_at is not None else end
        return round(max(0.0, left - self.queue_joined_at), 3)
