"""Calls placed from an advisor's desk phone: advisor-to-advisor (internal,2XX) and outbound
through a carrier peer. Assumed dialplan for outbound, which the lab PBX did not have:
``[internal] exten => _+1NXXNXXXXXX,1,NoOp(Outbound call to ${EXTEN})``,
``same => n,Dial(SIP/carrier1/${EXTEN},60,tT)``, ``same => n,Hangup()``.
"""

from __future__ import annotations

from adapters.asterisk.synthetic import wire
from adapters.asterisk.synthetic.ctx import (
    CUSTOMER_RTP_PORT,
    CallCtx,
    arrive_desk,
    emit_cdrs,
    finish,
    reset_dial_vars,
)
from adapters.asterisk.synthetic.legs import (
    Leg,
    add_dial_cdr,
    advisor_rtp_port,
    converse,
    dial_answered,
    dial_unanswered,
    hang_up_dial,
    leg_gone,
    new_leg_channel,
    open_leg,
    plain_dial_begin,
    release_member,
    ring_dial,
)
from adapters.asterisk.synthetic.pbx import Member
from adapters.asterisk.synthetic.sim import Proc


def internal_call(ctx: CallCtx, src: Member, dst: Member) -> Proc:
    p, rng = ctx.profile, ctx.rng
    caller = arrive_desk(ctx, src, dst.ext)
    ctx.step(caller, 1, "NoOp", f"Internal call to {dst.ext}")
    dial_data = f"SIP/{dst.ext},{int(p.dial_timeout_s)},tT"
    ctx.step(caller, 2, "Dial", dial_data)
    reset_dial_vars(ctx, caller)
    dial_started = ctx.now
    busy = not dst.free
    leg = open_leg(ctx, caller, dst, queue=False, dial_exten=dst.ext, rejected=busy)
    if busy:
        yield 0.012
        outcome = "busy"
    else:
        answers = rng.random() >= p.p_member_no_answer
        outcome = yield from ring_dial(
            ctx, caller, leg, answer_after=p.ring.sample(rng) if answers else None, timeout=p.dial_timeout_s
        )
    if outcome == "answer":
        bridge = dial_answered(ctx, caller, leg, advisor_rtp_port(dst), dst.ext)
        yield from converse(ctx, caller, leg, p.talk.sample(rng) * 0.5)
        hangs_up = rng.random() < 0.5
        hang_up_dial(ctx, caller, leg, bridge, dial_data, agent_hangs_up=hangs_up, dial_started=dial_started)
    else:
        status = "BUSY" if outcome == "busy" else "NOANSWER"
        t = dial_unanswered(ctx, caller, leg, status)
        ctx.step(caller, 3, "Hangup", "")
        add_dial_cdr(ctx, caller, leg, dial_data, t, status.replace("NOANSWER", "NO ANSWER"))
        emit_cdrs(ctx)
        ctx.truth.outcome, ctx.truth.hung_up_by = "missed", "pbx"
        finish(ctx, caller, 16, None)
    release_member(ctx, src, queue_call=False)


def _carrier_leg(ctx: CallCtx, caller: wire.Chan, carrier: str, number: str) -> Leg:
    """Outgoing channel to the carrier: the customer's number is its caller id (dialed party)."""
    pbx = ctx.pbx
    uid = pbx.uniqueid(ctx.now)
    ch = wire.Chan(pbx.sip_channel(carrier), uid, caller.linkedid, number, wire.UNKNOWN, "from-pstn", "s")
    leg = Leg(ch, None)
    new_leg_channel(ctx, ch, f"{carrier}/{number}")
    plain_dial_begin(ctx, caller, leg, number, f"{carrier}/{number}")
    pbx.device_acquire(ctx.tl, f"SIP/{carrier}")
    return leg


def outbound_call(ctx: CallCtx, src: Member, number: str, carrier: str) -> Proc:
    p, rng = ctx.profile, ctx.rng
    caller = arrive_desk(ctx, src, number)
    ctx.step(caller, 1, "NoOp", f"Outbound call to {number}")
    dial_data = f"SIP/{carrier}/{number},60,tT"
    ctx.step(caller, 2, "Dial", dial_data)
    reset_dial_vars(ctx, caller)
    dial_started = ctx.now
    leg = _carrier_leg(ctx, caller, carrier, number)
    device = f"SIP/{carrier}"
    if rng.random() < p.p_outbound_answered:
        answer_after: float | None = p.ring.sample(rng) * 1.5
    else:
        answer_after = None
    if answer_after is None and rng.random() < 0.3:
        yield rng.uniform(0.5, 3.0)  # the customer's line is busy: 486 from the carrier
        outcome = "busy"
    else:
        outcome = yield from ring_dial(
            ctx, caller, leg, answer_after=answer_after, timeout=p.outbound_timeout_s
        )
    if outcome == "answer":
        bridge = dial_answered(ctx, caller, leg, CUSTOMER_RTP_PORT, src.ext)
        yield from converse(ctx, caller, leg, p.talk.sample(rng), advisor_is_caller=src)
        hangs_up = rng.random() < 0.5
        hang_up_dial(
            ctx,
            caller,
            leg,
            bridge,
            dial_data,
            agent_hangs_up=hangs_up,
            dial_started=dial_started,
            leg_device=device,
        )
    else:
        if outcome == "busy":
            status = "BUSY"
        else:
            # The advisor gives up: CANCEL from the desk phone while the customer's phone rings.
            ctx.emit(wire.hangup_request(caller, None))
            status = "CANCEL"
        t = leg_gone(ctx, leg, (status,), caller)
        ctx.pbx.device_release(ctx.tl, device)
        ctx.var(caller, "DIALSTATUS", status)
        if status == "BUSY":
            ctx.step(caller, 3, "Hangup", "")
        add_dial_cdr(ctx, caller, leg, dial_data, t, "NO ANSWER" if status == "CANCEL" else "BUSY")
        emit_cdrs(ctx)
        ctx.truth.outcome = "failed"
        ctx.truth.hung_up_by = "caller" if status == "CANCEL" else "pbx"
        finish(ctx, caller, 0 if status == "CANCEL" else 16, None)
    release_member(ctx, src, queue_call=False)
