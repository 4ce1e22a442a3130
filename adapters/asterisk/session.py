"""One AMI session: TCP connect, banner check, Login, the read loop, keepalive and actions.

A session lives from connect to the first error; :class:`adapters.asterisk.client.AmiClient` builds a
new one on every reconnect. Every network wait has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from adapters.asterisk.actions import (
    AmiActionError,
    AmiAuthError,
    AmiConnectionError,
    AmiConnectionLost,
    AmiProtocolError,
    AmiSecret,
    AmiTimeout,
    HeaderValue,
    PendingActions,
    format_action,
)
from adapters.asterisk.framing import AmiMessage, AmiParser

__all__ = ["AmiSession", "AmiStats", "OnMessage", "ReadGate"]

log = logging.getLogger(__name__)

BANNER_PREFIX = "Asterisk Call Manager/"
READ_SIZE = 65536
OnMessage = Callable[[AmiMessage, float], None]


@dataclass(slots=True)
class AmiStats:
    """Counters of one client, across its sessions."""

    events_total: int = 0  # every event received, including noise the parser skipped
    parse_errors: int = 0
    callback_errors: int = 0
    reconnects: int = 0
    last_event_at: float | None = None  # clock time of the last read that carried an event
    pauses: int = 0  # times the reader held off because the consumer had no room (backpressure)


class ReadGate(Protocol):
    """Backpressure: the reader reads only while the gate is set (the consumer has room)."""

    def is_set(self) -> bool: ...

    async def wait(self) -> None:
        """Return once there is room again."""

    @property
    def pauses(self) -> int: ...

    def confirmed(self, sent_at: float) -> None:
        """A Ping sent at ``sent_at`` was answered: everything the PBX sent before it has been read."""


class AmiSession:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        parser: AmiParser,
        pending: PendingActions,
        *,
        peer: str,
        clock: Callable[[], float],
        stats: AmiStats,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = parser
        self._pending = pending
        self._clock = clock
        self._stats = stats
        self.peer = peer
        self.banner = parser.banner or ""
        # Events that arrived before the session started serving (e.g. FullyBooted right after the
        # login response); delivered first by read_loop so nothing is lost or reordered.
        self._backlog: list[tuple[AmiMessage, float]] = []
        self.last_read_at: float | None = None  # clock time of the last bytes read while serving
        self._errors_seen = parser.parse_errors
        self._skipped_seen = parser.skipped

    # -- opening ------------------------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        timeout: float,
        pending: PendingActions,
        parser: AmiParser,
        clock: Callable[[], float],
        stats: AmiStats,
    ) -> AmiSession:
        """Connect and check the banner (both within ``timeout``)."""
        peer = f"{host}:{port}"
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            raise AmiConnectionError(f"AMI connect to {peer} timed out after {timeout:.1f}s") from None
        except OSError as exc:
            raise AmiConnectionError(f"AMI connect to {peer} failed: {exc.strerror or exc}") from None
        session = cls(reader, writer, parser, pending, peer=peer, clock=clock, stats=stats)
        try:
            await session._read_banner(timeout)
        except BaseException:
            session.abort()
            raise
        return session

    async def _read_banner(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not self._parser.banner_done:
                    await self._read_chunk()
        except TimeoutError:
            raise AmiProtocolError(f"no AMI banner from {self.peer} within {timeout:.1f}s") from None
        banner = self._parser.banner
        if banner is None or not banner.startswith(BANNER_PREFIX):
            shown = (banner or "(none)")[:80]
            raise AmiProtocolError(f"{self.peer} is not an Asterisk manager interface (banner {shown!r})")
        self.banner = banner

    async def login(self, username: str, secret: AmiSecret, *, events: bool, timeout: float) -> None:
        """Log in; raises :class:`AmiAuthError` (without the secret) when refused."""
        action_id = self._pending.new_id()
        fut = self._pending.expect_response(action_id)
        headers = {"Username": username, "Secret": secret.reveal(), "Events": "on" if events else "off"}
        try:
            self._writer.write(format_action("Login", action_id, headers))
            async with asyncio.timeout(timeout):
                await self._writer.drain()
                while not fut.done():
                    await self._read_chunk()
        except TimeoutError:
            raise AmiTimeout(f"no reply to AMI Login from {self.peer} within {timeout:.1f}s") from None
        finally:
            self._pending.forget(action_id)
            if not fut.done():
                fut.cancel()
        reply = fut.result()
        if reply.response != "Success":
            message = secret.redact(reply.get("Message") or reply.response or "no reason given")
            raise AmiAuthError(f"AMI login refused for user {username!r} at {self.peer}: {message}")

    async def _read_chunk(self) -> None:
        """Pre-serving read: route replies, keep events in the backlog."""
        data = await self._reader.read(READ_SIZE)
        if not data:
            raise AmiConnectionLost(f"{self.peer} closed the connection")
        now = self._clock()
        for msg in self._parser.feed(data):
            headers = msg.headers
            if ("ActionID" in headers or "Response" in headers) and self._pending.route(msg):
                continue
            self._backlog.append((msg, now))

    # -- serving ------------------------------------------------------------------------------------
    async def read_loop(
        self, on_message: OnMessage, idle_timeout: float, gate: ReadGate | None = None
    ) -> NoReturn:
        """Read until the connection fails; calls ``on_message`` for every event, in order.

        With a ``gate``, nothing is read while it is clear: the socket's buffers fill and TCP flow
        control holds the PBX back (the idle timeout does not run meanwhile).
        Raises :class:`AmiConnectionLost` on EOF, read error, or no bytes for ``idle_timeout``.
        """
        stats = self._stats
        backlog, self._backlog = self._backlog, []
        for msg, received_at in backlog:
            self._deliver(on_message, msg, received_at)
        self._account(backlog[-1][1] if backlog else None)
        reader = self._reader
        parser = self._parser
        route = self._pending.route
        while True:
            if gate is not None and not gate.is_set():
                await gate.wait()
            try:
                async with asyncio.timeout(idle_timeout):
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                raise AmiConnectionLost(
                    f"no data from {self.peer} for {idle_timeout:.1f}s (connection half-open?)"
                ) from None
            except OSError as exc:
                raise AmiConnectionLost(f"read from {self.peer} failed: {exc}") from None
            if not data:
                raise AmiConnectionLost(f"{self.peer} closed the connection")
            now = self.last_read_at = self._clock()
            delivered = 0
            for msg in parser.feed(data):
                headers = msg.headers
                if ("ActionID" in headers or "Response" in headers) and route(msg):
                    continue
                delivered += 1
                try:
                    on_message(msg, now)
                except Exception:
                    self._callback_failed()
            stats.events_total += delivered
            self._account(now if delivered else None)

    def _deliver(self, on_message: OnMessage, msg: AmiMessage, received_at: float) -> None:
        self._stats.events_total += 1
        try:
            on_message(msg, received_at)
        except Exception:
            self._callback_failed()

    def _callback_failed(self) -> None:
        stats = self._stats
        stats.callback_errors += 1
        n = stats.callback_errors
        # Log the first failures in full, then sparsely: a broken handler must not flood the log.
        if n <= 5 or n % 1000 == 0:
            log.exception("AMI event handler failed (%d failures so far); reader continues", n)

    def _account(self, event_at: float | None) -> None:
        """Fold the parser's counters into the stats (noise counts as received events)."""
        parser, stats = self._parser, self._stats
        skipped = parser.skipped - self._skipped_seen
        if skipped:
            stats.events_total += skipped
            self._skipped_seen = parser.skipped
            event_at = event_at if event_at is not None else self._clock()
        if parser.parse_errors != self._errors_seen:
            stats.parse_errors += parser.parse_errors - self._errors_seen
            self._errors_seen = parser.parse_errors
        if event_at is not None:
            stats.last_event_at = event_at

    async def keepalive(self, interval: float, gate: ReadGate | None = None) -> NoReturn:
        """Ping every ``interval``; no reply within two intervals means the session is dead.

        While the reader holds off (``gate`` clear) no reply can be read: no Ping then, and a Ping
        that went unanswered across a pause proves nothing."""
        while True:
            await asyncio.sleep(interval)
            if gate is not None and not gate.is_set():
                continue
            pauses = gate.pauses if gate is not None else 0
            sent_at = self._clock()
            try:
                await self.action("Ping", timeout=2 * interval)
            except AmiTimeout:
                if gate is not None and (gate.pauses != pauses or not gate.is_set()):
                    continue
                raise AmiConnectionLost(
                    f"no Ping reply from {self.peer} within {2 * interval:.1f}s (connection half-open?)"
                ) from None
            if gate is not None:
                gate.confirmed(sent_at)

    # -- actions ------------------------------------------------------------------------------------
    def _send(self, name: str, action_id: str, headers: dict[str, HeaderValue]) -> None:
        if self._writer.is_closing():
            raise AmiConnectionLost(f"session with {self.peer} is closed")
        self._writer.write(format_action(name, action_id, headers))

    async def action(self, name: str, *, timeout: float, **headers: HeaderValue) -> AmiMessage:
        reply, _ = await self._request(name, headers, timeout, complete_event=None)
        return reply

    async def list_action(
        self, name: str, *, complete_event: str, timeout: float, **headers: HeaderValue
    ) -> list[AmiMessage]:
        """Send a list action and gather its events until ``complete_event`` (excluded)."""
        _, items = await self._request(name, headers, timeout, complete_event=complete_event)
        return items

    async def _request(
        self, name: str, headers: dict[str, HeaderValue], timeout: float, *, complete_event: str | None
    ) -> tuple[AmiMessage, list[AmiMessage]]:
        """Send an action and await its reply, and with ``complete_event`` its list items, in ``timeout``."""
        action_id = self._pending.new_id()
        reply_fut = self._pending.expect_response(action_id)
        items_fut = None if complete_event is None else self._pending.expect_list(action_id, complete_event)
        try:
            self._send(name, action_id, headers)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
                reply = await reply_fut
                if reply.response == "Error":
                    raise AmiActionError(name, reply)
                items = [] if items_fut is None else await items_fut
        except TimeoutError:
            if complete_event is None:
                raise AmiTimeout(f"no reply to AMI {name} from {self.peer} within {timeout:.1f}s") from None
            raise AmiTimeout(
                f"AMI {name} from {self.peer} not complete within {timeout:.1f}s ({complete_event} missing)"
            ) from None
        except OSError as exc:
            raise AmiConnectionLost(f"sending {name} to {self.peer} failed: {exc}") from None
        finally:
            self._pending.forget(action_id)
            _settle(reply_fut)
            if items_fut is not None:
                _settle(items_fut)
        return reply, items

    # -- closing ------------------------------------------------------------------------------------
    def say_goodbye(self) -> None:
        """Send ``Logoff`` without waiting for the reply (best effort, used when closing)."""
        with contextlib.suppress(Exception):
            self._send("Logoff", self._pending.new_id(), {})

    def abort(self, reason: str = "session closed") -> None:
        """Drop the connection now and fail every action still waiting."""
        self._pending.fail_all(AmiConnectionLost(f"{reason} ({self.peer})"))
        transport = self._writer.transport
        if not transport.is_closing():
            transport.abort()


def _settle(fut: asyncio.Future[Any]) -> None:
    """Cancel a future nobody will await any more, or mark its exception as retrieved (no warning)."""
    if not fut.done():
        fut.cancel()
    elif not fut.cancelled():
        fut.exception()
