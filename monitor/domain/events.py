"""Domain events for telephony: what happened on the PBX, in PBX-neutral terms.

Adapters (e.g. ``adapters/asterisk/translate.py``) turn wire messages into these; the call tracker
consumes them. Every event carries ``t`` (epoch seconds of the event), ``call_id`` (the id shared by
every leg of one call: Asterisk's Linkedid) and ``channel_id`` (one leg: Asterisk's Uniqueid).
Events are past tense, immutable and cheap (slots).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CallEvent:
    t: float
    call_id: str
    channel_id: str


@dataclass(frozen=True, slots=True)
class ChannelCreated(CallEvent):
    """A channel appeared. ``endpoint`` is the device/trunk (``201``, ``carrier1``), ``number`` the
    caller id number on it, ``dialed`` the extension it entered, ``context`` the dialplan context."""

    endpoint: str
    number: str
    dialed: str
    context: str
    is_local: bool = False


@dataclass(frozen=True, slots=True)
class ChannelStateChanged(CallEvent):
    state: str  # Down | Ring | Ringing | Up | Busy ...


@dataclass(frozen=True, slots=True)
class DialStarted(CallEvent):
    """``channel_id`` dials ``dest_channel_id`` (an advisor leg on ``dest_endpoint``)."""

    dest_channel_id: str
    dest_endpoint: str
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class DialRinging(CallEvent):
    dest_channel_id: str


@dataclass(frozen=True, slots=True)
class DialEnded(CallEvent):
    dest_channel_id: str
    status: str  # ANSWER | NOANSWER | CANCEL | BUSY | CHANUNAVAIL | CONGESTION ...


@dataclass(frozen=True, slots=True)
class QueueJoined(CallEvent):
    queue: str


@dataclass(frozen=True, slots=True)
class QueueLeft(CallEvent):
    queue: str


@dataclass(frozen=True, slots=True)
class QueueAbandoned(CallEvent):
    queue: str
    waited_s: float | None = None


@dataclass(frozen=True, slots=True)
class AgentConnected(CallEvent):
    """Queue member answered; ``agent_channel_id`` is the member's leg."""

    queue: str
    agent_channel_id: str
    agent_endpoint: str


@dataclass(frozen=True, slots=True)
class HoldStarted(CallEvent):
    """The party on ``channel_id`` (an advisor) put the other side on hold."""


@dataclass(frozen=True, slots=True)
class HoldEnded(CallEvent):
    pass


@dataclass(frozen=True, slots=True)
class MusicStarted(CallEvent):
    pass


@dataclass(frozen=True, slots=True)
class MusicStopped(CallEvent):
    pass


@dataclass(frozen=True, slots=True)
class ApplicationEntered(CallEvent):
    """The channel entered a dialplan application we care about (``VoiceMail``, ``Queue``...)."""

    application: str


@dataclass(frozen=True, slots=True)
class Transferred(CallEvent):
    """``channel_id`` = the transferer's leg (the advisor handing the caller on)."""

    kind: str  # blind | attended
    target: str  # extension or endpoint the caller goes to


@dataclass(frozen=True, slots=True)
class ChannelHungUp(CallEvent):
    cause: int
    state: str


@dataclass(frozen=True, slots=True)
class CallSnapshot(CallEvent):
    """A live channel reported by a resync (``CoreShowChannels``) after a (re)connect: the tracker
    adopts calls it has not seen, marking their start as approximate."""

    endpoint: str
    number: str
    dialed: str
    context: str
    state: str
    started_at: float
    application: str = ""
    bridged_to: str = ""
    queue: str = ""  # from QueueStatus: the queue this caller is waiting in, and since when
    queue_joined_at: float | None = None


@dataclass(frozen=True, slots=True)
class MonitoringGap:
    """The source was not connected over ``[start, end)``; events in between are unknown."""

    source: str
    site: str
    start: float
    end: float
    reason: str
