"""What is happening right now: a view of live calls for gauges, the wallboard and paging.

Figures are measured from the caller's point of view: a caller "ringing" is one still waiting for a
person (in a queue or while desk phones ring), and their wait counts from arrival, the same origin as
``time_to_answer_s``, so a live alert and the final record agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from monitor.domain.cadence import rings_for
from monitor.domain.timeline import CallTimeline
from monitor.domain.topology import PbxTopology

LiveState = Literal["waiting", "ringing", "talking", "on_hold", "voicemail"]


@dataclass(frozen=True, slots=True)
class LiveCall:
    call_id: str
    queue: str
    state: LiveState
    since_arrival_s: float
    rings: int
    hold_s: float  # current hold, 0 when not on hold
    agent: str


def live_calls(
    calls: Iterable[CallTimeline], now: float, cycle_s: float, topology: PbxTopology
) -> list[LiveCall]:
    out = []
    for call in calls:
        if not topology.is_trunk(call.caller.endpoint) or call.caller.hung_up_at is not None:
            continue  # only customers' calls are on the board
        elapsed = max(0.0, now - call.first_t)
        answered = call.person_answered_at() is not None
        state: LiveState
        hold_s = 0.0
        if call.open_hold is not None:
            state, hold_s = "on_hold", max(0.0, now - call.open_hold.start)
        elif answered:
            state = "talking"
        elif call.voicemail_at is not None:
            state = "voicemail"
        elif call.in_queue():
            state = "waiting"
        else:
            state = "ringing"  # desk phones ringing, or the greeting before the queue: still unanswered
        out.append(
            LiveCall(
                call_id=call.call_id,
                queue=call.queue or "",
                state=state,
                since_arrival_s=round(elapsed, 3),
                rings=0 if answered else rings_for(elapsed, cycle_s),
                hold_s=round(hold_s, 3),
                agent=call.current_agent(),
            )
        )
    return out
