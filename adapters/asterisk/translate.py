"""AMI events -> domain events.

The only place that knows Asterisk's event vocabulary (Newchannel, DialBegin, QueueCallerJoin,
Hold, ...). Everything else in slamon sees PBX-neutral domain events. One dict lookup per message:
events we do not need (VarSet, RTCP, Cdr, ...) return an empty tuple straight away.

Event time: the ``Timestamp`` header when the PBX sends it (``timestampevents = yes``, exact server
time), else the time the message was received.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from monitor.domain import events as ev

Headers = Mapping[str, str]
_Translator = Callable[[Headers, float], tuple[ev.CallEvent, ...]]


def endpoint_of(channel: str) -> tuple[str, bool]:
    """``SIP/201-0000000e`` -> (``201``, False); ``Local/202@internal-0001;1`` -> (``Local/202``, True).

    Local channels keep their ``Local/`` prefix so they are never mistaken for a desk phone.
    """
    tech, _, rest = channel.partition("/")
    if not rest:
        return channel, False
    if tech == "Local":
        return "Local/" + rest.split("@", 1)[0], True
    name, dash, _seq = rest.rpartition("-")
    return (name if dash else rest), False


def finite_float(text: str) -> float | None:
    """``float(text)`` when it is a finite number, else ``None``: ``float()`` accepts "nan" and "inf",
    and one NaN time would poison every figure computed from it."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def event_time(headers: Headers, received_at: float) -> float:
    stamp = headers.get("Timestamp")
    if stamp:
        value = finite_float(stamp)
        if value is not None:
            return value
    return received_at


def _ids(h: Headers) -> tuple[str, str]:
    return h.get("Linkedid") or h.get("Uniqueid", ""), h.get("Uniqueid", "")


def _newchannel(h: Headers, t: float) -> tuple[ev.CallEvent, ...]:
    call_id, channel_id = _ids(h)
    endpoint, is_local = endpoint_of(h.get("Channel", ""))
    return (
        ev.ChannelCreated(
            t,
            call_id,
            channel_id,
            endpoint,
            h.get("CallerIDNum", ""),
            h.get("Exten", ""),
            h.get("Context", ""),
            is_local,
        ),
    )


def _newstate(h: Headers, t: float) -> tuple[ev.CallEvent, ...]:
    call_id, channel_id = _ids(h)
    return (ev.ChannelStateChanged(t, call_id, channel_id, h.get("ChannelStateDesc", "")),)


def _dest_call_id(h: Headers) -> str:
    return h.get("Linkedid") or h.get("DestLinkedid") or h.get("Uniqueid") or h.get("DestUniqueid", "")


def _dialbegin(h: Headers, t: float) -> tuple[ev.CallEvent, ...]:
    endpoint, _ = endpoint_of(h.get("DestChannel", ""))
    return (
        ev.DialStarted(
            t, _dest_call_id(h), h.get("Uniqueid", ""), h.get("DestUniqueid", ""), endpoint, h.get("Queue")
        ),
    )


def _dialstate(h: Headers, t: float) -> tuple[ev.CallEvent, ...]:
    if h.get("DialStatus") != "RINGING":
        return ()
    return (ev.DialRinging(t, _dest_call_id(h), h.get("Uniqueid", ""), h.get("DestUniqueid", "")),)


def _dialend(h: Headers, t: float) -> tuple[ev.CallEvent, ...]:
    return (
        ev.DialEnded(
            t, _dest_call_id(h), h.get("Uniqueid", ""), h.get("DestUniqueid", ""), h.get("DialStatus", "")
        ),
    )


def _queue_join(h: Headers, t: float) -> tuple[ev.CallEvent, ...]:
    call_id, channel_id = _ids(h)
    return (ev.QueueJoined(t, call_id, channel_id, h.get("Queue", "")),)


def _queue_leave(h: Headers, t: float) -> tuple[ev.CallEvent, ...]:
    call_id, channel_id = _ids(h)
    return (ev.QueueLeft(t, call_id, channel_id, h.get("Queue", "")),)


def _queue_abandon(h: Headers, t: float) -> tuple[ev.CallEvent, ...]:
    call_id, channel_id = _ids(h)
    waited = finite_float(h.get("HoldTime", ""))  # seconds waited in queue, not a hold
    return (ev.QueueAbandoned(t, call_id, channel_id, h.get("Queue", ""), waited),)


def _agent_connect(h: Headers, t: float) -> tuple[ev.CallEvent, ...]:
    call_id, channel_id = _ids(h)
    endpoint, _ = endpoint_of(h.get("DestChannel", "") or h.get("Interface", ""))
    return (
        ev.AgentConnected(t, call_id, channel_id, h.get("Queue", ""), h.get("DestUniqueid", ""), endpoint),
    )


def _simple(kind: type[ev.CallEvent]) -> _Translator:
    def translate(h: Headers, t: float) -> tuple[ev.CallEvent, ...]:
        call_id, channel_id = _ids(h)
        return (kind(t, call_id, channel_id),)

    return translate


def _newexten(h: Headers, t: float) -> tuple[ev.CallEvent, ...]:
    app = h.get("Application", "")
    if app not in ("VoiceMail", "Queue"):
        return ()
    call_id, channel_id = _ids(h)
    return (ev.ApplicationEntered(t, call_id, channel_id, app),)


def _blind_transfer(h: Headers, t: float) -> tuple[ev.CallEvent, ...]:
    if h.get("Result", "Success") != "Success":
        return ()
    call_id = h.get("TransfererLinkedid") or h.get("TransfereeLinkedid", "")
    target = h.get("Extension", "")
    return (ev.Transferred(t, call_id, h.get("TransfererUniqueid", ""), "blind", target),)


def _attended_transfer(h: Headers, t: float) -> tuple[ev.CallEvent, ...]:
    if h.get("Result", "Success") != "Success":
        return ()
    call_id = h.get("OrigTransfererLinkedid") or h.get("TransfereeLinkedid", "")
    target_channel = h.get("TransferTargetChannel", "")
    target, _ = endpoint_of(target_channel) if target_channel else ("", False)
    target = target.removeprefix("Local/") or h.get("SecondTransfererExten", "")
    return (ev.Transferred(t, call_id, h.get("OrigTransfererUniqueid", ""), "attended", target),)


def _hangup(h: Headers, t: float) -> tuple[ev.CallEvent, ...]:
    call_id, channel_id = _ids(h)
    try:
        cause = int(h.get("Cause", "0"))
    except ValueError:
        cause = 0
    return (ev.ChannelHungUp(t, call_id, channel_id, cause, h.get("ChannelStateDesc", "")),)


TRANSLATORS: dict[str, _Translator] = {
    "Newchannel": _newchannel,
    "Newstate": _newstate,
    "DialBegin": _dialbegin,
    "DialState": _dialstate,
    "DialEnd": _dialend,
    "QueueCallerJoin": _queue_join,
    "QueueCallerLeave": _queue_leave,
    "QueueCallerAbandon": _queue_abandon,
    "AgentConnect": _agent_connect,
    "Hold": _simple(ev.HoldStarted),
    "Unhold": _simple(ev.HoldEnded),
    "MusicOnHoldStart": _simple(ev.MusicStarted),
    "MusicOnHoldStop": _simple(ev.MusicStopped),
    "Newexten": _newexten,
    "BlindTransfer": _blind_transfer,
    "AttendedTransfer": _attended_transfer,
    "Hangup": _hangup,
}

EMPTY: tuple[ev.CallEvent, ...] = ()


def translate(headers: Headers, received_at: float) -> tuple[ev.CallEvent, ...]:
    """Domain events for one AMI event (usually one, often none)."""
    fn = TRANSLATORS.get(headers.get("Event", ""))
    if fn is None:
        return EMPTY
    return fn(headers, event_time(headers, received_at))


def _duration_s(text: str) -> float:
    parts = text.split(":")
    try:
        if len(parts) == 3:
            value: float | None = int(parts[0]) * 3600 + int(parts[1]) * 60 + float(parts[2])
        else:
            value = float(text)
    except ValueError:
        return 0.0
    return value if value is not None and math.isfinite(value) and value >= 0 else 0.0


def snapshot(
    headers: Headers, at: float, queued: Mapping[str, tuple[str, float]] | None = None
) -> ev.CallSnapshot | None:
    """A ``CoreShowChannel`` list item (resync after connect) as a domain snapshot; ``queued`` maps
    a Uniqueid to (queue, seconds waited) from ``QueueStatus`` ``QueueEntry`` items."""
    if headers.get("Event") != "CoreShowChannel":
        return None
    call_id, channel_id = _ids(headers)
    if not channel_id:
        return None
    endpoint, _ = endpoint_of(headers.get("Channel", ""))
    started = at - _duration_s(headers.get("Duration", "0"))
    queue, waited = (queued or {}).get(channel_id, ("", -1.0))
    return ev.CallSnapshot(
        at,
        call_id,
        channel_id,
        endpoint,
        headers.get("CallerIDNum", ""),
        headers.get("Exten", ""),
        headers.get("Context", ""),
        headers.get("ChannelStateDesc", ""),
        started,
        headers.get("Application", ""),
        headers.get("BridgeId", ""),
        queue,
        at - waited if waited >= 0 else None,
    )


def queue_entries(items: list[Headers]) -> dict[str, tuple[str, float]]:
    """``QueueEntry`` items of a ``QueueStatus`` listing: Uniqueid -> (queue, seconds waited)."""
    out: dict[str, tuple[str, float]] = {}
    for h in items:
        if h.get("Event") == "QueueEntry" and h.get("Uniqueid"):
            waited = finite_float(h.get("Wait", ""))
            if waited is None or waited < 0:
                continue
            out[h["Uniqueid"]] = (h.get("Queue", ""), waited)
    return out
