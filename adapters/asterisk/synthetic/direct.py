"""Customer calls that do not go through the queue: DID straight to an advisor (captures a, h1)
and the after-hours branch of the service number (capture h2)."""

from __future__ import annotations

from adapters.asterisk.synthetic import wire
from adapters.asterisk.synthetic.ctx import (
    CUSTOMER_RTP_PORT,
    CallCtx,
    add_cdr,
    arrive_pstn,
    emit_cdrs,
    finish,
    reset_dial_vars,
    rtp_start,
    voicemail,
)
from adapters.asterisk.synthetic.expected import Leg as LegTruth
from adapters.asterisk.synthetic.legs import (
    advisor_rtp_port,
    answer_dial,
    converse,
    leg_gone,
    open_leg,
    ring_dial,
    teardown,
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
        t = leg_gone(ctx, leg, ("BUSY",), caller)
        ctx.truth.legs.append(LegTruth(ext, t - leg.began, False, False))
        ctx.var(caller, "DIALSTATUS", "BUSY")
        ctx.step(caller, 3, "GotoIf", "1?busy")
        ctx.step(caller, 6, "VoiceMail", f"{ext}@default,b")
        ctx.state(caller, wire.UP)
        rtp_start(ctx, caller, CUSTOMER_RTP_PORT)
        add_cdr(ctx, caller, leg.chan.name, "Dial", dial_data, ctx.truth.arrived_at, None, t, "BUSY")
        yield from voicemail(ctx, caller, ext, device, "", flag="b")
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
        bridge = answer_dial(ctx, caller, leg, advisor_rtp_port(member))
        answered_at = leg.answered_at
        assert answered_at is not None
        ctx.truth.legs.append(LegTruth(ext, answered_at - leg.began, True, True))
        ctx.truth.outcome, ctx.truth.answered_by, ctx.truth.answered_at = "answered", ext, answered_at
        yield from converse(ctx, caller, leg, p.talk.sample(rng))

        def cdrs() -> None:
            add_cdr(
                ctx,
                caller,
                leg.chan.name,
                "Dial",
                dial_data,
                ctx.truth.arrived_at,
                answered_at,
                ctx.now,
                "ANSWERED",
            )
            emit_cdrs(ctx)

        teardown(
            ctx,
            caller,
            leg,
            bridge,
            agent_hangs_up=rng.random() < p.p_agent_hangs_up,
            dial_started=dial_started,
            caller_device=device,
            cdrs=cdrs,
        )
        return
    if outcome == "timeout":
        t = leg_gone(ctx, leg, ("NOANSWER",), caller)
        ctx.truth.legs.append(LegTruth(ext, t - leg.began, leg.reached, False))
        ctx.var(caller, "DIALSTATUS", "NOANSWER")
        ctx.step(caller, 3, "GotoIf", "0?busy")
        ctx.step(caller, 4, "VoiceMail", f"{ext}@default,u")
        ctx.state(caller, wire.UP)
        rtp_start(ctx, caller, CUSTOMER_RTP_PORT)
        add_cdr(ctx, caller, leg.chan.name, "Dial", dial_data, ctx.truth.arrived_at, None, t, "NO ANSWER")
        yield from voicemail(ctx, caller, ext, device, "")
        return
    # The customer hangs up while the advisor's phone is still ringing: a missed call.
    ctx.emit(wire.hangup_request(caller, None))
    t = leg_gone(ctx, leg, ("CANCEL",), caller)
    ctx.truth.legs.append(LegTruth(ext, t - leg.began, leg.reached, False))
    ctx.var(caller, "DIALSTATUS", "CANCEL")
    add_cdr(ctx, caller, leg.chan.name, "Dial", dial_data, ctx.truth.arrived_at, None, t, "NO ANSWER")
    emit_cdrs(ctx)
    ctx.truth.outcome, ctx.truth.hung_up_by = "missed", "caller"
    finish(ctx, caller, 0, device)


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
