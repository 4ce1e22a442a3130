"""Per-call context and the building blocks every scenario shares: arrival, RTP/RTCP, QoS, CDRs,
voicemail and the dialplan steps (Newexten) of the dealership's extensions.conf."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from adapters.asterisk.synthetic import wire
from adapters.asterisk.synthetic.expected import ExpectedCall
from adapters.asterisk.synthetic.pbx import Member, Pbx, cdr_time, event_tv
from adapters.asterisk.synthetic.profile import TrafficProfile
from adapters.asterisk.synthetic.sim import Proc, Timeline

CARRIER_PORTS = {"carrier1": 5070, "carrier2": 5080, "carrier3": 5081}
# Remote RTP ports of the SIPp phones seen in the captures (customers 33001, advisors 32001, 32101, ...).
CUSTOMER_RTP_PORT = 33001
THEIR_SSRC = 0xCA110000
DIAL_VARS = (
    "DIALSTATUS",
    "DIALEDPEERNUMBER",
    "DIALEDPEERNAME",
    "ANSWEREDTIME",
    "ANSWEREDTIME_MS",
    "DIALEDTIME",
    "DIALEDTIME_MS",
    "RINGTIME",
    "RINGTIME_MS",
    "PROGRESSTIME",
    "PROGRESSTIME_MS",
)
_QOS_LOSS = (
    "  minrxlost=000.000000;  maxrxlost=000.000000;  avgrxlost=000.000000;  stdevrxlost=000.000000;"
    "  mintxlost=000.000000;  maxtxlost=000.000000;  avgtxlost=000.000000;  stdevtxlost=000.000000;"
)
_QOS_RTT = "     minrtt=000.000000;     maxrtt=000.000000;     avgrtt=000.000000;     stdevrtt=000.000000;"
_QOS_MES = (
    "   minrxmes=088.087887;   maxrxmes=088.087887;   avgrxmes=088.087887;   stdevrxmes=000.000000;"
    "   mintxmes=000.000000;   maxtxmes=000.000000;   avgtxmes=000.000000;   stdevtxmes=000.000000;"
)


@dataclass
class Media:
    remote_port: int
    local_port: int
    ssrc: int
    started: float


@dataclass
class CdrRecord:
    source: str
    destination: str
    dest_context: str
    caller_id: str
    channel: str
    dest_channel: str
    last_app: str
    last_data: str
    start: float
    answer: float | None
    end: float
    disposition: str
    userfield: str
    uniqueid: str


@dataclass
class CallCtx:
    pbx: Pbx
    tl: Timeline
    rng: random.Random
    truth: ExpectedCall
    media: dict[str, Media] = field(default_factory=dict)
    cdrs: list[CdrRecord] = field(default_factory=list)
    caller_rtp: int = CUSTOMER_RTP_PORT  # remote RTP port of the originating phone

    @property
    def profile(self) -> TrafficProfile:
        return self.pbx.profile

    @property
    def now(self) -> float:
        return self.tl.cursor

    def emit(self, raw: str) -> float:
        return self.tl.emit(raw)

    def var(self, ch: wire.Chan, name: str, value: str) -> float:
        return self.tl.emit(wire.varset(ch, name, value))

    def step(self, ch: wire.Chan, priority: int, app: str, data: str, exten: str | None = None) -> float:
        """One dialplan priority: Newexten with the channel moved to it."""
        if exten is not None:
            ch.exten = exten
        ch.priority = priority
        return self.tl.emit(wire.newexten(ch, app, data))

    def state(self, ch: wire.Chan, state: int) -> float:
        ch.state = state
        return self.tl.emit(wire.chan_event("Newstate", ch))


# --- arrival ------------------------------------------------------------------------------------


def arrive_pstn(ctx: CallCtx, carrier: str, number: str, name: str, exten: str) -> wire.Chan:
    """A customer INVITE from a carrier peer."""
    pbx, now = ctx.pbx, ctx.now
    uid = pbx.uniqueid(now)
    caller = wire.Chan(pbx.sip_channel(carrier), uid, uid, number, name, "from-pstn", exten)
    pbx.device_acquire(ctx.tl, f"SIP/{carrier}")
    sip_callid = f"{ctx.rng.randint(1, 9)}-{ctx.rng.randint(10000, 60000)}@127.0.0.1"
    return _invite(ctx, caller, CARRIER_PORTS.get(carrier, 5070), sip_callid, account=exten)


def arrive_desk(ctx: CallCtx, member: Member, exten: str) -> wire.Chan:
    """An advisor's desk phone places a call (internal or outbound)."""
    pbx, now = ctx.pbx, ctx.now
    member.active += 1
    pbx.member_state(ctx.tl, member, "BUSY")
    uid = pbx.uniqueid(now)
    caller = wire.Chan(pbx.sip_channel(member.ext), uid, uid, member.ext, member.name, "internal", exten)
    ctx.caller_rtp = 32001 + 100 * member.index
    port = 5071 + member.index
    sip_callid = f"{ctx.rng.getrandbits(64):016x}@127.0.0.1:{port}"
    return _invite(ctx, caller, port, sip_callid, account=member.ext)


def _invite(ctx: CallCtx, caller: wire.Chan, port: int, sip_callid: str, *, account: str) -> wire.Chan:
    """The calling channel from its INVITE: Newchannel, SIP variables, Ring, SIP auth event."""
    ctx.truth.arrived_at = ctx.emit(wire.chan_event("Newchannel", caller))
    ctx.truth.call_id, ctx.truth.caller_channel = caller.uniqueid, caller.name
    ctx.var(caller, "SIPURI", f"sip:{caller.cid_num}@127.0.0.1:{port}")
    ctx.var(caller, "SIPDOMAIN", "127.0.0.1")
    caller.sip_callid = sip_callid
    ctx.var(caller, "SIPCALLID", sip_callid)
    ctx.state(caller, wire.RING)
    peer = f"IPV4/UDP/127.0.0.1/{port}"
    ctx.emit(wire.successful_auth(event_tv(ctx.now), account, ctx.pbx.session_id(), peer))
    return caller


def reset_dial_vars(ctx: CallCtx, ch: wire.Chan) -> None:
    for name in DIAL_VARS:
        ctx.var(ch, name, "")


# --- media --------------------------------------------------------------------------------------


def rtp_start(ctx: CallCtx, ch: wire.Chan, remote_port: int) -> None:
    """Asterisk starts RTP once the channel is Up and sends an RTCP SR every interval until hangup."""
    m = Media(remote_port, ctx.rng.randrange(20000, 20999, 2), ctx.rng.getrandbits(32), ctx.now)
    ctx.media[ch.uniqueid] = m
    ctx.tl.spawn(_rtcp(ctx, ch, m), ctx.profile.rtcp_interval_s)


def rtp_rekey(ctx: CallCtx, ch: wire.Chan) -> None:
    """Bridging re-sources the outgoing stream: the SSRC changes (seen in the captures)."""
    m = ctx.media.get(ch.uniqueid)
    if m is not None:
        m.ssrc = ctx.rng.getrandbits(32)


def _rtcp(ctx: CallCtx, ch: wire.Chan, m: Media) -> Proc:
    interval = ctx.profile.rtcp_interval_s
    while ch.alive:
        # A phone that put the call on hold (sendonly) stops the RTCP reports on its leg.
        if not ch.on_hold:
            now = ctx.now
            packets = int((now - m.started) * 50)
            ctx.emit(
                wire.rtcp_sent(
                    ch,
                    f"127.0.0.1:{m.remote_port}",
                    f"127.0.0.1:{m.local_port + 1}",
                    m.ssrc,
                    now,
                    packets,
                    packets * 160,
                    ctx.rng.randint(0, 2),
                )
            )
        yield interval


def _qos(ctx: CallCtx, ch: wire.Chan) -> list[tuple[str, str]]:
    m = ctx.media.get(ch.uniqueid)
    count = int((ctx.now - m.started) * 50) if m is not None else 0
    ssrc = m.ssrc if m is not None else 0
    jitter = f"{ctx.rng.randint(1, 4) * 0.000125:.6f}"
    avg = ctx.rng.randint(90, 210) / 1e6
    return [
        (
            "RTPAUDIOQOS",
            f"ssrc={ssrc};themssrc={THEIR_SSRC};lp=0;rxjitter=0.000000;rxcount={count};txjitter={jitter};"
            f"txcount={count};rlp=0;rtt=0.000000;rxmes=0.000000;txmes=88.087887",
        ),
        (
            "RTPAUDIOQOSJITTER",
            f"minrxjitter=000.000000;maxrxjitter=000.000375;avgrxjitter={avg:010.6f};"
            f"stdevrxjitter={avg / 2:010.6f};mintxjitter=000.000000;maxtxjitter=000.000000;"
            "avgtxjitter=000.000000;stdevtxjitter=000.000000;",
        ),
        ("RTPAUDIOQOSLOSS", _QOS_LOSS),
        ("RTPAUDIOQOSRTT", _QOS_RTT),
        ("RTPAUDIOQOSMES", _QOS_MES),
    ]


def qos_bridged(ctx: CallCtx, first: wire.Chan, second: wire.Chan) -> None:
    """End-of-call RTP statistics of a bridged pair: the side that hangs up reports first."""
    for a, b in ((first, second), (second, first)):
        for name, value in _qos(ctx, a):
            ctx.var(a, name, value)
            ctx.var(b, name + "BRIDGED", value)


def qos_single(ctx: CallCtx, ch: wire.Chan, only_summary: bool = False) -> None:
    items = _qos(ctx, ch)
    for name, value in items[:1] if only_summary else items:
        ctx.var(ch, name, value)


# --- end of call --------------------------------------------------------------------------------


def add_cdr(
    ctx: CallCtx,
    caller: wire.Chan,
    dest_channel: str,
    app: str,
    data: str,
    start: float,
    answer: float | None,
    end: float,
    disposition: str,
    userfield: str = "",
) -> None:
    ctx.cdrs.append(
        CdrRecord(
            source=caller.cid_num,
            destination=caller.exten,
            dest_context=caller.context,
            caller_id=f'"{caller.cid_name}" <{caller.cid_num}>',
            channel=caller.name,
            dest_channel=dest_channel,
            last_app=app,
            last_data=data,
            start=start,
            answer=answer,
            end=end,
            disposition=disposition,
            userfield=userfield,
            uniqueid=caller.uniqueid,
        )
    )


def emit_cdrs(ctx: CallCtx, destination: str | None = None, dest_context: str | None = None) -> None:
    """cdr_manager posts every CDR of the call when the originating channel hangs up."""
    for r in ctx.cdrs:
        duration = int(r.end - r.start)
        ctx.emit(
            wire.cdr(
                source=r.source,
                destination=destination or r.destination,
                dest_context=dest_context or r.dest_context,
                caller_id=r.caller_id,
                channel=r.channel,
                dest_channel=r.dest_channel,
                last_app=r.last_app,
                last_data=r.last_data,
                start=cdr_time(r.start),
                answer=cdr_time(r.answer) if r.answer is not None else "",
                end=cdr_time(r.start + duration),
                duration=duration,
                billable=int(r.end - r.answer) if r.answer is not None else 0,
                disposition=r.disposition,
                uniqueid=r.uniqueid,
                userfield=r.userfield,
            )
        )
    ctx.cdrs.clear()


def finish(ctx: CallCtx, caller: wire.Chan, cause: int, device: str | None) -> None:
    """Hangup of the originating channel; releases the caller's device (a carrier peer)."""
    caller.alive = False
    ctx.truth.ended_at = ctx.emit(wire.hangup(caller, cause))
    if device is not None:
        ctx.pbx.device_release(ctx.tl, device)


def voicemail(
    ctx: CallCtx,
    caller: wire.Chan,
    mailbox: str,
    device: str,
    userfield: str,
    flag: str = "u",
    cdr_start: float | None = None,
) -> Proc:
    """Caller records a message until they hang up (app_voicemail answers, no bridge)."""
    start = ctx.now
    ctx.truth.outcome = "voicemail"
    yield ctx.profile.voicemail.sample(ctx.rng)
    qos_single(ctx, caller)
    ctx.emit(wire.hangup_request(caller, None))
    box = f"{mailbox}@default"
    n = ctx.pbx.mailboxes.get(box, 0)
    ctx.pbx.mailboxes[box] = n + 1
    ctx.var(caller, "VM_MESSAGEFILE", f"/var/spool/asterisk/voicemail/default/{mailbox}/INBOX/msg{n:04d}")
    ctx.emit(wire.message_waiting(caller, box, n + 1))
    ctx.var(caller, "VMSTATUS", "SUCCESS")
    ctx.emit(wire.soft_hangup_request(caller))
    vm_start = start if cdr_start is None else cdr_start
    data = f"{mailbox}@default,{flag}"
    add_cdr(ctx, caller, "", "VoiceMail", data, vm_start, vm_start, ctx.now, "ANSWERED", userfield)
    ctx.truth.hung_up_by = "caller"
    finish(ctx, caller, 0, device)
    if n == 0:
        ctx.emit(wire.device_state(f"MWI:{box}", "INUSE"))
    emit_cdrs(ctx)
