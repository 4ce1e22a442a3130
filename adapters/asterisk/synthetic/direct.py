"""Customer calls that do not go through the queue: DID straight to an advisor (captures a, h1)
and the after-hours branch of the service number (capture h2)."""

from __future__ import annotations

from adapters.asterisk.synthetic import wire
from adapters.asterisk.synthetic.ctx import (
    CUSTOMER_RTP_PORT,
    CallCtx,
    arrive_pstn,
    emit_cdrs,
    finish,
    reset_dial_vars,
    rtp_start,
    voicemail,
)
from adapters.asterisk.synthetic.legs import (
    Leg,
    add_dial_cdr,
    advisor_rtp_port,
    converse,
    dial_answered,
    dial_unanswered,
    hang_up_dial,
    open_leg,
    ring_dial,
)
from adapters.asterisk.synthetic.pbx import Member
from adapters.asterisk.synthetic.sim import Proc


def direct_call(ctx: CallCtx, carrier: str, number: str, name: str, member: Member) -> Proc:
    p, rng, ext = ctx.profile, ctx.rng, member.ext
    caller = arrive_pstn(ctx, carrier, number, name, ext)
    device = f"SIP/{carrier}"
    ctx.step(caller, 1, "NoOp", f"Direct call to advisor {ext}")
    dial_data = f"SIP/{ext},{int(p.dial_timeout_s)},tT"
    ctx.step(caller, 2, "Dial", dial_data)
    reset_dial_vars(ctx, caller)
    dial_started = ctx.now
    busy = not member.free
    leg = open_leg(ctx, caller, member, queue=False, dial_exten=ext, rejected=busy)
    if busy:
        # The desk phone is on another call and rejects the INVITE (486): voicemail "busy" greeting.
        yield 0.012
        yield from _to_voicemail(ctx, caller, leg, dial_data, device, busy=True)
        return
    patience = p.patience.sample(rng) if rng.random() < p.p_abandon else None
    answers = rng.random() >= p.p_voicemail_direct
    outcome = yield from ring_dial(
        ctx,
        caller,
        leg,
        answer_after=p.ring.sample(rng) if answers else None,
        timeout=p.dial_timeout_s,
        cancel_after=patience,
    )
    if outcome == "answer":
        bridge = dial_answered(ctx, caller, leg, advisor_rtp_port(member), ext)
        yield from converse(ctx, caller, leg, p.talk.sample(rng))
        hangs_up = rng.random() < p.p_agent_hangs_up
        hang_up_dial(
            ctx,
            caller,
            leg,
            bridge,
            dial_data,
            agent_hangs_up=hangs_up,
            dial_started=dial_started,
            caller_device=device,
        )
        return
    if outcome == "timeout":
        yield from _to_voicemail(ctx, caller, leg, dial_data, device, busy=False)
        return
    # The customer hangs up while the advisor's phone is still ringing: a missed call.
    ctx.emit(wire.hangup_request(caller, None))
    t = dial_unanswered(ctx, caller, leg, "CANCEL")
    add_dial_cdr(ctx, caller, leg, dial_data, t, "NO ANSWER")
    emit_cdrs(ctx)
    ctx.truth.outcome, ctx.truth.hung_up_by = "missed", "caller"
    finish(ctx, caller, 0, device)


def _to_voicemail(
    ctx: CallCtx, caller: wire.Chan, leg: Leg, dial_data: str, device: str, *, busy: bool
) -> Proc:
    """Unanswered Dial: ``GotoIf(${DIALSTATUS}=BUSY?busy)`` picks the busy (b) or unavailable (u) greeting."""
    status, disposition, priority, flag = (
        ("BUSY", "BUSY", 6, "b") if busy else ("NOANSWER", "NO ANSWER", 4, "u")
    )
    t = dial_unanswered(ctx, caller, leg, status)
    ctx.step(caller, 3, "GotoIf", f"{int(busy)}?busy")
    ctx.step(caller, priority, "VoiceMail", f"{leg.ext}@default,{flag}")
    ctx.state(caller, wire.UP)
    rtp_start(ctx, caller, CUSTOMER_RTP_PORT)
    add_dial_cdr(ctx, caller, leg, dial_data, t, disposition)
    yield from voicemail(ctx, caller, leg.ext, device, "", flag=flag)


def after_hours_call(ctx: CallCtx, carrier: str, number: str, name: str) -> Proc:
    """DB(daynight/service) = night: Answer, "hours" prompt, service voicemail."""
    exten = ctx.profile.service_number
    caller = arrive_pstn(ctx, carrier, number, name, exten)
    ctx.step(caller, 1, "NoOp", f'Service desk inbound call from "{name}" <{number}>')
    ctx.step(caller, 2, "Set", "CDR(userfield)=service")
    ctx.var(caller, "DB_RESULT", "night")
    ctx.step(caller, 3, "GotoIf", "1?closed,1")
    ctx.step(caller, 1, "NoOp", "Service desk closed", exten="closed")
    ctx.step(caller, 2, "Answer", "")
    ctx.state(caller, wire.UP)
    rtp_start(ctx, caller, CUSTOMER_RTP_PORT)
    yield 0.014
    ctx.step(caller, 3, "Playback", "hours")
    yield 0.88
    ctx.var(caller, "PLAYBACKSTATUS", "SUCCESS")
    ctx.step(caller, 4, "VoiceMail", f"{exten}@default,u")
    arrived = ctx.truth.arrived_at
    yield from voicemail(ctx, caller, exten, f"SIP/{carrier}", "service", cdr_start=arrived)
