"""Test doubles for the AMI client tests: callback recorder, scripted raw AMI servers, and the
fixtures ``running``, ``sims`` and ``servers`` (made visible to the tests by ``conftest.py``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adapters.asterisk.actions import PendingActions
from adapters.asterisk.client import AmiClient
from adapters.asterisk.framing import AmiMessage, AmiParser
from adapters.asterisk.session import AmiSession, AmiStats
from adapters.asterisk.simulator import AmiSimulator

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CAPTURES = SHARED / "fixtures" / "asterisk" / "captures"
WAIT = 15.0  # generous: behaviour, not timing


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


async def open_session(port: int) -> AmiSession:
    """A bare session to 127.0.0.1:``port``, connected and past the banner check."""
    return await AmiSession.open(
        "127.0.0.1",
        port,
        timeout=WAIT,
        pending=PendingActions(lambda: "id-1", "id-"),
        parser=AmiParser(),
        clock=time.time,
        stats=AmiStats(),
    )


@pytest.fixture
async def running() -> AsyncIterator[Callable[[AmiClient], Awaitable[None]]]:
    """Runs clients for a test; afterwards closes them and checks that ``run()`` returned cleanly."""
    runs: list[tuple[AmiClient, asyncio.Task[None]]] = []

    async def start(client: AmiClient) -> None:
        runs.append((client, asyncio.create_task(client.run())))
        await asyncio.sleep(0)

    try:
        yield start
    finally:
        for client, _ in runs:
            await client.close()
        for _, task in runs:
            await asyncio.wait_for(task, WAIT)  # re-raises whatever run() died of


@pytest.fixture
async def sims() -> AsyncIterator[list[AmiSimulator]]:
    """Simulators a test starts (:func:`start_sim`); closed afterwards."""
    made: list[AmiSimulator] = []
    try:
        yield made
    finally:
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
    """Scripted servers a test starts (:func:`start_server`); closed afterwards."""
    made: list[ScriptedServer] = []
    try:
        yield made
    finally:
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
