"""State of one caller inside Queue(service) and the end of an answered queue call.

Shared by the queue flow and the transfer flows, which both finish with AgentComplete.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.asterisk.synthetic import wire
from adapters.asterisk.synthetic.ctx import CallCtx, add_cdr, emit_cdrs
from adapters.asterisk.synthetic.legs import Leg, answered_vars, leg_truth, teardown
from adapters.asterisk.synthetic.pbx import QueueEntry

QUEUE_APP_DATA = "service,tT,,,120"


@dataclass
class Attempt:
    leg: Leg
    end: float = 0.0
    answered: bool = False


@dataclass
class QueueSession:
    """Everything the end of a queue call (hangup or transfer) needs to know."""

    ctx: CallCtx
    caller: wire.Chan
    device: str
    entry: QueueEntry
    join_t: float
    attempts: list[Attempt] = field(default_factory=list)
    wait: int = 0
    connect_t: float = 0.0
    leg: Leg | None = None
    bridge: wire.Bridge | None = None

    def queue_vars(self, *chans: wire.Chan) -> None:
        for ch in chans:
            for name, value in self.ctx.pbx.queue.vars():
                self.ctx.var(ch, name, value)

    def agent_complete(self, reason: str, with_dest: bool = True) -> None:
        ctx, leg = self.ctx, self.leg
        assert leg is not None and leg.member is not None
        talk = int(ctx.now) - int(self.connect_t)
        tail = f"HoldTime: {self.wait}\r\nTalkTime: {talk}\r\nReason: {reason}\r\n"
        q, m = ctx.pbx.queue, leg.member
        ctx.emit(
            wire.agent_event(
                "AgentComplete",
                self.caller,
                leg.chan if with_dest else None,
                q.name,
                m.interface,
                m.name,
                tail,
            )
        )
        q.record_talk(talk)

    def complete(self, reason: str) -> None:
        """QUEUE* variables, app_dial style timers and AgentComplete, as the captures order them."""
        assert self.leg is not None and self.leg.answered_at is not None
        self.queue_vars(self.caller)
        answered_vars(self.ctx, self.caller, self.leg.answered_at, self.ctx.truth.arrived_at)
        self.agent_complete(reason)
        self.queue_vars(self.caller)

    def add_attempt_cdrs(self, until: float, dest_override: str | None = None) -> None:
        for i, a in enumerate(self.attempts):
            start = self.ctx.truth.arrived_at if i == 0 else a.leg.began
            end = until if a.answered else a.end
            add_cdr(
                self.ctx,
                self.caller,
                a.leg.chan.name,
                "Queue",
                QUEUE_APP_DATA,
                start,
                start,
                max(end, start),
                "ANSWERED" if a.answered else "NO ANSWER",
                "service",
            )
        if not self.attempts:
            start = self.ctx.truth.arrived_at
            add_cdr(
                self.ctx, self.caller, "", "Queue", QUEUE_APP_DATA, start, start, until, "ANSWERED", "service"
            )

    def post_cdrs(self) -> None:
        self.add_attempt_cdrs(self.ctx.now)
        emit_cdrs(self.ctx)

    def record_leg(self, a: Attempt, final_t: float) -> None:
        a.end = final_t
        leg_truth(self.ctx, a.leg, final_t, answered=a.answered)


def end_queue_call(s: QueueSession, agent_hangs_up: bool) -> None:
    assert s.leg is not None and s.bridge is not None
    teardown(
        s.ctx,
        s.caller,
        s.leg,
        s.bridge,
        agent_hangs_up=agent_hangs_up,
        dial_started=s.ctx.truth.arrived_at,
        caller_device=s.device,
        complete=s.complete,
        cdrs=s.post_cdrs,
    )
