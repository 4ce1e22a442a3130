"""The AMI simulator over real TCP, spoken to by a bare-bones client (no AmiClient involved)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import ClassVar

import pytest

from adapters.asterisk.captures import load_jsonl
from adapters.asterisk.framing import AmiMessage, AmiParser
from adapters.asterisk.sim_state import event_name
from adapters.asterisk.simulator import AmiSimulator, stamp

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CAPTURES = SHARED / "fixtures" / "asterisk" / "captures"
WAIT = 10.0  # generous: these are behaviour checks, not timing checks
SimFactory = Callable[..., AmiSimulator]


class RawAmi:
    """Just enough of an AMI client to poke at the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = AmiParser(skip_events=frozenset())
        self.inbox: list[AmiMessage] = []
        self.eof = False

    opened: ClassVar[list[RawAmi]] = []  # closed after each test (see the autouse fixture)

    @classmethod
    async def connect(cls, port: int) -> RawAmi:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        cls.opened.append(client)
        return client

    def send(self, action: str, **headers: str) -> None:
        lines = [f"Action: {action}"] + [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    async def _fill(self) -> None:
        data = await self.reader.read(65536)
        if not data:
            self.eof = True
            raise EOFError
        self.inbox.extend(self.parser.feed(data))

    async def until(self, pred: Callable[[AmiMessage], bool], timeout: float = WAIT) -> AmiMessage:
        async with asyncio.timeout(timeout):
            while True:
                for i, msg in enumerate(self.inbox):
                    if pred(msg):
                        del self.inbox[: i + 1]
                        return msg
                await self._fill()

    async def events(self, count: int) -> list[AmiMessage]:
        """The next ``count`` played events (the simulator's own FullyBooted excluded)."""
        out: list[AmiMessage] = []
        while len(out) < count:
            msg = await self.until(lambda m: True)
            if msg.event and msg.event != "FullyBooted":
                out.append(msg)
        return out

    async def list_reply(
        self, action: str, action_id: str, complete: str, **headers: str
    ) -> list[AmiMessage]:
        self.send(action, ActionID=action_id, **headers)
        out = [await self.until(lambda m: m.action_id == action_id)]
        while out[-1].event != complete:
            out.append(await self.until(lambda m: m.action_id == action_id))
        return out

    async def login(self, secret: str = "simsecret", **extra: str) -> AmiMessage:
        self.send("Login", ActionID="L1", Username="monitor", Secret=secret, **extra)
        return await self.until(lambda m: m.action_id == "L1")

    async def wait_eof(self, timeout: float = WAIT) -> None:
        async with asyncio.timeout(timeout):
            while not self.eof:
                try:
                    await self._fill()
                except (EOFError, ConnectionError):
                    self.eof = True

    def close(self) -> None:
        self.writer.transport.abort()


def capture(name: str) -> list[tuple[float, str]]:
    return load_jsonl(CAPTURES / f"{name}.jsonl")


@pytest.fixture(autouse=True)
async def _close_raw_clients() -> AsyncIterator[None]:
    yield
    while RawAmi.opened:
        RawAmi.opened.pop().close()
    await asyncio.sleep(0)  # let the aborted transports finish closing


@pytest.fixture
async def sim_factory() -> AsyncIterator[Callable[..., AmiSimulator]]:
    sims: list[AmiSimulator] = []

    def make(source: object, **kw: object) -> AmiSimulator:
        sim = AmiSimulator(source, **kw)  # type: ignore[arg-type]
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        await sim.close()


def test_stamp_inserts_after_privilege_or_replaces() -> None:
    raw = "Event: Hold\r\nPrivilege: call,all\r\nChannel: SIP/201-1\r\n\r\n"
    assert stamp(raw, 12.5) == (
        "Event: Hold\r\nPrivilege: call,all\r\nTimestamp: 12.500000\r\nChannel: SIP/201-1\r\n\r\n"
    )
    assert stamp("Event: X\r\nA: b\r\n\r\n", 1.0) == "Event: X\r\nTimestamp: 1.000000\r\nA: b\r\n\r\n"
    stamped = stamp(raw, 1.0)
    assert stamp(stamped, 2.0) == stamped.replace("1.000000", "2.000000")


async def test_banner_login_fullybooted_ping_and_logoff(sim_factory: SimFactory) -> None:
    sim = sim_factory([])
    port = await sim.start()
    c = await RawAmi.connect(port)
    first = await c.reader.readline()
    assert first == b"Asterisk Call Manager/9.0.0\r\n"
    reply = await c.login()
    assert reply.response == "Success" and reply.get("Message") == "Authentication accepted"
    assert (await c.until(lambda m: m.event == "FullyBooted")).get("Status") == "Fully Booted"
    c.send("Ping", ActionID="p1")
    pong = await c.until(lambda m: m.action_id == "p1")
    assert pong.response == "Success" and pong.get("Ping") == "Pong"
    assert float(pong.get("Timestamp")) > 0
    c.send("Frobnicate", ActionID="x1")
    bad = await c.until(lambda m: m.action_id == "x1")
    assert bad.response == "Error" and bad.get("Message") == "Invalid/unknown command"
    c.send("Logoff", ActionID="bye")
    assert (await c.until(lambda m: m.action_id == "bye")).response == "Goodbye"
    await c.wait_eof()


async def test_wrong_secret_is_refused_and_connection_closed(
    sim_factory: SimFactory,
) -> None:
    sim = sim_factory([])
    port = await sim.start()
    c = await RawAmi.connect(port)
    reply = await c.login(secret="wrong")
    assert reply.response == "Error"
    assert reply.get("Message") == "Authentication failed"
    assert reply.action_id == "L1"
    await c.wait_eof()


async def test_actions_before_login_need_authentication(sim_factory: SimFactory) -> None:
    sim = sim_factory([])
    c = await RawAmi.connect(await sim.start())
    c.send("CoreShowChannels", ActionID="a1")
    reply = await c.until(lambda m: m.action_id == "a1")
    assert reply.response == "Error"
    c.close()


def parse_one(raw: str) -> AmiMessage:
    [msg] = AmiParser(skip_events=frozenset(), expect_banner=False).feed(raw.encode())
    return msg


def played(source: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """What the simulator plays of a capture: events except FullyBooted."""
    return [(t, raw) for t, raw in source if event_name(raw) not in ("", "FullyBooted")]


async def test_replay_sends_every_event_with_its_original_time(
    sim_factory: SimFactory,
) -> None:
    source = capture("c_queue_hold35")
    sim = sim_factory(source, speed=0, wait_for_clients=1, time_shift=100.0)
    c = await RawAmi.connect(await sim.start())
    await c.login()
    expected = played(source)
    got = await c.events(len(expected))
    await asyncio.wait_for(sim.finished.wait(), WAIT)
    assert [m.event for m in got] == [event_name(raw) for _, raw in expected]
    assert [m.get("Timestamp") for m in got] == [f"{t + 100.0:.6f}" for t, _ in expected]
    # Apart from the inserted Timestamp, the message is the recorded one.
    for msg, (_, raw) in zip(got, expected, strict=True):
        assert {k: v for k, v in msg.headers.items() if k != "Timestamp"} == {
            k: v
            for k, v in AmiParser(skip_events=frozenset(), expect_banner=False)
            .feed(raw.encode())[0]
            .headers.items()
        }
    assert sim.messages_sent == len(expected)


async def test_capture_timestamps_are_kept_and_shifted(sim_factory: SimFactory) -> None:
    source = capture("ts_c_queue_hold35")
    sim = sim_factory(source, speed=0, wait_for_clients=1, time_shift=-5.0)
    c = await RawAmi.connect(await sim.start())
    await c.login()
    expected = played(source)
    got = await c.events(len(expected))
    originals = [
        AmiParser(skip_events=frozenset(), expect_banner=False).feed(raw.encode())[0] for _, raw in expected
    ]
    assert [m.get("Timestamp") for m in got] == [f"{float(o.get('Timestamp')) - 5.0:.6f}" for o in originals]


async def test_without_timestamping_the_raw_text_is_sent_verbatim(
    sim_factory: SimFactory,
) -> None:
    source = capture("h2_after_hours_voicemail")
    sim = sim_factory(source, speed=0, wait_for_clients=1, timestamp_events=False)
    c = await RawAmi.connect(await sim.start())
    await c.login()
    expected = played(source)
    got = await c.events(len(expected))
    assert [m.raw for m in got] == [raw for _, raw in expected]


async def test_pacing_spreads_messages_over_time(sim_factory: SimFactory) -> None:
    source = [(1000.0, "Event: A\r\n\r\n"), (1000.0, "Event: B\r\n\r\n"), (1030.0, "Event: C\r\n\r\n")]
    sim = sim_factory(source, speed=100.0, wait_for_clients=1)  # C is due 0.3 s after A
    c = await RawAmi.connect(await sim.start())
    await c.login()
    loop = asyncio.get_running_loop()
    a = await c.until(lambda m: m.event == "A")
    t_a = loop.time()
    await c.until(lambda m: m.event == "C")
    assert loop.time() - t_a >= 0.25  # never early; how late is the scheduler's business
    assert a.get("Timestamp") == "1000.000000"


async def test_async_source_and_broadcast_to_every_client(sim_factory: SimFactory) -> None:
    gate = asyncio.Event()

    async def source() -> AsyncIterator[tuple[float, str]]:
        yield 1.0, "Event: First\r\nN: 1\r\n\r\n"
        await gate.wait()
        for i in range(2, 6):
            yield float(i), f"Event: Later\r\nN: {i}\r\n\r\n"

    sim = sim_factory(source(), speed=0, wait_for_clients=2)
    port = await sim.start()
    c1, c2 = await RawAmi.connect(port), await RawAmi.connect(port)
    await c1.login()
    await c2.login()
    assert [m.get("N") for m in await c1.events(1)] == ["1"]
    assert [m.get("N") for m in await c2.events(1)] == ["1"]
    # A client that logs in now has missed "First" (like a real PBX: nothing is replayed).
    c3 = await RawAmi.connect(port)
    await c3.login()
    gate.set()
    for c in (c1, c2, c3):
        assert [m.get("N") for m in await c.events(4)] == ["2", "3", "4", "5"]
    await asyncio.wait_for(sim.finished.wait(), WAIT)


async def test_events_off_gets_no_events_but_answers_actions(
    sim_factory: SimFactory,
) -> None:
    sim = sim_factory([(1.0, "Event: A\r\n\r\n")], speed=0, wait_for_clients=2)
    port = await sim.start()
    quiet, loud = await RawAmi.connect(port), await RawAmi.connect(port)
    await quiet.login(Events="off")
    await loud.login()
    await loud.until(lambda m: m.event == "A")
    await asyncio.wait_for(sim.finished.wait(), WAIT)
    quiet.send("Ping", ActionID="p")
    await quiet.until(lambda m: m.action_id == "p")
    assert not [m for m in quiet.inbox if m.event]
    assert quiet.parser.messages == 2  # login reply and pong: no FullyBooted, no A


def _partial_queue_call() -> list[tuple[float, str]]:
    """c_queue_hold35 cut while the caller waits in the queue (before the agent answers)."""
    source = capture("c_queue_hold35")
    cut = next(i for i, (_, raw) in enumerate(source) if event_name(raw) == "AgentCalled")
    return source[: cut + 1]


async def test_core_show_channels_reflects_the_played_events(
    sim_factory: SimFactory,
) -> None:
    source = _partial_queue_call()
    sim = sim_factory(source, speed=0, wait_for_clients=1)
    c = await RawAmi.connect(await sim.start())
    await c.login()
    await asyncio.wait_for(sim.finished.wait(), WAIT)
    reply = await c.list_reply("CoreShowChannels", "csc1", "CoreShowChannelsComplete")
    head, items, done = reply[0], reply[1:-1], reply[-1]
    assert head.response == "Success" and head.get("EventList") == "start"
    assert head.get("Message") == "Channels will follow"
    assert done.get("EventList") == "Complete" and done.get("ListItems") == str(len(items))
    assert all(m.event == "CoreShowChannel" for m in items)
    by_chan = {m.get("Channel"): m for m in items}
    caller = by_chan["SIP/carrier1-00000004"]
    assert caller.get("Uniqueid") == caller.get("Linkedid") == "1795499029.4"
    assert caller.get("ChannelStateDesc") == "Up"
    assert caller.get("CallerIDNum") == "+13135550103"
    assert caller.get("Application") == "Queue"
    assert caller.get("Exten") == "600" and caller.get("Context") == "from-pstn"
    h, m, s = caller.get("Duration").split(":")
    assert len(h) == len(m) == len(s) == 2
    expected_keys = [
        "Event", "ActionID", "Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName",
        "ConnectedLineNum", "ConnectedLineName", "Language", "AccountCode", "Context", "Exten", "Priority",
        "Uniqueid", "Linkedid", "BridgeId", "Application", "ApplicationData", "Duration",
    ]  # fmt: skip
    assert list(caller.headers) == expected_keys
    assert "SIP/201-00000005" in by_chan  # the agent leg being rung


async def test_queue_status_lists_params_members_and_waiting_callers(
    sim_factory: SimFactory,
) -> None:
    sim = sim_factory(_partial_queue_call(), speed=0, wait_for_clients=1)
    c = await RawAmi.connect(await sim.start())
    await c.login()
    await asyncio.wait_for(sim.finished.wait(), WAIT)
    reply = await c.list_reply("QueueStatus", "qs1", "QueueStatusComplete")
    assert reply[0].response == "Success" and reply[0].get("Message") == "Queue status will follow"
    by_event: dict[str, list[AmiMessage]] = {}
    for msg in reply[1:]:
        by_event.setdefault(msg.event, []).append(msg)
    [params] = by_event["QueueParams"]
    assert params.get("Queue") == "service" and params.get("Calls") == "1"
    [entry] = by_event["QueueEntry"]
    assert entry.get("Queue") == "service" and entry.get("Position") == "1"
    assert entry.get("Uniqueid") == "1795499029.4" and entry.get("CallerIDNum") == "+13135550103"
    assert int(entry.get("Wait")) >= 0
    assert {m.get("Location") for m in by_event["QueueMember"]} >= {"SIP/201"}
    [done] = by_event["QueueStatusComplete"]
    assert done.get("EventList") == "Complete"
    assert done.get("ListItems") == str(len(reply) - 2)
    assert all(m.action_id == "qs1" for m in reply)
    other = await c.list_reply("QueueStatus", "qs2", "QueueStatusComplete", Queue="sales")
    assert [m.event for m in other[1:]] == ["QueueStatusComplete"]


async def test_state_is_empty_after_the_call_ended(sim_factory: SimFactory) -> None:
    sim = sim_factory(capture("c_queue_hold35"), speed=0, wait_for_clients=1)
    c = await RawAmi.connect(await sim.start())
    await c.login()
    await asyncio.wait_for(sim.finished.wait(), WAIT)
    reply = await c.list_reply("CoreShowChannels", "csc", "CoreShowChannelsComplete")
    assert [m.event for m in reply[1:]] == ["CoreShowChannelsComplete"]
    assert reply[-1].get("ListItems") == "0"
    queue = await c.list_reply("QueueStatus", "qs", "QueueStatusComplete")
    assert [m for m in queue if m.event == "QueueEntry"] == []
    [params] = [m for m in queue if m.event == "QueueParams"]
    assert params.get("Completed") == "1"


async def test_drop_connections_resets_clients(sim_factory: SimFactory) -> None:
    sim = sim_factory([])
    port = await sim.start()
    c = await RawAmi.connect(port)
    await c.login()
    sim.drop_connections()
    await c.wait_eof()
    again = await RawAmi.connect(port)  # the server itself keeps listening
    assert (await again.login()).response == "Success"
    again.close()


async def test_stall_holds_everything_back_until_resume(sim_factory: SimFactory) -> None:
    sim = sim_factory([])
    port = await sim.start()
    c = await RawAmi.connect(port)
    await c.login()
    sim.stall(None)
    c.send("Ping", ActionID="during")
    with pytest.raises(TimeoutError):
        await c.until(lambda m: m.action_id == "during", timeout=0.3)
    fresh = await RawAmi.connect(port)  # a new connection is not stalled
    assert (await fresh.login()).response == "Success"
    sim.resume()
    assert (await c.until(lambda m: m.action_id == "during")).get("Ping") == "Pong"
    sim.stall(0.2)  # timed stall ends by itself
    c.send("Ping", ActionID="timed")
    assert (await c.until(lambda m: m.action_id == "timed")).get("Ping") == "Pong"
    fresh.close()


async def test_core_status_reports_the_boot_time_and_a_restart_a_new_one(sim_factory: SimFactory) -> None:
    """``CoreStatus`` as Asterisk 20's manager.c writes it; a new simulator on the same port (the PBX
    rebooted) reports another startup time and a FullyBooted uptime counted from it."""
    booted = 1_795_499_000.0
    sim = sim_factory(capture("b_queue_ring12_answer")[:12], booted_at=booted, speed=0)
    port = await sim.start()
    c = await RawAmi.connect(port)
    await c.login()
    assert int((await c.until(lambda m: m.event == "FullyBooted")).get("Uptime")) >= int(time.time() - booted)
    await asyncio.wait_for(sim.finished.wait(), WAIT)
    c.send("CoreStatus", ActionID="s1")
    status = await c.until(lambda m: m.action_id == "s1")
    assert status.response == "Success"
    assert list(status.headers) == [
        "Response",
        "ActionID",
        "CoreStartupDate",
        "CoreStartupTime",
        "CoreReloadDate",
        "CoreReloadTime",
        "CoreCurrentCalls",
    ]
    assert (status.get("CoreStartupDate"), status.get("CoreStartupTime")) == ("2026-11-24", "05:43:20")
    assert int(status.get("CoreCurrentCalls")) == len(sim.state.channels) >= 1
    sim.drop_connections()
    await sim.close()
    rebooted = sim_factory([], port=port, booted_at=booted + 75)
    assert await rebooted.start() == port
    c = await RawAmi.connect(port)
    await c.login()
    c.send("CoreStatus", ActionID="s2")
    status = await c.until(lambda m: m.action_id == "s2")
    assert status.get("CoreStartupTime") == "05:44:35" and status.get("CoreCurrentCalls") == "0"
