"""Inbound call to the service number: Answer, greeting, Queue(service) with linear ring order,
ring-no-answer rollover, abandon, queue timeout to voicemail (captures b, c, d, e)."""

from __future__ import annotations

import math

from adapters.asterisk.synthetic import wire
from adapters.asterisk.synthetic.ctx import (
    CUSTOMER_RTP_PORT,
    CallCtx,
    arrive_pstn,
    emit_cdrs,
    qos_single,
    rtp_start,
    voicemail,
)
from adapters.asterisk.synthetic.legs import (
    advisor_rtp_port,
    bridge_enter,
    converse,
    leg_gone,
    leg_ringing,
    open_leg,
    unanswered_vars,
)
from adapters.asterisk.synthetic.pbx import Member, QueueEntry
from adapters.asterisk.synthetic.queue_session import QUEUE_APP_DATA, Attempt, QueueSession, end_queue_call
from adapters.asterisk.synthetic.sim import Proc
from adapters.asterisk.synthetic.transfers import attended_transfer, blind_transfer


def pick_member(ctx: CallCtx, entry: QueueEntry, linpos: int) -> Member | None:
    """Linear strategy, ringinuse=no, autofill: callers ahead that are not ringing anyone go first."""
    members = list(ctx.pbx.members.values())
    free = [m for m in members if m.free]
    entries = ctx.pbx.queue.entries
    ahead = sum(1 for e in entries[: entries.index(entry)] if not e.ringing)
    if ahead >= len(free):
        return None
    for i in range(len(members)):
        m = members[(linpos + i) % len(members)]
        if m.free:
            return m
    return None


def queue_call(ctx: CallCtx, carrier: str, number: str, name: str) -> Proc:
    p, pbx, rng = ctx.profile, ctx.pbx, ctx.rng
    caller = arrive_pstn(ctx, carrier, number, name, p.service_number)
    device = f"SIP/{carrier}"
    ctx.step(caller, 1, "NoOp", f'Service desk inbound call from "{name}" <{number}>')
    ctx.step(caller, 2, "Set", "CDR(userfield)=service")
    ctx.step(caller, 3, "GotoIf", "0?closed,1")
    ctx.step(caller, 4, "Answer", "")
    ctx.state(caller, wire.UP)
    rtp_start(ctx, caller, CUSTOMER_RTP_PORT)
    yield 0.014
    ctx.step(caller, 5, "Playback", "queue-thankyou")
    yield p.greeting_s
    ctx.var(caller, "PLAYBACKSTATUS", "SUCCESS")
    ctx.step(caller, 6, "Queue", QUEUE_APP_DATA)
    for var in (
        "ANSWEREDTIME",
        "ANSWEREDTIME_MS",
        "DIALEDTIME",
        "DIALEDTIME_MS",
        "QUEUEWAIT",
        "QUEUEWAIT_MS",
    ):
        ctx.var(caller, var, "")
    entry = QueueEntry(caller, ctx.now)
    pbx.queue_join(ctx.tl, entry)
    entry.orig_pos = pos = pbx.queue.position(entry)
    join_t = ctx.emit(
        wire.queue_caller("QueueCallerJoin", caller, p.queue, f"Position: {pos}\r\nCount: {pos}\r\n")
    )
    ctx.emit(wire.moh_start(caller))
    s = QueueSession(ctx, caller, device, entry, join_t)
    give_up = join_t + (p.patience.sample(rng) if rng.random() < p.p_abandon else math.inf)
    timeout = join_t + p.queue_timeout_s
    linpos = 0
    while True:
        now = ctx.now
        if now >= give_up:
            _abandon(s, None)
            return
        if now >= timeout:
            yield from _timeout(s, None)
            return
        member = pick_member(ctx, entry, linpos)
        if member is None:
            yield min(p.retry_s, give_up - now, timeout - now)
            continue
        leg = open_leg(ctx, caller, member, queue=True, dial_exten=p.service_number)
        attempt = Attempt(leg)
        s.attempts.append(attempt)
        entry.ringing = True
        if not leg.offline:
            yield 0.0025
            leg_ringing(ctx, caller, leg, queue=True)
        answers = not leg.offline and rng.random() >= p.p_member_no_answer
        delay = p.ring.sample(rng) if answers else math.inf
        ring_end = leg.began + min(delay, p.member_timeout_s)
        end = min(ring_end, give_up, timeout)
        yield max(end - ctx.now, 0.0)
        if give_up <= ring_end and give_up <= timeout:
            _abandon(s, attempt)
            return
        if timeout <= ring_end:
            yield from _timeout(s, attempt)
            return
        if delay < p.member_timeout_s:
            break
        _ring_no_answer(s, attempt)
        entry.ringing = False
        linpos = member.index + 1
        yield max(min(p.retry_s, give_up - ctx.now, timeout - ctx.now), 0.0)
    _answer(s, attempt)
    r = rng.random()
    if r < p.p_blind_transfer:
        yield from blind_transfer(s)
    elif r < p.p_blind_transfer + p.p_attended_transfer:
        yield from attended_transfer(s)
    else:
        yield from converse(ctx, caller, leg, p.talk.sample(rng))
        end_queue_call(s, agent_hangs_up=rng.random() < p.p_agent_hangs_up)


def _queue_wait_vars(s: QueueSession) -> None:
    ctx = s.ctx
    s.wait = int(ctx.now) - int(s.join_t)
    ctx.var(s.caller, "QUEUEWAIT", str(s.wait))
    ctx.var(s.caller, "QUEUEWAIT_MS", str(s.wait * 1000))


def _leave(s: QueueSession) -> float:
    ctx = s.ctx
    pos = ctx.pbx.queue_leave(ctx.tl, s.entry)
    tail = f"Position: {pos}\r\nCount: {len(ctx.pbx.queue.entries)}\r\n"
    t = ctx.emit(wire.queue_caller("QueueCallerLeave", s.caller, ctx.pbx.queue.name, tail))
    ctx.truth.queue_wait_s = t - s.join_t
    ctx.var(s.caller, "QUEUEPOSITION", str(pos))
    return t


def _ring_no_answer(s: QueueSession, a: Attempt) -> None:
    ctx, leg = s.ctx, a.leg
    assert leg.member is not None
    # app_queue reports the configured member timeout, in milliseconds, not the measured ring.
    ring_ms = int(ctx.profile.member_timeout_s * 1000)
    m = leg.member
    ctx.emit(
        wire.agent_event(
            "AgentRingNoAnswer",
            s.caller,
            leg.chan,
            ctx.pbx.queue.name,
            m.interface,
            m.name,
            f"RingTime: {ring_ms}\r\n",
        )
    )
    s.record_leg(a, leg_gone(ctx, leg, ("NOANSWER", "CANCEL"), s.caller))


def _abandon(s: QueueSession, a: Attempt | None) -> None:
    ctx, caller = s.ctx, s.caller
    qos_single(ctx, caller)
    ctx.emit(wire.hangup_request(caller, None))
    ctx.emit(wire.chan_event("MusicOnHoldStop", caller))
    if a is not None:
        s.record_leg(a, leg_gone(ctx, a.leg, ("CANCEL", "CANCEL"), caller))
    _queue_wait_vars(s)
    unanswered_vars(ctx, caller)
    ctx.var(caller, "ABANDONED", "TRUE")
    s.queue_vars(caller)
    s.add_attempt_cdrs(ctx.now)
    pos = ctx.pbx.queue.position(s.entry)
    tail = f"Position: {pos}\r\nOriginalPosition: {s.entry.orig_pos}\r\nHoldTime: {s.wait}\r\n"
    ctx.emit(wire.queue_caller("QueueCallerAbandon", caller, ctx.pbx.queue.name, tail))
    emit_cdrs(ctx)
    ctx.pbx.queue.abandoned += 1
    s.queue_vars(caller)
    _leave(s)
    ctx.emit(wire.soft_hangup_request(caller))
    ctx.truth.outcome, ctx.truth.hung_up_by = "abandoned", "caller"
    caller.alive = False
    ctx.truth.ended_at = ctx.emit(wire.hangup(caller, 0))
    ctx.pbx.device_release(ctx.tl, s.device)


def _timeout(s: QueueSession, a: Attempt | None) -> Proc:
    """Queue(...,120) expired: the caller leaves the queue and reaches the service voicemail."""
    ctx, caller = s.ctx, s.caller
    if a is not None:
        s.record_leg(a, leg_gone(ctx, a.leg, ("CANCEL",), caller))
    ctx.emit(wire.chan_event("MusicOnHoldStop", caller))
    _queue_wait_vars(s)
    s.queue_vars(caller)
    _leave(s)
    ctx.var(caller, "QUEUESTATUS", "TIMEOUT")
    s.add_attempt_cdrs(ctx.now)
    ctx.step(caller, 7, "VoiceMail", "600@default,u")
    yield from voicemail(ctx, caller, ctx.profile.service_number, s.device, "service")


def _answer(s: QueueSession, a: Attempt) -> None:
    ctx, caller, leg, pbx = s.ctx, s.caller, a.leg, s.ctx.pbx
    m = leg.member
    assert m is not None
    ch = leg.chan
    ctx.state(ch, wire.UP)
    t = ctx.emit(wire.dial_end(caller, ch, "ANSWER"))
    leg.answered_at, a.answered = t, True
    s.record_leg(a, t)
    ctx.emit(wire.chan_event("MusicOnHoldStop", caller))
    m.ringing -= 1
    m.active += 1
    s.wait = int(ctx.now) - int(s.join_t)
    for target in (caller, ch):
        for name, value in (
            ("MEMBERINTERFACE", m.interface),
            ("MEMBERNAME", m.name),
            ("MEMBERCALLS", str(m.calls_taken)),
            ("MEMBERLASTCALL", str(m.last_call)),
            ("MEMBERPENALTY", "0"),
            ("MEMBERDYNAMIC", "0"),
            ("MEMBERREALTIME", "0"),
        ):
            ctx.var(target, name, value)
    for target in (caller, ch):
        ctx.var(target, "QEHOLDTIME", str(s.wait))
        ctx.var(target, "QEORIGINALPOS", str(s.entry.orig_pos))
    s.queue_vars(caller, ch)
    ctx.emit(wire.device_state(m.interface, "BUSY"))
    pbx.queue.record_hold(s.wait)
    _leave(s)
    ctx.var(caller, "QUEUEWAIT", str(s.wait))
    ctx.var(caller, "QUEUEWAIT_MS", str(s.wait * 1000))
    ring = int(t) - int(leg.began)
    tail = f"HoldTime: {s.wait}\r\nRingTime: {ring}\r\n"
    s.connect_t = ctx.emit(
        wire.agent_event("AgentConnect", caller, ch, pbx.queue.name, m.interface, m.name, tail)
    )
    m.in_call, m.status = 1, 3
    pbx.member_status(ctx.tl, m)
    bridge = pbx.bridge()
    ctx.emit(wire.bridge_event("BridgeCreate", bridge))
    bridge_enter(ctx, bridge, ch, caller)
    rtp_start(ctx, ch, advisor_rtp_port(m))
    s.leg, s.bridge = leg, bridge
    ctx.truth.outcome, ctx.truth.answered_by, ctx.truth.answered_at = "answered", m.ext, t
