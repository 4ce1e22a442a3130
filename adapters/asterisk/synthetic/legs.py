"""Advisor legs (ring, answer, give up), bridges, holds and the hangup sequences of a bridged call.

The event order inside each burst follows the captures: ``a``/``h1`` for plain Dial legs, ``b``/``e``
for app_queue legs, ``c`` for holds and an advisor hanging up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from dataclasses import dataclass

from adapters.asterisk.synthetic import wire
from adapters.asterisk.synthetic.ctx import (
    CallCtx,
    add_cdr,
    emit_cdrs,
    qos_bridged,
    qos_single,
    rtp_rekey,
    rtp_start,
)
from adapters.asterisk.synthetic.expected import Hold
from adapters.asterisk.synthetic.expected import Leg as LegTruth
from adapters.asterisk.synthetic.pbx import Member
from adapters.asterisk.synthetic.sim import Proc

# RINGTIME_MS right after the 180: the phones answer the INVITE within a few milliseconds.
_RING_MS = "2"


@dataclass
class Leg:
    chan: wire.Chan
    member: Member | None
    began: float = 0.0  # DialBegin
    reached: bool = False  # DialState RINGING seen
    answered_at: float | None = None
    offline: bool = False

    @property
    def ext(self) -> str:
        return self.member.ext if self.member is not None else self.chan.cid_num


def advisor_rtp_port(member: Member) -> int:
    return 32001 + 100 * member.index


def open_leg(
    ctx: CallCtx,
    caller: wire.Chan,
    member: Member,
    *,
    queue: bool,
    dial_exten: str,
    referred_by: str | None = None,
    rejected: bool = False,
    reachable: bool = False,
) -> Leg:
    """Newchannel of the advisor leg through DialBegin (and AgentCalled for queue attempts).

    ``rejected``: the desk phone is busy and will answer 486, so its device state does not change.
    ``reachable``: skip the unreachable-phone windows (the caller already checked the phone).
    """
    pbx = ctx.pbx
    uid = pbx.uniqueid(ctx.now)
    ch = wire.Chan(
        pbx.sip_channel(member.ext), uid, caller.linkedid, member.ext, member.name, "internal", "s"
    )
    leg = Leg(ch, member, offline=not reachable and member.offline(ctx.now))
    if not rejected:
        member.ringing += 1
    new_leg_channel(ctx, ch, member.ext)
    if referred_by is not None:
        ctx.var(ch, "__SIPREFERREDBYHDR", referred_by)
    if queue:
        pbx.member_state(ctx.tl, member, "RINGING")
        # AgentCalled already shows the connected line and queue extension; DialBegin does not.
        shown = dataclasses.replace(
            ch, conn_num=caller.cid_num, conn_name=caller.cid_name, exten=caller.exten
        )
        ctx.emit(
            wire.agent_event("AgentCalled", caller, shown, pbx.queue.name, member.interface, member.name)
        )
        leg.began = ctx.emit(wire.dial_begin(caller, ch, member.interface))
        ch.connect(caller)
        ch.exten = caller.exten
        caller.connect(ch)
        ctx.emit(wire.chan_event("NewConnectedLine", caller))
    else:
        plain_dial_begin(ctx, caller, leg, dial_exten, dial_exten)
    if not queue and not rejected:
        pbx.member_state(ctx.tl, member, "RINGING")
    return leg


def new_leg_channel(ctx: CallCtx, ch: wire.Chan, dialed_peer: str) -> None:
    """Newchannel of an outgoing leg, its SIP Call-ID and the DIALEDPEERNUMBER app_dial sets."""
    ctx.emit(wire.chan_event("Newchannel", ch))
    ch.sip_callid = ctx.pbx.pbx_callid()
    ctx.var(ch, "SIPCALLID", ch.sip_callid)
    ch.exten = ""
    ctx.var(ch, "DIALEDPEERNUMBER", dialed_peer)


def plain_dial_begin(ctx: CallCtx, caller: wire.Chan, leg: Leg, exten: str, dialstring: str) -> None:
    """AppDial and DialBegin of a plain Dial (not app_queue); both sides then show each other."""
    ch = leg.chan
    ch.connect(caller)
    ctx.step(ch, 1, "AppDial", "(Outgoing Line)", exten=exten)
    ctx.emit(wire.chan_event("NewConnectedLine", ch))
    leg.began = ctx.emit(wire.dial_begin(caller, ch, dialstring))
    caller.connect(ch)
    ctx.emit(wire.chan_event("NewConnectedLine", caller))


def leg_truth(ctx: CallCtx, leg: Leg, end: float, *, answered: bool) -> None:
    """Ground truth of one ring attempt: DialBegin to ``end`` (its DialEnd)."""
    ctx.truth.legs.append(LegTruth(leg.ext, end - leg.began, leg.reached, answered))


def leg_ringing(ctx: CallCtx, caller: wire.Chan, leg: Leg, *, queue: bool) -> None:
    """The phone's 180 Ringing."""
    ch = leg.chan
    leg.reached = True
    ctx.state(ch, wire.RINGING)
    if queue:
        ctx.emit(wire.newexten(ch, "AppQueue", "(Outgoing Line)"))
        ctx.emit(wire.chan_event("NewConnectedLine", ch))
        ctx.emit(wire.dial_state(caller, ch, "RINGING"))
        if leg.member is not None:
            ctx.pbx.member_state(ctx.tl, leg.member, "RINGING")
    else:
        if leg.member is not None:
            ctx.pbx.member_state(ctx.tl, leg.member, "RINGING")
        ctx.var(caller, "RINGTIME", "0")
        ctx.var(caller, "RINGTIME_MS", _RING_MS)
        ctx.emit(wire.dial_state(caller, ch, "RINGING"))


def leg_gone(ctx: CallCtx, leg: Leg, statuses: tuple[str, ...], caller: wire.Chan) -> float:
    """DialEnd(s) of an unanswered leg, then its Hangup; returns the first DialEnd time."""
    ch = leg.chan
    first = 0.0
    for i, status in enumerate(statuses):
        t = ctx.emit(wire.dial_end(caller, ch, status))
        first = t if i == 0 else first
    busy = statuses[0] == "BUSY"
    if leg.member is not None and not busy:
        leg.member.ringing -= 1
        ctx.pbx.member_state(ctx.tl, leg.member, "NOT_INUSE" if leg.member.free else "BUSY")
    ch.alive = False
    # An INVITE that never got a response ends with cause 0 in state Down (unreachable phone).
    ctx.emit(wire.hangup(ch, 17 if busy else 0 if ch.state == wire.DOWN else 16))
    return first


def ring_dial(
    ctx: CallCtx,
    caller: wire.Chan,
    leg: Leg,
    *,
    answer_after: float | None,
    timeout: float,
    cancel_after: float | None = None,
) -> Generator[float, None, str]:
    """Ringing phase of a plain Dial; returns "answer", "timeout" or "cancel" (caller gave up)."""
    if not leg.offline:
        yield 0.0025
        leg_ringing(ctx, caller, leg, queue=False)
    outcomes = [(timeout, "timeout")]
    if answer_after is not None and not leg.offline:
        outcomes.append((answer_after, "answer"))
    if cancel_after is not None:
        outcomes.append((cancel_after, "cancel"))
    after, outcome = min(outcomes)
    yield max(leg.began + after - ctx.now, 0.0)
    return outcome


def answer_dial(
    ctx: CallCtx, caller: wire.Chan, leg: Leg, peer_rtp_port: int, caller_has_rtp: bool = True
) -> wire.Bridge:
    """Plain Dial answered: DialEnd ANSWER, caller goes Up (if it was still ringing), bridge."""
    ch, member = leg.chan, leg.member
    ctx.state(ch, wire.UP)
    ctx.var(caller, "DIALSTATUS", "ANSWER")
    ctx.var(caller, "DIALEDPEERNAME", ch.name)
    ctx.var(caller, "DIALEDPEERNUMBER", leg.ext)
    ch.exten = ""
    leg.answered_at = ctx.emit(wire.dial_end(caller, ch, "ANSWER"))
    if caller.state != wire.UP:
        ctx.state(caller, wire.UP)
        if caller_has_rtp:
            rtp_start(ctx, caller, ctx.caller_rtp)
    if member is not None:
        member.ringing -= 1
        member.active += 1
        ctx.pbx.member_state(ctx.tl, member, "BUSY")
    rtp_start(ctx, ch, peer_rtp_port)
    bridge = ctx.pbx.bridge()
    ctx.emit(wire.bridge_event("BridgeCreate", bridge))
    ctx.emit(wire.newexten(ch, "AppDial", "(Outgoing Line)"))
    bridge_enter(ctx, bridge, ch, caller)
    return bridge


def bridge_enter(ctx: CallCtx, bridge: wire.Bridge, first: wire.Chan, second: wire.Chan) -> None:
    for ch in (first, second):
        bridge.members += 1
        ctx.emit(wire.bridge_event("BridgeEnter", bridge, ch))
    for a, b in ((first, second), (second, first)):
        ctx.var(a, "BRIDGEPEER", b.name)
        ctx.var(a, "BRIDGEPVTCALLID", b.sip_callid)
    rtp_rekey(ctx, second)


def clear_peers(ctx: CallCtx, *chans: wire.Chan) -> None:
    for ch in chans:
        ctx.var(ch, "BRIDGEPEER", "")
        ctx.var(ch, "BRIDGEPVTCALLID", "")


def bridge_leave(ctx: CallCtx, bridge: wire.Bridge, ch: wire.Chan) -> None:
    bridge.members -= 1
    ctx.emit(wire.bridge_event("BridgeLeave", bridge, ch))


def hold(ctx: CallCtx, held: wire.Chan, holder: wire.Chan, member: Member | None, duration: float) -> Proc:
    """Advisor re-INVITE sendonly: Hold on the advisor's channel, MusicOnHold on the held party."""
    start = ctx.emit(wire.chan_event("Hold", holder))
    holder.on_hold = True
    if member is not None:
        ctx.pbx.member_state(ctx.tl, member, "ONHOLD")
    ctx.emit(wire.moh_start(held))
    yield duration
    end = ctx.emit(wire.chan_event("Unhold", holder))
    holder.on_hold = False
    if member is not None:
        ctx.pbx.member_state(ctx.tl, member, "BUSY")
    ctx.emit(wire.chan_event("MusicOnHoldStop", held))
    ctx.truth.holds.append(Hold(start, end, member.ext if member is not None else holder.cid_num))


def converse(
    ctx: CallCtx, caller: wire.Chan, leg: Leg, talk_s: float, advisor_is_caller: Member | None = None
) -> Proc:
    """Talk for ``talk_s`` seconds (excluding hold time), with zero, one or two holds by the advisor.

    ``advisor_is_caller``: the advisor placed the call (outbound), so the customer's leg is held.
    """
    holds: list[float] = []
    rng, profile = ctx.rng, ctx.profile
    while len(holds) < 2 and rng.random() < (profile.p_hold if not holds else profile.p_hold / 2):
        holds.append(profile.hold.sample(rng))
    member: Member | None = advisor_is_caller
    if advisor_is_caller is not None:
        held, holder = leg.chan, caller
    else:
        held, holder, member = caller, leg.chan, leg.member
    remaining = talk_s
    for duration in holds:
        before = remaining * rng.uniform(0.2, 0.6)
        remaining -= before
        yield before
        yield from hold(ctx, held, holder, member, duration)
    yield remaining


def release_member(ctx: CallCtx, member: Member | None, queue_call: bool) -> None:
    if member is None:
        return
    member.active -= 1
    if queue_call:
        member.calls_taken += 1
        member.last_call = int(ctx.now)
        member.in_call = 0
    ctx.pbx.member_state(ctx.tl, member, "NOT_INUSE" if member.free else "BUSY")


def answered_vars(ctx: CallCtx, caller: wire.Chan, answered_at: float, dial_started: float) -> None:
    talk, dialed = ctx.now - answered_at, ctx.now - dial_started
    ctx.var(caller, "ANSWEREDTIME", str(int(talk)))
    ctx.var(caller, "ANSWEREDTIME_MS", str(int(talk * 1000)))
    ctx.var(caller, "DIALEDTIME", str(int(dialed)))
    ctx.var(caller, "DIALEDTIME_MS", str(int(dialed * 1000)))


def unanswered_vars(ctx: CallCtx, caller: wire.Chan) -> None:
    """The app_dial timers of a caller that leaves without a bridge of its own (abandon, transfer)."""
    dialed = ctx.now - ctx.truth.arrived_at
    ctx.var(caller, "DIALEDTIME", str(int(dialed)))
    ctx.var(caller, "DIALEDTIME_MS", str(int(dialed * 1000)))
    ctx.var(caller, "ANSWEREDTIME", "0")
    ctx.var(caller, "ANSWEREDTIME_MS", "0")


def teardown(
    ctx: CallCtx,
    caller: wire.Chan,
    leg: Leg,
    bridge: wire.Bridge,
    *,
    agent_hangs_up: bool,
    dial_started: float,
    caller_device: str | None,
    complete: Callable[[str], None] | None = None,
    cdrs: Callable[[], None] | None = None,
    leg_device: str | None = None,
    count_queue_call: bool | None = None,
) -> None:
    """Hangup of a bridged caller/advisor pair.

    ``complete`` (queue calls) emits the QUEUE* variables and AgentComplete; without it the Dial
    variables of app_dial are emitted. ``cdrs`` posts the call's CDRs at the point cdr_manager does.
    """
    agent = leg.chan
    queue_call = complete is not None
    ended_by, other = (agent, caller) if agent_hangs_up else (caller, agent)
    qos_bridged(ctx, ended_by, other)
    # A carrier BYE while the caller is inside Queue() carries no Cause; everything else has 16.
    ctx.emit(wire.hangup_request(ended_by, None if queue_call and not agent_hangs_up else 16))
    clear_peers(ctx, ended_by, other)
    answered_at = leg.answered_at if leg.answered_at is not None else dial_started
    ctx.truth.hung_up_by = leg.ext if agent_hangs_up else "caller"
    if agent_hangs_up:
        bridge_leave(ctx, bridge, agent)
        bridge_leave(ctx, bridge, caller)
        if complete is not None:
            complete("agent")
        else:
            ctx.var(caller, "ANSWEREDTIME", str(int(ctx.now - answered_at)))
            ctx.var(caller, "ANSWEREDTIME_MS", str(int((ctx.now - answered_at) * 1000)))
            if cdrs is not None:
                cdrs()
                cdrs = None
            ctx.var(caller, "DIALEDTIME", str(int(ctx.now - dial_started)))
            ctx.var(caller, "DIALEDTIME_MS", str(int((ctx.now - dial_started) * 1000)))
            ctx.var(caller, "DIALSTATUS", "ANSWER")
        ctx.emit(wire.soft_hangup_request(caller))
        if queue_call:
            qos_single(ctx, caller, only_summary=True)
    else:
        bridge_leave(ctx, bridge, caller)
        if complete is not None:
            complete("caller")
        else:
            answered_vars(ctx, caller, answered_at, dial_started)
            ctx.var(caller, "DIALSTATUS", "ANSWER")
        ctx.emit(wire.soft_hangup_request(caller))
        bridge_leave(ctx, bridge, agent)
        qos_single(ctx, agent, only_summary=True)
    if cdrs is not None:
        cdrs()
    agent.alive = False
    if agent_hangs_up:
        caller.alive = False
        ctx.truth.ended_at = ctx.emit(wire.hangup(caller, 16))
        ctx.emit(wire.bridge_event("BridgeDestroy", bridge))
        ctx.emit(wire.hangup(agent, 16))
    else:
        ctx.emit(wire.hangup(agent, 16))
        caller.alive = False
        ctx.truth.ended_at = ctx.emit(wire.hangup(caller, 16))
        ctx.emit(wire.bridge_event("BridgeDestroy", bridge))
    for device in (caller_device, leg_device):
        if device is not None:
            ctx.pbx.device_release(ctx.tl, device)
    release_member(ctx, leg.member, queue_call if count_queue_call is None else count_queue_call)


# --- the call's own plain Dial (direct, internal and outbound calls) ------------------------------


def dial_answered(
    ctx: CallCtx, caller: wire.Chan, leg: Leg, peer_rtp_port: int, answered_by: str
) -> wire.Bridge:
    """The Dial is answered: bridge, and the call's outcome (plus the ring attempt of an advisor leg)."""
    bridge = answer_dial(ctx, caller, leg, peer_rtp_port)
    answered_at = leg.answered_at
    assert answered_at is not None
    if leg.member is not None:
        leg_truth(ctx, leg, answered_at, answered=True)
    ctx.truth.outcome, ctx.truth.answered_by, ctx.truth.answered_at = "answered", answered_by, answered_at
    return bridge


def dial_unanswered(ctx: CallCtx, caller: wire.Chan, leg: Leg, status: str) -> float:
    """The advisor leg ends with DialEnd ``status``; returns that DialEnd time."""
    t = leg_gone(ctx, leg, (status,), caller)
    leg_truth(ctx, leg, t, answered=False)
    ctx.var(caller, "DIALSTATUS", status)
    return t


def add_dial_cdr(
    ctx: CallCtx, caller: wire.Chan, leg: Leg, dial_data: str, end: float, disposition: str
) -> None:
    """The CDR of the Dial: from the call's arrival, answered when the leg was."""
    add_cdr(
        ctx, caller, leg.chan.name, "Dial", dial_data, ctx.truth.arrived_at, leg.answered_at, end, disposition
    )


def hang_up_dial(
    ctx: CallCtx,
    caller: wire.Chan,
    leg: Leg,
    bridge: wire.Bridge,
    dial_data: str,
    *,
    agent_hangs_up: bool,
    dial_started: float,
    caller_device: str | None = None,
    leg_device: str | None = None,
) -> None:
    """:func:`teardown` of an answered Dial, with its ANSWERED CDR."""

    def cdrs() -> None:
        add_dial_cdr(ctx, caller, leg, dial_data, ctx.now, "ANSWERED")
        emit_cdrs(ctx)

    teardown(
        ctx,
        caller,
        leg,
        bridge,
        agent_hangs_up=agent_hangs_up,
        dial_started=dial_started,
        caller_device=caller_device,
        cdrs=cdrs,
        leg_device=leg_device,
    )
