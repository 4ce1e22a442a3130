"""Transfers of an answered queue call.

Blind: a genuine SIP REFER from the advisor phone (capture f): lone Unhold at REFER time,
BlindTransfer, AgentComplete Reason transfer, then a plain Dial leg with the same Linkedid.
Attended: AMI Atxfer / feature code *2 (README, run f2): DTMF, Hold on the advisor with no Unhold,
a Local/2XX@internal pair for the consultation, BridgeMerge + AttendedTransfer when the advisor
hangs up, MusicOnHoldStop on the caller, then Local channel optimisation.
"""

from __future__ import annotations

from collections.abc import Generator

from adapters.asterisk.synthetic import wire
from adapters.asterisk.synthetic.ctx import add_cdr, emit_cdrs, finish, qos_single, reset_dial_vars
from adapters.asterisk.synthetic.expected import Hold, Transfer
from adapters.asterisk.synthetic.legs import (
    advisor_rtp_port,
    answer_dial,
    bridge_leave,
    clear_peers,
    converse,
    dial_unanswered,
    leg_truth,
    open_leg,
    release_member,
    ring_dial,
    teardown,
    unanswered_vars,
)
from adapters.asterisk.synthetic.pbx import Member
from adapters.asterisk.synthetic.queue_session import QueueSession, end_queue_call
from adapters.asterisk.synthetic.sim import Proc


def _talk_then_pick_target(s: QueueSession, *, need_online: bool) -> Generator[float, None, Member | None]:
    """Talk a while, then pick a free colleague; with nobody free the call simply ends (None)."""
    ctx, p, leg = s.ctx, s.ctx.profile, s.leg
    assert leg is not None and leg.member is not None
    yield from converse(ctx, s.caller, leg, p.talk.sample(ctx.rng) * 0.5)
    choices = [
        m
        for m in ctx.pbx.members.values()
        if m is not leg.member and m.free and not (need_online and m.offline(ctx.now))
    ]
    if choices:
        return ctx.rng.choice(choices)
    yield p.talk.sample(ctx.rng) * 0.5
    end_queue_call(s, ctx.rng.random() < p.p_agent_hangs_up)
    return None


def blind_transfer(s: QueueSession) -> Proc:
    target = yield from _talk_then_pick_target(s, need_online=False)
    if target is None:
        return
    ctx, caller, p = s.ctx, s.caller, s.ctx.profile
    leg, bridge = s.leg, s.bridge
    assert leg is not None and bridge is not None and leg.member is not None
    agent, src = leg.chan, leg.member
    referrer = f"<sip:{src.ext}@127.0.0.1:{5071 + src.index}>"
    ctx.var(caller, "SIPREFERRINGCONTEXT", "internal")
    ctx.var(caller, "__SIPREFERREDBYHDR", referrer)
    ctx.emit(wire.chan_event("Unhold", agent))  # chan_sip quirk: Unhold on REFER without any Hold
    ctx.var(caller, "BLINDTRANSFER", agent.name)
    ctx.var(agent, "BLINDTRANSFER", caller.name)
    ctx.var(caller, "SIPTRANSFER", "yes")
    ctx.var(caller, "SIPTRANSFER_REFERER", referrer)
    ctx.var(caller, "SIPDOMAIN", "")
    clear_peers(ctx, agent)
    t_x = ctx.emit(wire.blind_transfer(agent, caller, bridge, target.ext))
    bridge_leave(ctx, bridge, agent)
    clear_peers(ctx, caller)
    caller.context = "internal"
    ctx.step(caller, 1, "Queue", "service,tT,,,120", exten=target.ext)
    bridge_leave(ctx, bridge, caller)
    unanswered_vars(ctx, caller)
    s.agent_complete("transfer")
    ctx.emit(wire.bridge_event("BridgeDestroy", bridge))
    s.queue_vars(caller)
    agent.alive = False
    ctx.emit(wire.hangup(agent, 16))
    release_member(ctx, src, queue_call=True)
    ctx.truth.transfers.append(Transfer("blind", src.ext, target.ext, t_x))
    # The caller now runs internal,2XX: a plain Dial, no AgentCalled.
    ctx.step(caller, 2, "Dial", f"SIP/{target.ext},20,tT")
    reset_dial_vars(ctx, caller)
    dial_started = ctx.now
    leg2 = open_leg(ctx, caller, target, queue=False, dial_exten=target.ext, referred_by=referrer)
    answers = ctx.rng.random() >= p.p_member_no_answer
    outcome = yield from ring_dial(
        ctx, caller, leg2, answer_after=p.ring.sample(ctx.rng) if answers else None, timeout=p.dial_timeout_s
    )

    def cdrs() -> None:
        s.add_attempt_cdrs(t_x)
        answered = leg2.answered_at
        disposition = "ANSWERED" if answered is not None else "NO ANSWER"
        add_cdr(
            ctx,
            caller,
            leg2.chan.name,
            "Dial",
            f"SIP/{target.ext},20,tT",
            dial_started,
            dial_started,
            ctx.now,
            disposition,
            "service",
        )
        emit_cdrs(ctx, destination=target.ext, dest_context="internal")

    if outcome != "answer":
        dial_unanswered(ctx, caller, leg2, "NOANSWER")
        ctx.step(caller, 3, "Hangup", "")
        qos_single(ctx, caller)
        cdrs()
        ctx.truth.hung_up_by = "pbx"
        finish(ctx, caller, 16, s.device)
        return
    bridge2 = answer_dial(ctx, caller, leg2, advisor_rtp_port(target))
    ctx.var(caller, "BLINDTRANSFER", "")
    assert leg2.answered_at is not None
    leg_truth(ctx, leg2, leg2.answered_at, answered=True)
    yield from converse(ctx, caller, leg2, p.talk.sample(ctx.rng))
    teardown(
        ctx,
        caller,
        leg2,
        bridge2,
        agent_hangs_up=ctx.rng.random() < p.p_agent_hangs_up,
        dial_started=dial_started,
        caller_device=s.device,
        cdrs=cdrs,
    )


def attended_transfer(s: QueueSession) -> Proc:
    target = yield from _talk_then_pick_target(s, need_online=True)
    if target is None:
        return
    ctx, caller, p, pbx = s.ctx, s.caller, s.ctx.profile, s.ctx.pbx
    leg, bridge = s.leg, s.bridge
    assert leg is not None and bridge is not None and leg.member is not None
    agent, src = leg.chan, leg.member
    for digit in "*2":
        ctx.emit(wire.dtmf_end(agent, digit, ctx.rng.randint(90, 160)))
        yield 0.25
    t_hold = ctx.emit(wire.chan_event("Hold", agent))
    ctx.emit(wire.moh_start(caller))
    yield 1.3  # "pbx-transfer" prompt
    for digit in target.ext:
        ctx.emit(wire.dtmf_end(agent, digit, ctx.rng.randint(90, 160)))
        yield 0.35
    # Atxfer dials the target through a Local channel pair; Local;2 runs internal,2XX.
    local = pbx.local_pair(target.ext, "internal")
    l1 = wire.Chan(
        f"{local};1", pbx.uniqueid(ctx.now), caller.linkedid, src.ext, src.name, "internal", target.ext
    )
    l2 = wire.Chan(
        f"{local};2", pbx.uniqueid(ctx.now), caller.linkedid, src.ext, src.name, "internal", target.ext
    )
    ctx.emit(wire.chan_event("Newchannel", l1))
    ctx.emit(wire.chan_event("Newchannel", l2))
    consult = pbx.bridge()
    ctx.emit(wire.bridge_event("BridgeCreate", consult))
    bridge_leave(ctx, bridge, agent)
    for ch in (agent, l1):
        consult.members += 1
        ctx.emit(wire.bridge_event("BridgeEnter", consult, ch))
    ctx.emit(wire.local_bridge(l1, l2, "internal", target.ext))
    ctx.state(l2, wire.RING)
    ctx.step(l2, 1, "NoOp", f"Internal call to {target.ext}")
    ctx.step(l2, 2, "Dial", f"SIP/{target.ext},20,tT")
    reset_dial_vars(ctx, l2)
    leg2 = open_leg(ctx, l2, target, queue=False, dial_exten=target.ext, reachable=True)
    # The consultation INVITE shows the advisor's caller id, not the customer's.
    outcome = yield from ring_dial(
        ctx, l2, leg2, answer_after=min(p.ring.sample(ctx.rng), 14.0), timeout=p.dial_timeout_s
    )
    assert outcome == "answer"
    far = answer_dial(ctx, l2, leg2, advisor_rtp_port(target), caller_has_rtp=False)
    l1.connect(leg2.chan)
    ctx.state(l1, wire.UP)
    assert leg2.answered_at is not None
    leg_truth(ctx, leg2, leg2.answered_at, answered=True)
    yield p.consult.sample(ctx.rng)
    # The transferring advisor hangs up: the transfer completes.
    ctx.emit(wire.hangup_request(agent, 16))
    ctx.emit(wire.bridge_merge(bridge, consult))
    bridge_leave(ctx, consult, l1)
    bridge.members += 1
    ctx.emit(wire.bridge_event("BridgeEnter", bridge, l1))
    bridge_leave(ctx, consult, agent)
    t_x = ctx.emit(wire.attended_transfer(agent, bridge, agent, consult, caller, l1))
    ctx.emit(wire.bridge_event("BridgeDestroy", consult))
    t_moh = ctx.emit(wire.chan_event("MusicOnHoldStop", caller))
    ctx.truth.holds.append(Hold(t_hold, t_moh, src.ext))
    s.agent_complete("transfer", with_dest=False)
    agent.alive = False
    ctx.emit(wire.hangup(agent, 16))
    release_member(ctx, src, queue_call=True)
    ctx.truth.transfers.append(Transfer("attended", src.ext, target.ext, t_x))
    # Local channel optimisation: SIP/2XX moves into the caller's bridge, the Local pair goes away.
    op = pbx.opt_id
    pbx.opt_id += 1
    ctx.emit(wire.local_optimization_begin(l1, l2, leg2.chan, bridge, op))
    bridge_leave(ctx, far, leg2.chan)
    bridge.members += 1
    ctx.emit(wire.bridge_event("BridgeEnter", bridge, leg2.chan))
    ctx.emit(wire.local_optimization_end(l1, l2, op))
    bridge_leave(ctx, bridge, l1)
    bridge_leave(ctx, far, l2)
    ctx.emit(wire.bridge_event("BridgeDestroy", far))
    for ch in (l1, l2):
        ch.alive = False
        ctx.emit(wire.hangup(ch, 16))
    caller.connect(leg2.chan)
    ctx.emit(wire.chan_event("NewConnectedLine", caller))
    leg2.chan.connect(caller)
    ctx.emit(wire.chan_event("NewConnectedLine", leg2.chan))
    for a, b in ((caller, leg2.chan), (leg2.chan, caller)):
        ctx.var(a, "BRIDGEPEER", b.name)
        ctx.var(a, "BRIDGEPVTCALLID", b.sip_callid)
    yield from converse(ctx, caller, leg2, p.talk.sample(ctx.rng))

    def cdrs() -> None:
        s.add_attempt_cdrs(t_x)
        start = leg2.began
        add_cdr(
            ctx,
            l2,
            leg2.chan.name,
            "Dial",
            f"SIP/{target.ext},20,tT",
            start,
            leg2.answered_at,
            t_x,
            "ANSWERED",
        )
        emit_cdrs(ctx)

    teardown(
        ctx,
        caller,
        leg2,
        bridge,
        agent_hangs_up=ctx.rng.random() < p.p_agent_hangs_up,
        dial_started=ctx.truth.arrived_at,
        caller_device=s.device,
        complete=lambda _reason: s.queue_vars(caller),
        cdrs=cdrs,
        count_queue_call=False,
    )
