"""AMI wire format of Asterisk 20 (chan_sip) events, header for header as in the real captures.

Every builder returns the complete message text including the terminating blank line. Header names
and their order are copied from ``/work/shared/fixtures/asterisk/captures``; events that the captures
do not contain (attended transfer, Local channels, DTMF) follow the Asterisk 20 source
(``main/stasis_bridges.c``, ``main/core_local.c``, ``main/manager_channels.c``).
"""

from __future__ import annotations

from dataclasses import dataclass

CRLF = "\r\n"
STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
DOWN, RING, RINGING, UP = 0, 4, 5, 6
UNKNOWN = "<unknown>"


@dataclass
class Chan:
    """Mutable channel snapshot; events print its current values, as Asterisk prints the latest snapshot."""

    name: str
    uniqueid: str
    linkedid: str
    cid_num: str
    cid_name: str
    context: str
    exten: str
    priority: int = 1
    state: int = DOWN
    conn_num: str = UNKNOWN
    conn_name: str = UNKNOWN
    alive: bool = True
    on_hold: bool = False
    sip_callid: str = ""

    def block(self, prefix: str = "") -> str:
        p = prefix
        return (
            f"{p}Channel: {self.name}\r\n"
            f"{p}ChannelState: {self.state}\r\n"
            f"{p}ChannelStateDesc: {STATE_DESC[self.state]}\r\n"
            f"{p}CallerIDNum: {self.cid_num}\r\n"
            f"{p}CallerIDName: {self.cid_name}\r\n"
            f"{p}ConnectedLineNum: {self.conn_num}\r\n"
            f"{p}ConnectedLineName: {self.conn_name}\r\n"
            f"{p}Language: en\r\n"
            f"{p}AccountCode: \r\n"
            f"{p}Context: {self.context}\r\n"
            f"{p}Exten: {self.exten}\r\n"
            f"{p}Priority: {self.priority}\r\n"
            f"{p}Uniqueid: {self.uniqueid}\r\n"
            f"{p}Linkedid: {self.linkedid}\r\n"
        )

    def connect(self, other: Chan) -> None:
        self.conn_num, self.conn_name = other.cid_num, other.cid_name


@dataclass
class Bridge:
    uniqueid: str
    members: int = 0

    def block(self, prefix: str = "") -> str:
        p = prefix
        return (
            f"{p}BridgeUniqueid: {self.uniqueid}\r\n"
            f"{p}BridgeType: basic\r\n"
            f"{p}BridgeTechnology: simple_bridge\r\n"
            f"{p}BridgeCreator: <unknown>\r\n"
            f"{p}BridgeName: <unknown>\r\n"
            f"{p}BridgeNumChannels: {self.members}\r\n"
            f"{p}BridgeVideoSourceMode: none\r\n"
        )


def _ev(name: str, privilege: str, body: str) -> str:
    return f"Event: {name}\r\nPrivilege: {privilege}\r\n{body}\r\n"


# --- channel life cycle -------------------------------------------------------------------------


def chan_event(name: str, ch: Chan, privilege: str = "call,all", extra: str = "") -> str:
    """Events that carry only the channel snapshot (Newchannel, Newstate, Hold, MusicOnHoldStop, ...)."""
    return _ev(name, privilege, ch.block() + extra)


def varset(ch: Chan, variable: str, value: str) -> str:
    return _ev("VarSet", "dialplan,all", f"{ch.block()}Variable: {variable}\r\nValue: {value}\r\n")


def newexten(ch: Chan, application: str, appdata: str) -> str:
    body = f"{ch.block()}Extension: {ch.exten}\r\nApplication: {application}\r\nAppData: {appdata}\r\n"
    return _ev("Newexten", "dialplan,all", body)


CAUSE_TXT = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    19: "No user responding",
    21: "Call Rejected",
}


def hangup(ch: Chan, cause: int) -> str:
    return _ev("Hangup", "call,all", f"{ch.block()}Cause: {cause}\r\nCause-txt: {CAUSE_TXT[cause]}\r\n")


def hangup_request(ch: Chan, cause: int | None) -> str:
    # A BYE from the carrier side while the caller sits in an application carries no Cause header.
    return _ev("HangupRequest", "call,all", ch.block() + ("" if cause is None else f"Cause: {cause}\r\n"))


def soft_hangup_request(ch: Chan) -> str:
    return _ev("SoftHangupRequest", "call,all", f"{ch.block()}Cause: 16\r\n")


def device_state(device: str, state: str) -> str:
    return _ev("DeviceStateChange", "call,all", f"Device: {device}\r\nState: {state}\r\n")


def moh_start(ch: Chan) -> str:
    return _ev("MusicOnHoldStart", "call,all", f"{ch.block()}Class: default\r\n")


# --- dialing ------------------------------------------------------------------------------------


def dial_begin(caller: Chan, dest: Chan, dialstring: str, dest_override: str | None = None) -> str:
    dest_block = dest.block("Dest") if dest_override is None else dest_override
    return _ev("DialBegin", "call,all", f"{caller.block()}{dest_block}DialString: {dialstring}\r\n")


def dial_state(caller: Chan, dest: Chan, status: str) -> str:
    return _ev("DialState", "call,all", f"{caller.block()}{dest.block('Dest')}DialStatus: {status}\r\n")


def dial_end(caller: Chan, dest: Chan, status: str) -> str:
    return _ev("DialEnd", "call,all", f"{caller.block()}{dest.block('Dest')}DialStatus: {status}\r\n")


# --- bridges ------------------------------------------------------------------------------------


def bridge_event(name: str, bridge: Bridge, ch: Chan | None = None) -> str:
    return _ev(name, "call,all", bridge.block() + (ch.block() if ch is not None else ""))


def bridge_merge(to: Bridge, frm: Bridge) -> str:
    return _ev("BridgeMerge", "call,all", to.block("To") + frm.block("From"))


def blind_transfer(transferer: Chan, transferee: Chan, bridge: Bridge, exten: str) -> str:
    body = (
        "Result: Success\r\n"
        + transferer.block("Transferer")
        + transferee.block("Transferee")
        + bridge.block()
        + f"IsExternal: Yes\r\nContext: internal\r\nExtension: {exten}\r\n"
    )
    return _ev("BlindTransfer", "call,all", body)


def attended_transfer(
    orig: Chan, orig_bridge: Bridge, second: Chan, second_bridge: Bridge, transferee: Chan, target: Chan
) -> str:
    body = (
        "Result: Success\r\n"
        + orig.block("OrigTransferer")
        + orig_bridge.block("Orig")
        + second.block("SecondTransferer")
        + second_bridge.block("Second")
        + transferee.block("Transferee")
        + target.block("TransferTarget")
        + f"IsExternal: No\r\nDestType: Bridge\r\nDestBridgeUniqueid: {orig_bridge.uniqueid}\r\n"
    )
    return _ev("AttendedTransfer", "call,all", body)


def local_bridge(one: Chan, two: Chan, context: str, exten: str) -> str:
    body = f"{one.block('LocalOne')}{two.block('LocalTwo')}Context: {context}\r\nExten: {exten}\r\n"
    return _ev("LocalBridge", "call,all", body + "LocalOptimization: Yes\r\n")


def local_optimization_begin(one: Chan, two: Chan, source: Chan, dest_bridge: Bridge, op_id: int) -> str:
    body = (
        one.block("LocalOne")
        + two.block("LocalTwo")
        + source.block("Source")
        + f"DestUniqueId: {dest_bridge.uniqueid}\r\nId: {op_id}\r\n"
    )
    return _ev("LocalOptimizationBegin", "call,all", body)


def local_optimization_end(one: Chan, two: Chan, op_id: int) -> str:
    body = f"{one.block('LocalOne')}{two.block('LocalTwo')}Success: Yes\r\nId: {op_id}\r\n"
    return _ev("LocalOptimizationEnd", "call,all", body)


def dtmf_end(ch: Chan, digit: str, duration_ms: int) -> str:
    body = f"{ch.block()}Digit: {digit}\r\nDurationMs: {duration_ms}\r\nDirection: Received\r\n"
    return _ev("DTMFEnd", "dtmf,all", body)


# --- app_queue ----------------------------------------------------------------------------------


def queue_member_status(
    queue: str,
    member: str,
    interface: str,
    calls_taken: int,
    last_call: int,
    login_time: int,
    in_call: int,
    status: int,
) -> str:
    body = (
        f"Queue: {queue}\r\nMemberName: {member}\r\nInterface: {interface}\r\nStateInterface: {interface}\r\n"
        f"Membership: static\r\nPenalty: 0\r\nCallsTaken: {calls_taken}\r\nLastCall: {last_call}\r\n"
        f"LastPause: 0\r\nLoginTime: {login_time}\r\nInCall: {in_call}\r\nStatus: {status}\r\n"
        "Paused: 0\r\nPausedReason: \r\nRinginuse: 0\r\nWrapuptime: 0\r\n"
    )
    return _ev("QueueMemberStatus", "agent,all", body)


def queue_caller(name: str, caller: Chan, queue: str, tail: str) -> str:
    """QueueCallerJoin / QueueCallerLeave / QueueCallerAbandon: caller snapshot, Queue, then ``tail``."""
    return _ev(name, "agent,all", f"{caller.block()}Queue: {queue}\r\n{tail}")


def agent_event(
    name: str, caller: Chan, agent: Chan | None, queue: str, interface: str, member: str, tail: str = ""
) -> str:
    """AgentCalled/Connect/Complete/RingNoAnswer; ``agent`` None drops the Dest* block (attended transfer)."""
    dest = agent.block("Dest") if agent is not None else ""
    body = f"{caller.block()}{dest}Queue: {queue}\r\nInterface: {interface}\r\nMemberName: {member}\r\n{tail}"
    return _ev(name, "agent,all", body)


# --- reporting / misc ---------------------------------------------------------------------------


def rtcp_sent(
    ch: Chan, to: str, frm: str, ssrc: int, ntp: float, packets: int, rtp_ts: int, jitter: int
) -> str:
    body = (
        f"{ch.block()}To: {to}\r\nFrom: {frm}\r\nMES: 88.1\r\nSSRC: 0x{ssrc:08x}\r\nPT: 200(SR)\r\n"
        f"ReportCount: 1\r\nSentNTP: {ntp:.6f}\r\nSentRTP: {rtp_ts}\r\nSentPackets: {packets}\r\n"
        f"SentOctets: {packets * 160}\r\nReport0SourceSSRC: 0xca110000\r\nReport0FractionLost: 0\r\n"
        f"Report0CumulativeLost: 0\r\nReport0HighestSequence: {packets + 1}\r\n"
        f"Report0SequenceNumberCycles: 0\r\nReport0IAJitter: {jitter}\r\n"
        "Report0LSR: 0\r\nReport0DLSR: 0.0000\r\n"
    )
    return _ev("RTCPSent", "reporting,all", body)


def cdr(
    *,
    source: str,
    destination: str,
    dest_context: str,
    caller_id: str,
    channel: str,
    dest_channel: str,
    last_app: str,
    last_data: str,
    start: str,
    answer: str,
    end: str,
    duration: int,
    billable: int,
    disposition: str,
    uniqueid: str,
    userfield: str,
) -> str:
    body = (
        f"AccountCode: \r\nSource: {source}\r\nDestination: {destination}\r\n"
        f"DestinationContext: {dest_context}\r\nCallerID: {caller_id}\r\nChannel: {channel}\r\n"
        f"DestinationChannel: {dest_channel}\r\nLastApplication: {last_app}\r\nLastData: {last_data}\r\n"
        f"StartTime: {start}\r\nAnswerTime: {answer}\r\nEndTime: {end}\r\nDuration: {duration}\r\n"
        f"BillableSeconds: {billable}\r\nDisposition: {disposition}\r\nAMAFlags: DOCUMENTATION\r\n"
        f"UniqueID: {uniqueid}\r\nUserField: {userfield}\r\n"
    )
    return _ev("Cdr", "cdr,all", body)


def message_waiting(ch: Chan, mailbox: str, new: int) -> str:
    return _ev(
        "MessageWaiting",
        "call,all",
        f"{ch.block()}Mailbox: {mailbox}\r\nWaiting: 1\r\nNew: {new}\r\nOld: 0\r\n",
    )


def successful_auth(event_tv: str, account: str, session_id: str, remote: str) -> str:
    body = (
        f"EventTV: {event_tv}\r\nSeverity: Informational\r\nService: SIP\r\nEventVersion: 1\r\n"
        f"AccountID: {account}\r\nSessionID: {session_id}\r\nLocalAddress: IPV4/UDP/127.0.0.1/5060\r\n"
        f"RemoteAddress: {remote}\r\nUsingPassword: 0\r\n"
    )
    return _ev("SuccessfulAuth", "security,all", body)
