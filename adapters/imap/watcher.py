"""One watched folder kept in view: connect, find the folder, catch up, then IDLE (or poll); on any
failure back off and start over.

IDLE strategy: one connection per watched folder, each IDLEing on its own folder. IDLE watches only
the selected folder, and replies in Sent matter as much as customer mail in the inbox (they stop the
SLA clock), so polling Sent would make the wallboard lag by the poll interval. The cost is 2-4
connections per mailbox, well under the usual per-user limits (Dovecot 10 per IP, Gmail 15). A server
without IDLE is polled (NOOP, then a UID SEARCH for new UIDs) every ``poll_interval``.

Drop detection: IDLE is re-issued every ``idle_refresh`` (default 10 min, RFC 2177 asks for under 29;
NAT boxes forget quiet connections sooner), which makes the server answer or the read time out; TCP
keepalives (``transport.py``) catch a half-open connection within about two minutes in between. When
polling, the NOOP is the keepalive. Every other read has ``read_timeout``.

Reconnect: exponential backoff with full jitter (uniform in ``[0, min(cap, base * 2**attempt))``);
the attempt counter resets once a session has lived ``stable_after`` seconds, so a server that
accepts and then drops us does not get a tight loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

from adapters.imap.errors import (
    ImapAuthError,
    ImapCommandError,
    ImapConfigError,
    ImapError,
    ImapTlsError,
)
from adapters.imap.reader import FolderReader, ImapConsumerError
from adapters.imap.session import Examined, ImapSession

__all__ = ["Connect", "FolderTarget", "FolderWatcher", "backoff_delay", "resolve_folder"]

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[ImapSession]]  # opens a session and logs in


@dataclass(frozen=True, slots=True)
class FolderTarget:
    """A folder to watch: by configured ``name``, or (``name`` None) by ``special_use`` such as \\Sent."""

    role: str  # inbox | sent | extra (for logs)
    name: str | None
    special_use: str | None = None

    def describe(self) -> str:
        return self.name if self.name is not None else f"the {self.special_use} folder"


def backoff_delay(attempt: int, *, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt))."""
    return rand() * min(cap, base * 2.0 ** min(attempt, 32))


async def resolve_folder(session: ImapSession, target: FolderTarget) -> str:
    """The folder's name on the server; special-use folders are looked up on every connect (a
    rename by the mail admin is followed)."""
    if target.name is not None:
        return target.name
    wanted = (target.special_use or "").upper()
    # LIST (SPECIAL-USE) where offered (RFC 6154); otherwise plain LIST, whose attributes carry the
    # special use on most servers anyway.
    infos = await session.list_folders(special_use="SPECIAL-USE" in session.capabilities)
    for info in infos:
        if wanted in info.attributes and "\\NOSELECT" not in info.attributes:
            return info.name
    raise ImapConfigError(
        f"{session.peer} has no folder marked {target.special_use}; name the sent folder in the "
        '[[mailbox]] config (sent = "...")'
    )


class FolderWatcher:
    def __init__(
        self,
        target: FolderTarget,
        *,
        connect: Connect,
        reader: FolderReader,
        on_up: Callable[[FolderWatcher, float], None],
        on_down: Callable[[FolderWatcher, float, str], None],
        idle: bool = True,
        idle_refresh: float = 600.0,
        poll_interval: float = 60.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 60.0,
        stable_after: float = 30.0,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.target = target
        self.folder: str | None = target.name  # resolved name once connected
        self.up = False
        self.last_error: str | None = None
        self._connect = connect
        self._reader = reader
        self._on_up = on_up
        self._on_down = on_down
        self.idle = idle
        self.idle_refresh = idle_refresh
        self.poll_interval = poll_interval
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._stable_after = stable_after
        self._clock = clock
        self._rand = rand
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"<FolderWatcher {self.target.role} {self.folder or self.target.describe()!r} up={self.up}>"

    async def run(self) -> NoReturn:
        """Keep the folder in view until cancelled."""
        attempt = 0
        while True:
            started: float | None = None
            session: ImapSession | None = None
            try:
                session = await self._connect()
                self.folder = await resolve_folder(session, self.target)
                examined = await session.examine(self.folder)
                started = self._clock()
                self.up = True
                self._on_up(self, started)
                await self._reader.catch_up(session, examined)
                await self._watch(session, examined)
            except (ImapAuthError, ImapTlsError, ImapConfigError, ImapCommandError) as exc:
                # Will not heal by itself (wrong password or certificate, missing folder...), but the
                # admin may fix it without restarting slamon.
                reason = str(exc)
                log.error("IMAP %s: %s; retrying with backoff", self.target.role, reason)
            except ImapConsumerError as exc:
                # Not a mail problem: show where the consumer failed. The chunk is delivered again.
                reason = str(exc)
                log.error("IMAP %s: %s; retrying with backoff", self.target.role, reason, exc_info=exc)
            except (ImapError, OSError) as exc:
                reason = str(exc) or type(exc).__name__
                log.warning("IMAP %s folder %r: %s", self.target.role, self.folder, reason)
            except Exception as exc:
                # A bug in our own code must not stop monitoring: log it loudly and start over.
                reason = f"internal error: {type(exc).__name__}"
                log.exception("IMAP %s folder %r failed unexpectedly", self.target.role, self.folder)
            finally:
                if session is not None:
                    session.abort()
            ended = self._clock()
            self.last_error = reason
            if self.up:
                self.up = False
                self._on_down(self, ended, reason)
            if started is not None and ended - started >= self._stable_after:
                attempt = 0
            delay = backoff_delay(attempt, base=self._backoff_base, cap=self._backoff_cap, rand=self._rand)
            attempt += 1
            await self._sleep(delay)

    async def _watch(self, session: ImapSession, examined: Examined) -> NoReturn:
        use_idle = self.idle and "IDLE" in session.capabilities
        if not use_idle:
            log.info("IMAP folder %r: polling every %.0fs (no IDLE)", examined.folder, self.poll_interval)
        while True:
            if use_idle:
                await session.idle(self.idle_refresh)
            else:
                await self._sleep(self.poll_interval)
                await session.noop()
            if session.folder_warning is not None:
                # The server's view of the folder may have moved under us (deleted and re-created,
                # UIDVALIDITY reset): look again. A new UIDVALIDITY makes the reader rescan.
                log.warning(
                    "IMAP %s folder %r: server said %r; examining it again",
                    self.target.role,
                    examined.folder,
                    session.folder_warning,
                )
                examined = await session.examine(examined.folder)
                await self._reader.catch_up(session, examined)
                continue
            # Also after an IDLE that merely timed out: a cheap SEARCH is the safety net for a
            # notification the server never sent.
            await self._reader.catch_up(session, examined, trust_uidnext=False)
