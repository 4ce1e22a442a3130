"""Live PBX state for the AMI simulator, derived from the events it has played so far.

It answers ``CoreShowChannels`` and ``QueueStatus`` with the shapes of Asterisk 20 (field names and
order as ``manager.c``/``app_queue.c`` write them), so a client's resync after a reconnect sees what a
real PBX would show at that moment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["STATE_EVENTS", "LiveState", "core_status", "event_name", "parse_headers"]

#: Events that change the state; everything else (VarSet, RTCP...) is not even parsed.
STATE_EVENTS: frozenset[str] = frozenset(
    {
        "Newchannel",
        "Newstate",
        "Newexten",
        "NewCallerid",
        "NewConnectedLine",
        "Rename",
        "BridgeEnter",
        "BridgeLeave",
        "Hangup",
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "QueueMemberStatus",
        "QueueMemberPause",
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPenalty",
    }
)

_MEMBER_FIELDS = (
    "StateInterface",
    "Membership",
    "Penalty",
    "CallsTaken",
    "LastCall",
    "LastPause",
    "LoginTime",
    "InCall",
    "Status",
    "Paused",
    "PausedReason",
    "Wrapuptime",
)
_MEMBER_EVENTS = frozenset(
    {"AgentCalled", "QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded", "QueueMemberPenalty"}
)
_MEMBER_DEFAULTS = {f: "0" for f in _MEMBER_FIELDS} | {
    "Membership": "static",
    "Status": "1",
    "PausedReason": "",
}


def event_name(raw: str) -> str:
    """The ``Event:`` value of a raw message, or "" for a response/banner."""
    if not raw.startswith("Event: "):
        return ""
    end = raw.find("\n")
    name = raw[7:end] if end >= 0 else raw[7:]
    return name[:-1] if name.endswith("\r") else name


def parse_headers(raw: str) -> dict[str, str]:
    """First value of each key (the simulator needs no more than that)."""
    headers: dict[str, str] = {}
    for line in raw.split("\n"):
        key, sep, value = line.rstrip("\r").partition(": ")
        if sep and key not in headers:
            headers[key] = value
    return headers


def _hms(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass(slots=True)
class _Channel:
    fields: dict[str, str]  # the common channel fields, as last reported
    created: float
    application: str = ""
    application_data: str = ""
    bridge_id: str = ""


@dataclass(slots=True)
class _Entry:
    uniqueid: str
    channel: str
    joined: float
    fields: dict[str, str]


@dataclass(slots=True)
class _Queue:
    entries: list[_Entry] = field(default_factory=list)
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # Interface -> fields
    completed: int = 0
    abandoned: int = 0
    connected: int = 0
    holdtime_sum: int = 0
    talktime_sum: int = 0


_CHANNEL_KEYS = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
)


class LiveState:
    def __init__(self, *, queue_strategy: str = "linear") -> None:
        self.channels: dict[str, _Channel] = {}
        self.queues: dict[str, _Queue] = {}
        self._strategy = queue_strategy

    # -- updates ------------------------------------------------------------------------------------
    def apply(self, name: str, h: dict[str, str], t: float) -> None:
        """Fold one event (name + headers, event time ``t``) into the state."""
        uid = h.get("Uniqueid", "")
        chan = self.channels.get(uid)
        if name == "Newchannel":
            self.channels[uid] = _Channel({k: h.get(k, "") for k in _CHANNEL_KEYS}, created=t)
            return
        if chan is not None:
            # Every channel event carries the current common fields: keep the latest view.
            for k in _CHANNEL_KEYS:
                if k in h:
                    chan.fields[k] = h[k]
        if name == "Hangup":
            self.channels.pop(uid, None)
            for q in self.queues.values():
                q.entries = [e for e in q.entries if e.uniqueid != uid]
        elif name == "Newexten" and chan is not None:
            chan.application = h.get("Application", "")
            chan.application_data = h.get("AppData", "")
        elif name == "Rename" and chan is not None:
            chan.fields["Channel"] = h.get("Newname", chan.fields["Channel"])
        elif name == "BridgeEnter" and chan is not None:
            chan.bridge_id = h.get("BridgeUniqueid", "")
        elif name == "BridgeLeave" and chan is not None:
            chan.bridge_id = ""
        elif name.startswith(("Queue", "Agent")):
            self._apply_queue(name, h, t, uid)

    def _apply_queue(self, name: str, h: dict[str, str], t: float, uid: str) -> None:
        qname = h.get("Queue", "")
        if not qname:
            return
        q = self.queues.setdefault(qname, _Queue())
        if name == "QueueCallerJoin":
            q.entries.append(_Entry(uid, h.get("Channel", ""), t, dict(h)))
        elif name in ("QueueCallerLeave", "QueueCallerAbandon"):
            q.entries = [e for e in q.entries if e.uniqueid != uid]
            q.abandoned += name == "QueueCallerAbandon"
        elif name == "AgentConnect":
            q.connected += 1
            q.holdtime_sum += _int(h.get("HoldTime"))
        elif name == "AgentComplete":
            q.completed += 1
            q.talktime_sum += _int(h.get("TalkTime"))
        elif name == "QueueMemberRemoved":
            q.members.pop(h.get("Interface", ""), None)
        elif name in _MEMBER_EVENTS:
            interface = h.get("Interface", "")
            if not interface:
                return
            member = q.members.setdefault(interface, dict(_MEMBER_DEFAULTS, Name=h.get("MemberName", "")))
            if name != "AgentCalled":  # AgentCalled only tells us the member exists
                member.update({k: h[k] for k in _MEMBER_FIELDS if k in h})
            if h.get("MemberName"):
                member["Name"] = h["MemberName"]

    # -- list replies -------------------------------------------------------------------------------
    def core_show_channels(self, action_id: str, now: float) -> list[str]:
        aid = f"ActionID: {action_id}\r\n" if action_id else ""
        out = [f"Response: Success\r\n{aid}EventList: start\r\nMessage: Channels will follow\r\n\r\n"]
        for chan in self.channels.values():
            f = chan.fields
            body = "".join(f"{k}: {f.get(k, '')}\r\n" for k in _CHANNEL_KEYS)
            out.append(
                f"Event: CoreShowChannel\r\n{aid}{body}BridgeId: {chan.bridge_id}\r\n"
                f"Application: {chan.application}\r\nApplicationData: {chan.application_data}\r\n"
                f"Duration: {_hms(now - chan.created)}\r\n\r\n"
            )
        out.append(
            f"Event: CoreShowChannelsComplete\r\n{aid}EventList: Complete\r\n"
            f"ListItems: {len(self.channels)}\r\n\r\n"
        )
        return out

    def queue_status(self, action_id: str, now: float, queue: str = "") -> list[str]:
        aid = f"ActionID: {action_id}\r\n" if action_id else ""
        out = [f"Response: Success\r\n{aid}EventList: start\r\nMessage: Queue status will follow\r\n\r\n"]
        items = 0
        for name, q in self.queues.items():
            if queue and name != queue:
                continue
            # Asterisk keeps exponential averages; plain means are close enough for a simulator.
            holdtime = q.holdtime_sum // max(q.connected, 1)
            talktime = q.talktime_sum // max(q.completed, 1)
            out.append(
                f"Event: QueueParams\r\nQueue: {name}\r\nMax: 0\r\nStrategy: {self._strategy}\r\n"
                f"Calls: {len(q.entries)}\r\nHoldtime: {holdtime}\r\n"
                f"TalkTime: {talktime}\r\nCompleted: {q.completed}\r\n"
                f"Abandoned: {q.abandoned}\r\nServiceLevel: 0\r\nServicelevelPerf: 0.0\r\n"
                f"ServicelevelPerf2: 0.0\r\nWeight: 0\r\n{aid}\r\n"
            )
            for interface, m in q.members.items():
                fields = "".join(f"{k}: {m.get(k, '')}\r\n" for k in _MEMBER_FIELDS)
                out.append(
                    f"Event: QueueMember\r\nQueue: {name}\r\nName: {m.get('Name', '')}\r\n"
                    f"Location: {interface}\r\n{fields}{aid}\r\n"
                )
            for pos, e in enumerate(q.entries, start=1):
                f = e.fields
                out.append(
                    f"Event: QueueEntry\r\nQueue: {name}\r\nPosition: {pos}\r\nChannel: {e.channel}\r\n"
                    f"Uniqueid: {e.uniqueid}\r\nCallerIDNum: {f.get('CallerIDNum', '')}\r\n"
                    f"CallerIDName: {f.get('CallerIDName', '')}\r\n"
                    f"ConnectedLineNum: {f.get('ConnectedLineNum', '')}\r\n"
                    f"ConnectedLineName: {f.get('ConnectedLineName', '')}\r\n"
                    f"Wait: {max(0, int(now - e.joined))}\r\nPriority: 0\r\n{aid}\r\n"
                )
            items += 1 + len(q.members) + len(q.entries)
        out.append(f"Event: QueueStatusComplete\r\n{aid}EventList: Complete\r\nListItems: {items}\r\n\r\n")
        return out


def core_status(action_id: str, booted_at: float, reloaded_at: float, current_calls: int) -> str:
    """The ``CoreStatus`` reply of Asterisk 20 (``manager.c`` ``action_corestatus``): dates and times in
    the PBX's local zone (UTC here), to the second. A client tells a PBX restart from a new startup time."""
    aid = f"ActionID: {action_id}\r\n" if action_id else ""
    boot, reload = time.gmtime(booted_at), time.gmtime(reloaded_at)
    return (
        f"Response: Success\r\n{aid}"
        f"CoreStartupDate: {time.strftime('%Y-%m-%d', boot)}\r\n"
        f"CoreStartupTime: {time.strftime('%H:%M:%S', boot)}\r\n"
        f"CoreReloadDate: {time.strftime('%Y-%m-%d', reload)}\r\n"
        f"CoreReloadTime: {time.strftime('%H:%M:%S', reload)}\r\n"
        f"CoreCurrentCalls: {current_calls}\r\n\r\n"
    )


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
