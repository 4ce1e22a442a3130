"""The AMI client: keeps one logged-in session alive and hands every event to the caller.

``AmiClient.run()`` connects, logs in, reads, pings, and on any failure reconnects with exponential
backoff and full jitter. After a reconnect it reports the interval it could not see (``on_gap``) and
lets the caller resync (``on_connected``: e.g. ``CoreShowChannels``/``QueueStatus``), because events
sent while the connection was down are gone for good.

Callbacks (all optional except ``on_message``):

* ``on_message(msg, received_at)`` - sync, for every event in order, on the hot path. Exceptions are
  logged and counted (``stats.callback_errors``), never fatal.
* ``on_connected(client, connected_at)`` - async, after each successful login; runs concurrently with
  the reader (so it may await actions).
* ``on_gap(start, end, reason)`` - after a *re*connect: the time from losing/declaring dead the
  previous session to finishing the new login. Not called for the first connection.
* ``on_state(up)`` - True after each login, False when a session ends.

Backpressure: when ``room`` (an ``asyncio.Event``, set while the consumer has room) is clear the reader
stops reading, so TCP flow control holds the PBX back. A PBX that drops a client that does not read
(Asterisk's ``writetimeout``) is seen once reading resumes; the gap reported then starts when reading
stopped, since what the PBX sent after it may be lost.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from adapters.asterisk.actions import (
    AmiAuthError,
    AmiConnectionError,
    AmiConnectionLost,
    AmiError,
    AmiSecret,
    HeaderValue,
    PendingActions,
)
from adapters.asterisk.framing import NOISE_EVENTS, AmiMessage, AmiParser
from adapters.asterisk.session import AmiSession, AmiStats, OnMessage

__all__ = ["AmiClient", "OnConnected", "OnGap", "OnState", "backoff_delay"]

log = logging.getLogger(__name__)

OnConnected = Callable[["AmiClient", float], Awaitable[None]]
OnGap = Callable[[float, float, str], None]
OnState = Callable[[bool], None]
T = TypeVar("T")


class Room(Protocol):
    """Set while the consumer of the events has room (``asyncio.Event`` satisfies it)."""

    def is_set(self) -> bool: ...

    async def wait(self) -> object: ...


def backoff_delay(attempt: int, *, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt))."""
    return rand() * min(cap, base * 2.0 ** min(attempt, 32))


class _Closing(Exception):
    """Raised inside the session task group when close() was called."""


class AmiClient:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: AmiSecret | str,
        *,
        on_message: OnMessage,
        on_connected: OnConnected | None = None,
        on_gap: OnGap | None = None,
        on_state: OnState | None = None,
        ping_interval: float = 10.0,
        connect_timeout: float = 10.0,
        login_timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        stable_after: float = 30.0,
        events: bool = True,
        skip_events: frozenset[str] = NOISE_EVENTS,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret if isinstance(secret, AmiSecret) else AmiSecret(secret)
        self._on_message = on_message
        self._on_connected = on_connected
        self._on_gap = on_gap
        self._on_state = on_state
        self.ping_interval = ping_interval
        self._connect_timeout = connect_timeout
        self._login_timeout = login_timeout
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._stable_after = stable_after
        self._events = events
        self._skip_events = skip_events
        self._clock = clock
        self._rand = rand
        self._sleep = sleep
        self.stats = AmiStats()
        self.last_error: str | None = None  # why the last connect attempt or session failed
        self._session: AmiSession | None = None
        self._closed = asyncio.Event()
        self._running = False
        self.room: Room | None = None  # see the module docstring (backpressure)
        self._gate: _Gate | None = None  # the current session's view of ``room``
        # Unique per client so late replies from an earlier session are recognised as ours.
        self._id_prefix = f"slamon-{secrets.token_hex(3)}-"
        self._ids = itertools.count(1)

    # -- public -------------------------------------------------------------------------------------
    @property
    def peer(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._session is not None

    @property
    def events_total(self) -> int:
        return self.stats.events_total

    @property
    def parse_errors(self) -> int:
        return self.stats.parse_errors

    @property
    def reconnects(self) -> int:
        return self.stats.reconnects

    @property
    def paused(self) -> bool:
        """True while the reader holds off because the consumer has no room."""
        gate = self._gate
        return gate is not None and gate.paused_since is not None

    @property
    def last_event_at(self) -> float | None:
        return self.stats.last_event_at

    def __repr__(self) -> str:
        state = "up" if self.connected else "down"
        return f"<AmiClient {self.username}@{self.peer} {state}>"

    async def action(self, name: str, *, timeout: float = 5.0, **headers: HeaderValue) -> AmiMessage:
        """Send an action on the current session and await its ``Response``.

        Raises AmiConnectionError when not connected, AmiTimeout, AmiActionError (``Response: Error``).
        """
        return await self._current().action(name, timeout=timeout, **headers)

    async def list_action(
        self, name: str, *, complete_event: str, timeout: float = 30.0, **headers: HeaderValue
    ) -> list[AmiMessage]:
        """Send a list action (``CoreShowChannels``, ``QueueStatus``, ``Status``...) and return its item
        events, gathered until ``complete_event`` (``CoreShowChannelsComplete``...)."""
        return await self._current().list_action(
            name, complete_event=complete_event, timeout=timeout, **headers
        )

    async def close(self) -> None:
        """Make ``run()`` return: sends ``Logoff`` (not awaited) and drops the connection.

        Does not wait for ``run()`` to finish (a callback running inside it may call close()).
        """
        if self._closed.is_set():
            return
        session = self._session
        if session is not None:
            session.say_goodbye()
        self._closed.set()

    async def run(self) -> None:
        """Connect, serve, reconnect - until :meth:`close` or cancellation."""
        if self._running:
            raise RuntimeError("AmiClient.run() is already running")
        self._running = True
        try:
            await self._run()
        finally:
            self._running = False

    # -- internals ----------------------------------------------------------------------------------
    def _current(self) -> AmiSession:
        session = self._session
        if session is None:
            raise AmiConnectionError(f"not connected to AMI at {self.peer}")
        return session

    def _new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids)}"

    async def _run(self) -> None:
        attempt = 0
        lost_at: float | None = None
        lost_reason = ""
        while not self._closed.is_set():
            session = await self._try_open()
            if session is None:
                if self._closed.is_set():
                    break
                delay = self._delay(attempt)
                attempt += 1
                await self._until_closed(self._sleep(delay))
                continue
            connected_at = self._clock()
            if lost_at is not None:
                self.stats.reconnects += 1
                log.warning(
                    "AMI %s reconnected after %.1fs without events (%s)",
                    self.peer,
                    connected_at - lost_at,
                    lost_reason,
                )
                self._safe_call("on_gap", self._on_gap, lost_at, connected_at, lost_reason)
            else:
                log.info("AMI %s connected (%s)", self.peer, session.banner)
            gate = self._gate = None if self.room is None else _Gate(self.room, self._clock, self.stats)
            try:
                lost_reason = await self._serve(session, connected_at)
            finally:
                lost_at = self._clock()
                if session.last_read_at is not None and session.last_read_at < lost_at:
                    # A path that went silent (half-open) is declared dead only pings later; what the
                    # PBX sent after the last bytes we read is lost, so the gap starts there.
                    lost_at = max(session.last_read_at, connected_at)
                if gate is not None and gate.unconfirmed_since is not None:
                    # Reads were held back and no Ping answered since: the PBX may have dropped us
                    # while we were not reading (what it sent then is gone), so the gap starts there.
                    lost_at = min(lost_at, gate.unconfirmed_since)
                self._gate = None
                self._session = None
                session.abort("session ended")
                self._safe_call("on_state", self._on_state, False)
            if self._closed.is_set():
                break
            self.last_error = lost_reason
            log.warning("AMI %s session lost: %s", self.peer, lost_reason)
            # A session that died right after login must not turn into a tight reconnect loop.
            attempt = 0 if lost_at - connected_at >= self._stable_after else attempt + 1
            await self._until_closed(self._sleep(self._delay(attempt)))

    def _delay(self, attempt: int) -> float:
        return backoff_delay(attempt, base=self._backoff_base, cap=self._backoff_cap, rand=self._rand)

    async def _try_open(self) -> AmiSession | None:
        try:
            return await self._until_closed(self._open())
        except AmiAuthError as exc:
            # The text names user and host but never the secret (see AmiSession.login).
            self.last_error = str(exc)
            log.error("%s; retrying with backoff", exc)
        except (AmiError, OSError) as exc:
            self.last_error = str(exc)
            log.warning("AMI %s unavailable: %s", self.peer, exc)
        return None

    async def _open(self) -> AmiSession:
        pending = PendingActions(self._new_id, self._id_prefix)
        parser = AmiParser(skip_events=self._skip_events)
        session = await AmiSession.open(
            self.host,
            self.port,
            timeout=self._connect_timeout,
            pending=pending,
            parser=parser,
            clock=self._clock,
            stats=self.stats,
        )
        try:
            await session.login(self.username, self._secret, events=self._events, timeout=self._login_timeout)
        except BaseException:
            session.abort("login failed")
            raise
        return session

    async def _serve(self, session: AmiSession, connected_at: float) -> str:
        self._session = session
        self._safe_call("on_state", self._on_state, True)
        reason = "connection lost"
        try:
            async with asyncio.TaskGroup() as tg:
                gate = self._gate
                idle = 2 * self.ping_interval
                tg.create_task(session.read_loop(self._on_message, idle_timeout=idle, gate=gate))
                tg.create_task(session.keepalive(self.ping_interval, gate))
                tg.create_task(self._watch_close())
                if self._on_connected is not None:
                    tg.create_task(self._resync(self._on_connected, connected_at))
        except* _Closing:
            reason = "closed"
        except* (AmiError, OSError) as group:
            reason = str(group.exceptions[0]) or type(group.exceptions[0]).__name__
        except* Exception as group:
            # A bug in our own code must not stop monitoring: log it loudly and reconnect.
            log.error("AMI %s session failed unexpectedly", self.peer, exc_info=group.exceptions[0])
            reason = f"internal error: {type(group.exceptions[0]).__name__}"
        return reason

    async def _watch_close(self) -> None:
        await self._closed.wait()
        raise _Closing

    async def _resync(self, on_connected: OnConnected, connected_at: float) -> None:
        try:
            await on_connected(self, connected_at)
        except AmiConnectionLost:
            pass  # the reader reports the loss itself
        except Exception:
            log.exception("AMI %s on_connected handler failed; events keep flowing", self.peer)

    async def _until_closed(self, aw: Awaitable[T]) -> T | None:
        """Await ``aw`` unless close() comes first (then cancel it and return None)."""
        work = asyncio.ensure_future(aw)
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({work, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, closed):
                if not task.done():
                    task.cancel()
            await asyncio.gather(work, closed, return_exceptions=True)
        if work.cancelled():
            return None
        return work.result()

    def _safe_call(self, what: str, fn: Callable[..., object] | None, *args: object) -> None:
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            log.exception("AMI %s %s handler failed", self.peer, what)


class _Gate:
    """One session's view of the consumer's ``room``: counts the pauses and remembers whether the
    session has been proven intact (a Ping answered) since reads were last held back."""

    def __init__(self, room: Room, clock: Callable[[], float], stats: AmiStats) -> None:
        self._room = room
        self._clock = clock
        self._stats = stats
        self.paused_since: float | None = None
        self.resumed_at = 0.0
        self.unconfirmed_since: float | None = None
        self.pauses = 0

    def is_set(self) -> bool:
        return self._room.is_set()

    async def wait(self) -> None:
        now = self._clock()
        self.paused_since = now
        if self.unconfirmed_since is None:
            self.unconfirmed_since = now
        self.pauses += 1
        self._stats.pauses += 1
        try:
            await self._room.wait()
        finally:
            self.paused_since = None
            self.resumed_at = self._clock()

    def confirmed(self, sent_at: float) -> None:
        if self.paused_since is None and sent_at >= self.resumed_at:
            self.unconfirmed_since = None
