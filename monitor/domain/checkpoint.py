"""Live calls as plain JSON-able dicts, so a restarted daemon resumes them instead of losing them.

A checkpoint holds everything the tracker knows about a call in progress (its ``CallTimeline``; the
evidence behind it is checkpointed message by message by the store). Restoring gives back an equal
timeline: the same later events then close it with the same figures as if the daemon had never
stopped.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from monitor.domain.calls import Hold, Leg, Transfer
from monitor.domain.timeline import CallTimeline, Channel, OpenHold

FORMAT = 1  # bumped when the shape changes; an unknown format is refused, never guessed at


class CheckpointError(ValueError):
    """A stored checkpoint this version cannot read."""


def _flat(obj: Channel | OpenHold | Leg | Hold | Transfer) -> dict[str, Any]:
    # Only flat dataclasses of str/float/bool/None fields go through here.
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


_SCALARS = (
    "call_id",
    "first_t",
    "last_t",
    "trunk_answered_at",
    "queue",
    "queue_joined_at",
    "queue_left_at",
    "abandoned_at",
    "voicemail_at",
    "pbx_answered_at",
    "approximate",
    "events",
)


def timeline_to_dict(call: CallTimeline) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(call, name) for name in _SCALARS}
    out["v"] = FORMAT
    # The caller is one of the channels (the tracker compares them by identity): stored once, by id.
    out["caller"] = call.caller.channel_id
    out["channels"] = [_flat(c) for c in call.channels.values()]
    out["legs"] = [_flat(leg) for leg in call.legs.values()]  # dict order is dial order
    out["trunk_legs"] = list(call.trunk_legs)
    out["holds"] = [_flat(h) for h in call.holds]
    out["open_hold"] = None if call.open_hold is None else _flat(call.open_hold)
    out["transfers"] = [_flat(t) for t in call.transfers]
    return out


def timeline_from_dict(data: dict[str, Any]) -> CallTimeline:
    if data.get("v") != FORMAT:
        raise CheckpointError(f"live call checkpoint format {data.get('v')!r} is not {FORMAT}")
    try:
        channels = {c["channel_id"]: Channel(**c) for c in data["channels"]}
        call = CallTimeline(
            caller=channels[data["caller"]],
            channels=channels,
            legs={leg["channel_id"]: Leg(**leg) for leg in data["legs"]},
            trunk_legs=list(data["trunk_legs"]),
            holds=[Hold(**h) for h in data["holds"]],
            open_hold=None if data["open_hold"] is None else OpenHold(**data["open_hold"]),
            transfers=[Transfer(**t) for t in data["transfers"]],
            **{name: data[name] for name in _SCALARS},
        )
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"live call checkpoint is incomplete: {type(exc).__name__} {exc}") from exc
    return call
