"""AmiClient over real TCP: against the simulator and against scripted raw servers."""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adapters.asterisk.actions import (
    AmiActionError,
    AmiAuthError,
    AmiConnectionError,
    AmiProtocolError,
    AmiSecret,
    AmiTimeout,
    PendingActions,
)
from adapters.asterisk.captures import load_jsonl
from adapters.asterisk.client import AmiClient, backoff_delay
from adapters.asterisk.framing import AmiMessage, AmiParser
from adapters.asterisk.session import AmiSession, AmiStats
from adapters.asterisk.sim_state import event_name
from adapters.asterisk.simulator import AmiSimulator

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CAPTURES = SHARED / "fixtures" / "asterisk" / "captures"
WAIT = 15.0  # generous: behaviour, not timing
SECRET = "s3cr3t-Never-Show-Me"
STATS = AmiStats()


# -- helpers -----------------------------------------------------------------------------------------
@dataclass
class Recorder:
    """Collects everything the client reports through its callbacks."""

    messages: list[tuple[AmiMessage, float]] = field(default_factory=list)
    states: list[bool] = field(default_factory=list)
    gaps: list[tuple[float, float, str]] = field(default_factory=list)
    connects: list[float] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_message(self, msg: AmiMessage, received_at: float) -> None:
        self.messages.append((msg, received_at))
        self.changed.set()

    def on_state(self, up: bool) -> None:
        self.states.append(up)
        self.changed.set()

    def on_gap(self, start: float, end: float, reason: str) -> None:
        self.gaps.append((start, end, reason))
        self.changed.set()

    async def on_connected(self, client: AmiClient, connected_at: float) -> None:
        self.connects.append(connected_at)
        self.changed.set()

    def events(self, name: str | None = None) -> list[AmiMessage]:
        return [m for m, _ in self.messages if name is None or m.event == name]

    async def until(self, cond: Callable[[], bool], timeout: float = WAIT) -> None:
        async with asyncio.timeout(timeout):
            while not cond():
                self.changed.clear()
                await self.changed.wait()


def make_client(port: int, rec: Recorder, secret: str = "simsecret", **kw: Any) -> AmiClient:
    kw.setdefault("backoff_base", 0.05)
    kw.setdefault("backoff_cap", 0.2)
    kw.setdefault("on_connected", rec.on_connected)
    return AmiClient(
        "127.0.0.1",
        port,
        "monitor",
        secret,
        on_message=rec.on_message,
        on_gap=rec.on_gap,
        on_state=rec.on_state,
        **kw,
    )


@pytest.fixture
async def running() -> AsyncIterator[Callable[[AmiClient], Awaitable[None]]]:
    """Runs clients in a task group for the test; closes them (and checks run() returns) after."""
    clients: list[AmiClient] = []
    async with asyncio.TaskGroup() as tg:

        async def start(client: AmiClient) -> None:
            clients.append(client)
            tg.create_task(client.run())
            await asyncio.sleep(0)

        yield start
        for client in clients:
            await client.close()


@pytest.fixture
async def sims() -> AsyncIterator[list[AmiSimulator]]:
    made: list[AmiSimulator] = []
    yield made
    for sim in made:
        await sim.close()


async def start_sim(sims: list[AmiSimulator], source: Any = (), **kw: Any) -> tuple[AmiSimulator, int]:
    sim = AmiSimulator(list(source) if not hasattr(source, "__aiter__") else source, **kw)
    sims.append(sim)
    return sim, await sim.start()


Script = Callable[["ScriptedConn"], Awaitable[None]]


class ScriptedConn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = AmiParser(skip_events=frozenset(), expect_banner=False)
        self.inbox: list[AmiMessage] = []

    async def next_action(self) -> AmiMessage:
        async with asyncio.timeout(WAIT):
            while not self.inbox:
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError
                self.inbox.extend(self.parser.feed(data))
        return self.inbox.pop(0)

    async def send(self, data: bytes | str) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)
        await self.writer.drain()


class ScriptedServer:
    """A raw TCP server: sends ``banner``, accepts any Login, then runs ``script`` per connection."""

    def __init__(self, script: Script, banner: bytes = b"Asterisk Call Manager/9.0.0\r\n") -> None:
        self.script = script
        self.banner = banner
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.connections = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = ScriptedConn(reader, writer)
        try:
            await conn.send(self.banner)
            login = await conn.next_action()
            await conn.send(f"Response: Success\r\nActionID: {login.action_id}\r\nMessage: ok\r\n\r\n")
            await self.script(conn)
        except (EOFError, OSError, TimeoutError):
            pass
        finally:
            writer.transport.abort()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def servers() -> AsyncIterator[list[ScriptedServer]]:
    made: list[ScriptedServer] = []
    yield made
    for server in made:
        await server.close()


async def start_server(servers: list[ScriptedServer], script: Script, **kw: Any) -> int:
    server = ScriptedServer(script, **kw)
    servers.append(server)
    return await server.start()


async def idle(conn: ScriptedConn) -> None:
    """Answer Pings forever (keeps the client's keepalive happy)."""
    while True:
        action = await conn.next_action()
        await conn.send(f"Response: Success\r\nActionID: {action.action_id}\r\nPing: Pong\r\n\r\n")


def ticks(n: int, step: float = 0.02) -> list[tuple[float, str]]:
    return [(1000.0 + i * step, f"Event: Tick\r\nPrivilege: call,all\r\nN: {i}\r\n\r\n") for i in range(n)]


# -- secret handling ---------------------------------------------------------------------------------
def test_secret_wrapper_never_shows_its_value(tmp_path: Path) -> None:
    secret = AmiSecret(SECRET)
    assert repr(secret) == str(secret) == f"{secret}" == f"{secret:>20}" == "***"
    assert secret.reveal() == SECRET
    assert secret.redact(f"echo {SECRET}!") == "echo ***!"
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    path = tmp_path / "ami.secret"
    path.write_text(SECRET + "\n")
    assert AmiSecret.from_file(path).reveal() == SECRET
    client = AmiClient("h", 1, "monitor", SECRET, on_message=lambda m, t: None)
    assert SECRET not in repr(client) and SECRET not in repr(vars(client))


async def test_wrong_secret_raises_auth_error_without_the_secret(sims: list[AmiSimulator]) -> None:
    _, port = await start_sim(sims)
    pending = PendingActions(lambda: "id-1", "id-")
    session = await AmiSession.open(
        "127.0.0.1",
        port,
        timeout=WAIT,
        pending=pending,
        parser=AmiParser(),
        clock=time.time,
        stats=AmiStats(),
    )
    with pytest.raises(AmiAuthError) as err:
        await session.login("monitor", AmiSecret(SECRET), events=True, timeout=WAIT)
    session.abort()
    assert (
        str(err.value) == f"AMI login refused for user 'monitor' at 127.0.0.1:{port}: Authentication failed"
    )
    assert SECRET not in repr(err.value) and SECRET not in str(err.getrepr())


async def test_client_retries_refused_login_and_never_logs_the_secret(
    sims: list[AmiSimulator],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    _, port = await start_sim(sims)
    rec = Recorder()
    delays: list[float] = []
    client: AmiClient

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) >= 3:
            await client.close()

    client = make_client(port, rec, secret=SECRET, sleep=fake_sleep, rand=lambda: 1.0)
    await asyncio.wait_for(client.run(), WAIT)
    assert len(delays) == 3 and rec.states == [] and rec.gaps == []
    assert client.last_error is not None and SECRET not in client.last_error
    refused = [r for r in caplog.records if "AMI login refused for user 'monitor'" in r.getMessage()]
    assert refused and all(r.levelno == logging.ERROR for r in refused)
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in (record.exc_text or "")
    assert SECRET not in caplog.text
    out, err = capsys.readouterr()
    assert SECRET not in out and SECRET not in err


# -- session basics ----------------------------------------------------------------------------------
async def test_login_ping_and_callbacks(sims: list[AmiSimulator], running: Any) -> None:
    _, port = await start_sim(sims)
    rec = Recorder()
    fake_now = [5000.0]
    client = make_client(port, rec, clock=lambda: fake_now[0])
    with pytest.raises(AmiConnectionError):
        await client.action("Ping")  # not connected yet
    await running(client)
    await rec.until(lambda: bool(rec.connects) and bool(rec.events("FullyBooted")))
    assert rec.states == [True] and rec.connects == [5000.0] and rec.gaps == []
    assert client.connected
    pong = await client.action("Ping", timeout=WAIT)
    assert pong.get("Ping") == "Pong"
    assert rec.messages[0][1] == 5000.0  # received_at comes from the injected clock
    assert client.events_total == 1 and client.last_event_at == 5000.0
    await client.close()
    await rec.until(lambda: rec.states == [True, False])
    assert rec.gaps == []


async def test_banner_of_something_else_is_refused(servers: list[ScriptedServer]) -> None:
    port = await start_server(servers, idle, banner=b"SSH-2.0-OpenSSH_9.2\r\n")
    with pytest.raises(AmiProtocolError, match="not an Asterisk manager interface"):
        await AmiSession.open(
            "127.0.0.1",
            port,
            timeout=WAIT,
            pending=PendingActions(lambda: "x", "x"),
            parser=AmiParser(),
            clock=time.time,
            stats=AmiStats(),
        )


async def test_replies_are_matched_by_action_id_not_by_order(
    servers: list[ScriptedServer], running: Any
) -> None:
    async def reverse(conn: ScriptedConn) -> None:
        first, second = await conn.next_action(), await conn.next_action()
        for action in (second, first):  # answer the later one first
            await conn.send(
                f"Response: Success\r\nActionID: {action.action_id}\r\nGot: {action.get('Tag')}\r\n\r\n"
            )
        await idle(conn)

    port = await start_server(servers, reverse)
    rec = Recorder()
    client = make_client(port, rec, on_connected=None)
    await running(client)
    await rec.until(lambda: client.connected)
    a, b = await asyncio.gather(
        client.action("Slow", timeout=WAIT, Tag="a"), client.action("Fast", timeout=WAIT, Tag="b")
    )
    assert (a.get("Got"), b.get("Got")) == ("a", "b")
    assert a.action_id != b.action_id


async def test_action_errors_and_timeouts(servers: list[ScriptedServer], running: Any) -> None:
    async def script(conn: ScriptedConn) -> None:
        while True:
            action = await conn.next_action()
            name = action.get("Action")
            if name == "Silent":
                continue  # never answered
            status = "Error" if name == "Bad" else "Success"
            await conn.send(f"Response: {status}\r\nActionID: {action.action_id}\r\nMessage: {name}\r\n\r\n")

    port = await start_server(servers, script)
    rec = Recorder()
    client = make_client(port, rec)
    await running(client)
    await rec.until(lambda: client.connected)
    with pytest.raises(AmiActionError) as err:
        await client.action("Bad", timeout=WAIT)
    assert err.value.response.get("Message") == "Bad"
    with pytest.raises(AmiTimeout):
        await client.action("Silent", timeout=0.2)
    with pytest.raises(AmiActionError):
        await client.list_action("Bad", complete_event="BadComplete", timeout=WAIT)
    assert (await client.action("Ping", timeout=WAIT)).response == "Success"  # session still fine
    with pytest.raises(ValueError):
        await client.action("Ping", timeout=WAIT, Bad="x\r\nAction: Logoff")


async def test_list_actions_gather_items_and_keep_them_out_of_the_event_stream(
    sims: list[AmiSimulator], running: Any
) -> None:
    source = load_jsonl(CAPTURES / "c_queue_hold35.jsonl")
    cut = next(i for i, (_, raw) in enumerate(source) if event_name(raw) == "AgentCalled")
    sim, port = await start_sim(sims, source[: cut + 1], speed=0, wait_for_clients=1)
    rec = Recorder()
    client = make_client(port, rec)
    await running(client)
    await rec.until(lambda: client.connected)
    await asyncio.wait_for(sim.finished.wait(), WAIT)
    channels = await client.list_action("CoreShowChannels", complete_event="CoreShowChannelsComplete")
    assert {m.event for m in channels} == {"CoreShowChannel"}
    assert "1795499029.4" in {m.get("Uniqueid") for m in channels}
    queue = await client.list_action("QueueStatus", complete_event="QueueStatusComplete")
    assert [m.event for m in queue if m.event == "QueueEntry"] == ["QueueEntry"]
    assert {m.event for m in queue} <= {"QueueParams", "QueueMember", "QueueEntry"}
    with pytest.raises(AmiActionError):
        await client.list_action("Bogus", complete_event="BogusComplete")
    listed = {"CoreShowChannel", "CoreShowChannelsComplete", "QueueParams", "QueueEntry", "QueueMember"}
    assert not [m for m in rec.events() if m.event in listed]


async def test_callback_failures_are_counted_and_reading_goes_on(
    sims: list[AmiSimulator], running: Any
) -> None:
    sim, port = await start_sim(sims, ticks(50), speed=0, wait_for_clients=1)
    seen: list[str] = []

    def fragile(msg: AmiMessage, received_at: float) -> None:
        seen.append(msg.get("N"))
        if msg.get("N").endswith("7"):
            raise RuntimeError("handler bug")

    client = AmiClient("127.0.0.1", port, "monitor", "simsecret", on_message=fragile)
    await running(client)
    await asyncio.wait_for(sim.finished.wait(), WAIT)
    async with asyncio.timeout(WAIT):
        while "49" not in seen:
            await asyncio.sleep(0.01)
    assert client.stats.callback_errors == 5
    assert client.reconnects == 0


# -- faults ------------------------------------------------------------------------------------------
async def test_dropped_connection_reconnects_reports_gap_and_keeps_delivering(
    sims: list[AmiSimulator], running: Any
) -> None:
    sim, port = await start_sim(sims, ticks(400), speed=1.0, wait_for_clients=1)
    rec = Recorder()
    client = make_client(port, rec, ping_interval=1.0)
    await running(client)
    await rec.until(lambda: len(rec.events("Tick")) >= 10)
    dropped_at = time.time()
    sim.drop_connections()
    await rec.until(lambda: bool(rec.gaps))
    resumed_at = time.time()
    [(start, end, reason)] = rec.gaps
    assert dropped_at - 0.05 <= start <= end <= resumed_at + 0.05
    assert reason
    last_before = int(rec.events("Tick")[-1].get("N"))
    await rec.until(lambda: int(rec.events("Tick")[-1].get("N")) >= last_before + 10)
    numbers = [int(m.get("N")) for m in rec.events("Tick")]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert rec.states == [True, False, True]
    assert len(rec.connects) == 2 and client.reconnects == 1
    assert client.last_error == reason


async def test_stalled_connection_is_declared_dead_within_about_two_ping_intervals(
    sims: list[AmiSimulator], running: Any
) -> None:
    interval = 0.2
    sim, port = await start_sim(sims)
    rec = Recorder()
    client = make_client(port, rec, ping_interval=interval)
    await running(client)
    await rec.until(lambda: rec.states == [True])
    await asyncio.sleep(3 * interval)  # a few healthy pings first
    assert rec.states == [True]
    loop = asyncio.get_running_loop()
    stalled_at = loop.time()
    sim.stall(None)
    await rec.until(lambda: rec.states == [True, False])
    detected_after = loop.time() - stalled_at
    # ~2 intervals by design; the margin only absorbs scheduler jitter on a busy machine.
    assert detected_after <= 2.5 * interval + 0.5
    await rec.until(lambda: rec.states == [True, False, True] and bool(rec.gaps))
    assert "half-open" in rec.gaps[0][2]
    assert (await client.action("Ping", timeout=WAIT)).get("Ping") == "Pong"


async def test_garbage_huge_line_and_split_utf8_do_not_break_the_stream(
    servers: list[ScriptedServer], running: Any
) -> None:
    async def nasty(conn: ScriptedConn) -> None:
        await conn.send("Event: Before\r\nN: 1\r\n\r\n")
        await conn.send(b"\x00\xff\xfe garbage without separator\r\n\x01\x02\r\n\r\n")
        huge = b"Event: Huge\r\nData: " + b"x" * 1_000_000 + b"\r\n\r\n"
        for i in range(0, len(huge), 65536):
            await conn.send(huge[i : i + 65536])
        named = "Event: Named\r\nCallerIDName: Zoë Ünal 日本\r\n\r\n".encode()
        cut = named.index("日".encode()) + 1
        await conn.send(named[:cut])
        await asyncio.sleep(0.05)  # make sure the halves arrive in separate reads
        await conn.send(named[cut:])
        await conn.send("Event: After\r\nN: 2\r\n\r\n")
        await idle(conn)

    port = await start_server(servers, nasty)
    rec = Recorder()
    client = make_client(port, rec)
    await running(client)
    await rec.until(lambda: bool(rec.events("After")))
    assert [m.event for m in rec.events()] == ["Before", "Named", "After"]
    assert rec.events("Named")[0].get("CallerIDName") == "Zoë Ünal 日本"
    assert client.parse_errors >= 3  # two separator-less lines, one oversize line
    assert client.reconnects == 0 and rec.gaps == []


async def test_real_capture_replayed_at_speed_50_arrives_complete_with_original_times(
    sims: list[AmiSimulator], running: Any
) -> None:
    source = load_jsonl(CAPTURES / "c_queue_hold35.jsonl")
    played = [(t, raw) for t, raw in source if event_name(raw) not in ("", "FullyBooted")]
    noise_filter = AmiParser(expect_banner=False)  # the client's default noise rules
    expected = [(t, raw) for t, raw in played if noise_filter.feed(raw.encode())]
    assert noise_filter.skipped > len(expected)  # the capture really is mostly noise
    sim, port = await start_sim(sims, source, speed=50.0, wait_for_clients=1)
    rec = Recorder()
    client = make_client(port, rec)
    await running(client)
    await asyncio.wait_for(sim.finished.wait(), WAIT)
    await rec.until(lambda: len(rec.messages) >= len(expected) + 1)
    got = [m for m in rec.events() if m.event != "FullyBooted"]
    assert [(m.event, m.get("Uniqueid"), m.get("Timestamp")) for m in got] == [
        (event_name(raw), _uniqueid(raw), f"{t:.6f}") for t, raw in expected
    ]
    assert client.events_total == len(played) + 1  # noise counted too (+ FullyBooted)
    assert client.parse_errors == 0


def _uniqueid(raw: str) -> str:
    [msg] = AmiParser(skip_events=frozenset(), expect_banner=False).feed(raw.encode())
    return msg.get("Uniqueid")


# -- backoff -----------------------------------------------------------------------------------------
def test_backoff_is_exponential_capped_and_fully_jittered() -> None:
    top = [backoff_delay(n, base=0.5, cap=30.0, rand=lambda: 1.0) for n in range(9)]
    assert top == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff_delay(5, base=0.5, cap=30.0, rand=lambda: 0.0) == 0.0
    assert backoff_delay(10_000, base=0.5, cap=30.0, rand=lambda: 0.5) == 15.0


async def test_unreachable_server_backs_off_without_gap_or_state_reports() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()  # nothing listens there now
    rec = Recorder()
    delays: list[float] = []
    client: AmiClient

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 5:
            await client.close()

    client = make_client(port, rec, sleep=fake_sleep, rand=lambda: 0.5, backoff_base=0.5, backoff_cap=30.0)
    await asyncio.wait_for(client.run(), WAIT)
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert rec.states == [] and rec.gaps == [] and rec.connects == []
    assert client.last_error is not None and "failed" in client.last_error
