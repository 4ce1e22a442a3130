"""Shared PBX state: id counters, device states, queue members and statistics, mailboxes.

Asterisk numbers Uniqueids (``<epoch>.<seq>``), chan_sip channel suffixes and Local channel pairs
with three independent global counters; they coincide only until the first Local pair appears.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field

from adapters.asterisk.synthetic import wire
from adapters.asterisk.synthetic.profile import TrafficProfile
from adapters.asterisk.synthetic.sim import Timeline

# QueueMemberStatus Status for each DeviceStateChange State (BUSY, not INUSE: busylevel=1).
_STATUS = {"NOT_INUSE": 1, "BUSY": 3, "RINGING": 6, "ONHOLD": 8}


def cdr_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def event_tv(epoch: float) -> str:
    ms = int((epoch % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{ms:03d}+0000"


@dataclass
class Member:
    ext: str
    name: str
    index: int
    login_time: int
    rng: random.Random
    offline_s: float
    p_offline: float
    calls_taken: int = 0
    last_call: int = 0
    in_call: int = 0
    status: int = 1
    ringing: int = 0
    active: int = 0
    _offline: bool = False
    _toggle_at: float = 0.0

    @property
    def interface(self) -> str:
        return f"SIP/{self.ext}"

    @property
    def free(self) -> bool:
        return self.ringing == 0 and self.active == 0

    def offline(self, t: float) -> bool:
        """Unreachable phone windows (an alternating renewal process, its own RNG: order-independent)."""
        if self.p_offline <= 0:
            return False
        if self._toggle_at == 0.0:
            self._offline = self.rng.random() < self.p_offline
            self._toggle_at = t + self.rng.expovariate(1.0) * self._mean(self._offline)
        while self._toggle_at <= t:
            self._offline = not self._offline
            self._toggle_at += self.rng.expovariate(1.0) * self._mean(self._offline)
        return self._offline

    def _mean(self, offline: bool) -> float:
        return self.offline_s if offline else self.offline_s * (1 - self.p_offline) / self.p_offline


@dataclass
class QueueEntry:
    caller: wire.Chan
    joined: float
    ringing: bool = False
    orig_pos: int = 0


@dataclass
class QueueState:
    name: str
    entries: list[QueueEntry] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0
    holdtime: int = 0
    talktime: int = 0

    def position(self, entry: QueueEntry) -> int:
        return self.entries.index(entry) + 1

    def record_hold(self, wait: int) -> None:
        # app_queue keeps exponentially weighted averages: (old * 3 + new) / 4.
        self.holdtime = (self.holdtime * 3 + wait) // 4

    def record_talk(self, talk: int) -> None:
        self.talktime = (self.talktime * 3 + talk) // 4
        self.completed += 1

    def vars(self) -> list[tuple[str, str]]:
        return [
            ("QUEUENAME", self.name),
            ("QUEUEMAX", "0"),
            ("QUEUESTRATEGY", "linear"),
            ("QUEUECALLS", str(len(self.entries))),
            ("QUEUEHOLDTIME", str(self.holdtime)),
            ("QUEUETALKTIME", str(self.talktime)),
            ("QUEUECOMPLETED", str(self.completed)),
            ("QUEUEABANDONED", str(self.abandoned)),
            ("QUEUESRVLEVEL", "0"),
            ("QUEUESRVLEVELPERF", "0.0"),
        ]


class Pbx:
    def __init__(
        self,
        profile: TrafficProfile,
        seed: int,
        start: float,
        first_uniqueid_seq: int,
        *,
        login: int | None = None,
    ) -> None:
        self.profile = profile
        self.rng = random.Random(seed ^ 0x5EED)
        self.uid_seq = first_uniqueid_seq
        self.sip_seq = first_uniqueid_seq
        self.local_seq = 0
        self.opt_id = 0
        self.device_use: dict[str, int] = {}
        self.mailboxes: dict[str, int] = {}
        self.queue = QueueState(profile.queue)
        if login is None:
            login = int(start) - 3600  # static members log in at boot
        self.members = {
            ext: Member(
                ext=ext,
                name=profile.agent_name(ext),
                index=i,
                login_time=login,
                rng=random.Random(seed * 7919 + i),
                offline_s=profile.offline_s.median,
                p_offline=profile.p_agent_offline,
            )
            for i, ext in enumerate(profile.agents)
        }

    # --- identifiers --------------------------------------------------------------------------

    def uniqueid(self, t: float) -> str:
        uid = f"{int(t)}.{self.uid_seq}"
        self.uid_seq += 1
        return uid

    def sip_channel(self, peer: str) -> str:
        name = f"SIP/{peer}-{self.sip_seq:08x}"
        self.sip_seq += 1
        return name

    def local_pair(self, exten: str, context: str) -> str:
        name = f"Local/{exten}@{context}-{self.local_seq:08x}"
        self.local_seq += 1
        return name

    def bridge(self) -> wire.Bridge:
        return wire.Bridge(str(uuid.UUID(int=self.rng.getrandbits(128), version=4)))

    def pbx_callid(self) -> str:
        return f"{self.rng.getrandbits(128):032x}@127.0.0.1:5060"

    def session_id(self) -> str:
        return f"0x7fe0{self.rng.getrandbits(28):07x}"

    # --- device states ------------------------------------------------------------------------

    def device_acquire(self, tl: Timeline, device: str) -> None:
        """Aggregate device state of a peer (carrier, mailbox): only the 0 <-> 1 edges are events."""
        n = self.device_use.get(device, 0)
        self.device_use[device] = n + 1
        if n == 0:
            tl.emit(wire.device_state(device, "INUSE"))

    def device_release(self, tl: Timeline, device: str) -> None:
        n = self.device_use.get(device, 0) - 1
        self.device_use[device] = max(n, 0)
        if n == 0:
            tl.emit(wire.device_state(device, "NOT_INUSE"))

    def member_state(self, tl: Timeline, m: Member, state: str) -> None:
        """DeviceStateChange always; QueueMemberStatus only when the numeric status changes."""
        tl.emit(wire.device_state(m.interface, state))
        status = _STATUS[state]
        if status != m.status:
            m.status = status
            self.member_status(tl, m)

    def member_status(self, tl: Timeline, m: Member) -> None:
        tl.emit(
            wire.queue_member_status(
                self.queue.name,
                m.name,
                m.interface,
                m.calls_taken,
                m.last_call,
                m.login_time,
                m.in_call,
                m.status,
            )
        )

    def queue_join(self, tl: Timeline, entry: QueueEntry) -> None:
        if not self.queue.entries:
            tl.emit(wire.device_state(f"Queue:{self.queue.name}", "RINGING"))
        self.queue.entries.append(entry)

    def queue_leave(self, tl: Timeline, entry: QueueEntry) -> int:
        pos = self.queue.position(entry)
        self.queue.entries.remove(entry)
        if not self.queue.entries:
            tl.emit(wire.device_state(f"Queue:{self.queue.name}", "NOT_INUSE"))
        return pos
