"""An AMI server that plays recorded (or generated) events: used by ``make demo``, tests and benchmarks.

It speaks enough of the Asterisk 20 manager protocol for the monitor: banner, ``Login`` (a wrong
secret gets ``Authentication failed`` and the connection is closed, like Asterisk), ``Events``,
``Ping``, ``Logoff``, ``CoreStatus`` (startup time = ``booted_at``: a new simulator on the same port is
a rebooted PBX), and ``CoreShowChannels``/``QueueStatus`` answered from the live state derived from the
events played so far. Every other action gets ``Invalid/unknown command``.

Events are broadcast to every logged-in connection from the moment it logged in; a client that
reconnects has lost whatever was played meanwhile, exactly the situation the monitor's resync handles.
Fault injection: :meth:`AmiSimulator.drop_connections` (RST) and :meth:`AmiSimulator.stall` (the
connections stay open but nothing reaches the client - a half-open TCP path).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import math
import socket
import struct
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable

from adapters.asterisk.framing import AmiMessage, AmiParser
from adapters.asterisk.sim_state import STATE_EVENTS, LiveState, core_status, event_name, parse_headers

__all__ = ["BANNER", "AmiSimulator", "Source"]

log = logging.getLogger(__name__)

BANNER = "Asterisk Call Manager/9.0.0"
Source = Iterable[tuple[float, str]] | AsyncIterable[tuple[float, str]]
_BATCH_BYTES = 65536
_AUTH_TIMEOUT = 30.0  # Asterisk's default authtimeout
_MAX_STALL_BACKLOG = 32 * 1024 * 1024


class _Conn:
    __slots__ = ("authed", "backlog", "backlog_bytes", "events", "peer", "resume_handle", "stalled", "writer")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.peer = str(writer.get_extra_info("peername"))
        self.authed = False
        self.events = True
        self.stalled = False
        self.backlog: list[bytes] = []
        self.backlog_bytes = 0
        self.resume_handle: asyncio.TimerHandle | None = None

    def send(self, data: bytes) -> None:
        if self.stalled:
            # TCP would deliver this later if the path recovers; beyond a bound it is simply lost.
            if self.backlog_bytes < _MAX_STALL_BACKLOG:
                self.backlog.append(data)
                self.backlog_bytes += len(data)
            return
        if not self.writer.is_closing():
            self.writer.write(data)

    def unstall(self) -> None:
        if self.resume_handle is not None:
            self.resume_handle.cancel()
            self.resume_handle = None
        self.stalled = False
        backlog, self.backlog, self.backlog_bytes = self.backlog, [], 0
        if backlog and not self.writer.is_closing():
            self.writer.write(b"".join(backlog))

    def abort(self, rst: bool = False) -> None:
        if self.resume_handle is not None:
            self.resume_handle.cancel()
        transport = self.writer.transport
        if rst:
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if not transport.is_closing():
            transport.abort()


async def _aiter(source: Source) -> AsyncIterator[tuple[float, str]]:
    if isinstance(source, AsyncIterable):
        async for item in source:
            yield item
    else:
        for item in source:
            yield item


def stamp(raw: str, ts: float) -> str:
    """``raw`` with its ``Timestamp:`` header set to ``ts`` (inserted after Event/Privilege if absent)."""
    value = f"Timestamp: {ts:.6f}\r\n"
    i = raw.find("\nTimestamp: ")
    if i >= 0:
        j = raw.find("\n", i + 1)
        return raw[: i + 1] + value + raw[j + 1 :]
    first = raw.find("\n") + 1
    if raw.startswith("Privilege: ", first):  # where Asterisk's timestampevents puts it
        first = raw.find("\n", first) + 1
    return raw[:first] + value + raw[first:]


def _original_timestamp(raw: str) -> float | None:
    i = raw.find("\nTimestamp: ")
    if i < 0:
        return None
    j = raw.find("\n", i + 1)
    try:
        return float(raw[i + 12 : j].strip())
    except ValueError:
        return None


class AmiSimulator:
    """Plays ``source`` items ``(t, raw_message)`` (the jsonl capture shape) to AMI clients.

    ``speed``: message i goes out at ``start + (t_i - t_0) / speed``; 0 or ``inf`` = as fast as
    possible. ``timestamp_events``: every event carries ``Timestamp:`` = its original event time
    (the capture's own ``Timestamp`` if it has one, else ``t``) plus ``time_shift``, so consumers see
    the original times however fast the replay. ``wait_for_clients``: playing starts only once that
    many clients have logged in (tests and benchmarks must not lose the first events). ``booted_at``:
    when this PBX started (``FullyBooted`` uptime, ``CoreStatus``); default: now.
    """

    def __init__(
        self,
        source: Source,
        *,
        username: str = "monitor",
        secret: str = "simsecret",
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        timestamp_events: bool = True,
        time_shift: float = 0.0,
        clock: Callable[[], float] = time.time,
        wait_for_clients: int = 0,
        write_timeout: float = 10.0,
        booted_at: float | None = None,
    ) -> None:
        self._source = source
        self._username = username
        self._secret = secret
        self._host = host
        self._port = port
        self._speed = speed
        self._paced = speed > 0 and math.isfinite(speed)
        self._timestamp_events = timestamp_events
        self._time_shift = time_shift
        self._clock = clock
        self._wait_for_clients = wait_for_clients
        self._write_timeout = write_timeout
        self.state = LiveState()
        self.finished = asyncio.Event()
        self.messages_sent = 0  # source messages played (each counted once, whatever the listeners)
        self._conns: set[_Conn] = set()
        self._logged_in = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.booted_at = clock() if booted_at is None else booted_at
        self._play_start: float | None = None  # loop time of message 0
        self._t0 = 0.0
        self._last_ts: float | None = None
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self._undrained = 0  # bytes written since the last drain: flow control bounds them
        self._flush_scheduled = False

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> int:
        """Listen and start playing; returns the bound port."""
        self._server = await asyncio.start_server(self._handle, self._host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        self._track(asyncio.create_task(self._play(), name="ami-sim-player"))
        return self._port

    @property
    def port(self) -> int:
        return self._port

    @property
    def clients(self) -> int:
        """Logged-in connections."""
        return sum(1 for c in self._conns if c.authed)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.abort()
        for task in list(self._tasks):
            if task.get_name() == "ami-sim-player":
                task.cancel()
        # Connection handlers end by themselves once their socket is aborted.
        if self._tasks:
            _, stragglers = await asyncio.wait(list(self._tasks), timeout=5.0)
            for task in stragglers:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await self._server.wait_closed()

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- fault injection ----------------------------------------------------------------------------
    def drop_connections(self) -> None:
        """Reset every client connection now."""
        for conn in list(self._conns):
            conn.abort(rst=True)

    def stall(self, seconds: float | None) -> None:
        """Send nothing (events, replies) to the current connections for ``seconds`` or until
        :meth:`resume`. Sockets stay open; data is held back like TCP would, and flushed on resume.
        New connections are not affected (a reconnecting client takes a fresh path)."""
        loop = asyncio.get_running_loop()
        for conn in self._conns:
            conn.stalled = True
            if conn.resume_handle is not None:
                conn.resume_handle.cancel()
                conn.resume_handle = None
            if seconds is not None:
                conn.resume_handle = loop.call_later(seconds, conn.unstall)

    def resume(self) -> None:
        for conn in self._conns:
            if conn.stalled:
                conn.unstall()

    # -- connections --------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)  # so close() waits for it; discarded below
        conn = _Conn(writer)
        self._conns.add(conn)
        parser = AmiParser(skip_events=frozenset(), expect_banner=False)
        try:
            conn.send(f"{BANNER}\r\n".encode())
            while True:
                if conn.authed:
                    data = await reader.read(65536)
                else:
                    async with asyncio.timeout(_AUTH_TIMEOUT):
                        data = await reader.read(65536)
                if not data:
                    break
                for msg in parser.feed(data):
                    if not await self._on_action(conn, msg):
                        return
        except (OSError, TimeoutError):
            pass
        finally:
            self._conns.discard(conn)
            conn.abort()
            if task is not None:
                self._tasks.discard(task)

    async def _on_action(self, conn: _Conn, msg: AmiMessage) -> bool:
        """Answer one action; False when the connection must close."""
        self._flush()  # events already played (and folded into the state) go out before any reply
        # Asterisk matches action and header names case-insensitively.
        h = {k.lower(): v for k, v in msg.headers.items()}
        action = h.get("action", "").lower()
        aid = h.get("actionid", "")
        id_line = f"ActionID: {aid}\r\n" if aid else ""

        def reply(status: str, body: str) -> None:
            conn.send(f"Response: {status}\r\n{id_line}{body}\r\n".encode())

        if action == "login":
            # compare_digest: no early exit on the first differing byte of the secret.
            presented = h.get("secret", "").encode()
            if h.get("username") != self._username or not hmac.compare_digest(
                presented, self._secret.encode()
            ):
                reply("Error", "Message: Authentication failed\r\n")
                await self._drain(conn)
                return False
            conn.events = h.get("events", "on").lower() != "off"
            reply("Success", "Message: Authentication accepted\r\n")
            if conn.events:
                up = int(self._clock() - self.booted_at)
                conn.send(
                    f"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: {up}\r\n"
                    f"LastReload: {up}\r\nStatus: Fully Booted\r\n\r\n".encode()
                )
            conn.authed = True
            async with self._logged_in:
                self._logged_in.notify_all()
            return True
        if action == "logoff":
            reply("Goodbye", "Message: Thanks for all the fish.\r\n")
            await self._drain(conn)
            return False
        if not conn.authed:
            reply("Error", "Message: Authentication Required\r\n")
            return True
        if action == "ping":
            reply("Success", f"Ping: Pong\r\nTimestamp: {self._clock():.6f}\r\n")
        elif action == "events":
            conn.events = h.get("eventmask", "on").lower() != "off"
            reply("Success", f"Events: {'On' if conn.events else 'Off'}\r\n")
        elif action == "corestatus":
            conn.send(core_status(aid, self.booted_at, self.booted_at, len(self.state.channels)).encode())
        elif action == "coreshowchannels":
            conn.send("".join(self.state.core_show_channels(aid, self.sim_now())).encode())
        elif action == "queuestatus":
            conn.send("".join(self.state.queue_status(aid, self.sim_now(), h.get("queue", ""))).encode())
        else:
            reply("Error", "Message: Invalid/unknown command\r\n")
        return True

    async def _drain(self, conn: _Conn) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._write_timeout):
                await conn.writer.drain()

    # -- playing ------------------------------------------------------------------------------------
    def sim_now(self) -> float:
        """The current time on the source's clock (plus ``time_shift``)."""
        if self._play_start is None:
            return self._clock()
        if self._paced:
            elapsed = asyncio.get_running_loop().time() - self._play_start
            return self._t0 + self._time_shift + elapsed * self._speed
        return self._last_ts if self._last_ts is not None else self._t0 + self._time_shift

    async def _play(self) -> None:
        if self._wait_for_clients:
            async with self._logged_in:
                await self._logged_in.wait_for(lambda: self.clients >= self._wait_for_clients)
        loop = asyncio.get_running_loop()
        async for t, raw in _aiter(self._source):
            name = event_name(raw)
            if not name or name == "FullyBooted":
                continue  # banner, responses, boot: the simulator makes its own
            if self._play_start is None:
                self._t0, self._play_start = t, loop.time()
            if self._paced:
                delay = self._play_start + (t - self._t0) / self._speed - loop.time()
                if delay > 0:
                    self._flush()
                    if self._undrained >= _BATCH_BYTES:  # a client that does not read holds us back
                        await self._drain_all()
                    await asyncio.sleep(delay)
            original = _original_timestamp(raw)
            ts = (original if original is not None else t) + self._time_shift
            self._last_ts = ts
            if name in STATE_EVENTS:
                self.state.apply(name, parse_headers(raw), ts)
            data = (stamp(raw, ts) if self._timestamp_events else raw).encode("utf-8")
            self._batch.append(data)
            self._batch_bytes += len(data)
            self.messages_sent += 1
            if self._batch_bytes + self._undrained >= _BATCH_BYTES:
                self._flush()
                await self._drain_all()
            elif not self._flush_scheduled:
                # Sent as soon as the player waits for anything (an async source that blocks, a
                # pacing sleep): batching never holds an event back longer than that.
                self._flush_scheduled = True
                loop.call_soon(self._flush)
        self._flush()
        await self._drain_all()
        self.finished.set()

    def _flush(self) -> None:
        """Write the pending batch to every listener (no waiting; see _drain_all)."""
        self._flush_scheduled = False
        if not self._batch:
            return
        data = b"".join(self._batch)
        self._batch, self._batch_bytes = [], 0
        self._undrained += len(data)
        for conn in self._conns:
            if conn.authed and conn.events:
                conn.send(data)

    async def _drain_all(self) -> None:
        self._undrained = 0
        for conn in list(self._conns):
            if conn.stalled or conn.writer.is_closing():
                continue
            try:
                async with asyncio.timeout(self._write_timeout):
                    await conn.writer.drain()
            except (OSError, TimeoutError):
                # Like Asterisk's writetimeout: a client that does not read is disconnected.
                log.warning("AMI simulator: dropping slow client %s", conn.peer)
                conn.abort()
        await asyncio.sleep(0)  # let clients' actions in between batches
