"""A service mailbox as a source of messages: the inbox, Sent and extra folders, read-only.

``ImapSource`` mirrors ``AmiSource``: ``run()`` keeps every watched folder in view until ``close()``
(one :class:`FolderWatcher` and connection per folder, see ``watcher.py``); ``sync_once()`` is one
pass over all folders on a single connection, for ``slamon sync``.

Output: ``on_messages(batch)`` with :class:`FetchedMessage` chunks (positions saved after it returns,
see ``reader.py``); ``on_state(up)`` when the source as a whole comes up (every folder in view) or
goes down (the first folder lost); ``on_gap(start, end, reason)`` after a reconnect, from the moment
the first folder was lost until every folder is back. Nothing is lost in a gap - the messages wait
on the server and are caught up - but during it slamon could not react to them in time.

A folder whose UIDVALIDITY changed (re-created, restored from backup, server migrated) is read again
from the start; every message still there is recognised by its message key and not counted twice.
That re-read is reported through ``on_gap`` too, spanning from when the change was seen to when the
re-read finished, with a reason naming the folder and both UIDVALIDITY values: not because anything
there was missed in real time, but because a message that was in the folder before the reset and is
gone after it can never be seen by slamon, and the auditor must be able to tell when that was
possible. (It is a gap record rather than a separate note so that exports, the API and the evidence
chain carry it without a new table.)
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from pydantic import SecretStr

from adapters.imap.errors import ImapTimeout
from adapters.imap.guard import make_ssl_context, require_secure_transport, warn_if_plaintext
from adapters.imap.reader import FolderReader, OnMessages, WantBody
from adapters.imap.session import ImapSession
from adapters.imap.state import ImapStateStore
from adapters.imap.watcher import FolderTarget, FolderWatcher, resolve_folder
from monitor.config import MailboxSettings

__all__ = ["ImapSource", "OnGap", "OnState"]

log = logging.getLogger(__name__)

OnGap = Callable[[float, float, str], None]
OnState = Callable[[bool], None]


class _Closing(Exception):
    """Raised inside run()'s task group when close() was called."""


class ImapSource:
    source = "imap"

    def __init__(
        self,
        *,
        site: str,
        mailbox: str,
        host: str,
        port: int,
        username: str,
        password: SecretStr,
        store: ImapStateStore,
        on_messages: OnMessages,
        tls: str = "imaps",
        ca_file: str | Path | None = None,
        inbox: str = "INBOX",
        sent: str | None = None,
        extra_folders: Iterable[str] = (),
        want_body: WantBody | None = None,
        on_gap: OnGap | None = None,
        on_state: OnState | None = None,
        idle: bool = True,
        idle_refresh: float = 600.0,
        poll_interval: float = 60.0,
        chunk_size: int = 500,
        body_cap: int = 256 * 1024,
        connect_timeout: float = 15.0,
        read_timeout: float = 60.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 60.0,
        stable_after: float = 30.0,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not 0 < idle_refresh <= 25 * 60:
            raise ValueError("idle_refresh must be in (0, 1500] seconds: servers drop IDLE after 30 min")
        require_secure_transport(host, tls)  # refuse plain IMAP over a network before anything runs
        warn_if_plaintext(host, tls, mailbox)
        self.site = site
        self.mailbox = mailbox
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self._tls = tls
        self._ssl_context = None if tls == "none" else make_ssl_context(ca_file)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._on_gap = on_gap
        self._on_state = on_state
        self._clock = clock
        self.targets = [
            FolderTarget("inbox", inbox),
            FolderTarget("sent", sent, None if sent is not None else "\\Sent"),
            *(FolderTarget("extra", name) for name in extra_folders),
        ]
        self.reader = FolderReader(
            site=site,
            mailbox=mailbox,
            store=store,
            on_messages=on_messages,
            want_body=want_body,
            chunk_size=chunk_size,
            body_cap=body_cap,
            clock=clock,
            on_rescan=self._rescanned,
        )
        self.watchers = [
            FolderWatcher(
                target,
                connect=self._open,
                reader=self.reader,
                on_up=self._watcher_up,
                on_down=self._watcher_down,
                idle=idle,
                idle_refresh=idle_refresh,
                poll_interval=poll_interval,
                backoff_base=backoff_base,
                backoff_cap=backoff_cap,
                stable_after=stable_after,
                clock=clock,
                rand=rand,
                sleep=sleep,
            )
            for target in self.targets
        ]
        self.reconnects = 0
        self.gaps_reported = 0
        self._up = False
        self._down_since: float | None = None
        self._down_reason = ""
        self._closed = asyncio.Event()
        self._running = False

    @classmethod
    def from_settings(
        cls, settings: MailboxSettings, *, store: ImapStateStore, on_messages: OnMessages, **options: object
    ) -> ImapSource:
        """Build from a ``[[mailbox]]`` entry. The mailbox label is ``MailboxSettings.label``: its
        ``name``, else the account's local part (a bounded label, never the account address)."""
        return cls(
            site=settings.site,
            mailbox=settings.label,
            host=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password(),
            store=store,
            on_messages=on_messages,
            tls=settings.tls,
            ca_file=settings.ca_file,
            inbox=settings.inbox,
            sent=settings.sent,
            extra_folders=settings.extra_folders,
            **options,  # type: ignore[arg-type]
        )

    # -- SourceProbe --------------------------------------------------------------------------------
    @property
    def up(self) -> bool:
        return self._up

    @property
    def last_event_at(self) -> float | None:
        return self.reader.stats.last_event_at

    @property
    def events_total(self) -> int:
        return self.reader.stats.events_total

    @property
    def parse_errors(self) -> int:
        return self.reader.stats.parse_errors

    @property
    def last_error(self) -> str | None:
        errors = [w.last_error for w in self.watchers if w.last_error and not w.up]
        return errors[0] if errors else None

    @property
    def folders(self) -> list[str | None]:
        """Resolved folder names (None until a special-use folder was found)."""
        return [w.folder for w in self.watchers]

    def __repr__(self) -> str:
        return (
            f"<ImapSource {self.site}/{self.mailbox} {self.host}:{self.port} {'up' if self._up else 'down'}>"
        )

    # -- running ------------------------------------------------------------------------------------
    async def sync_once(self) -> dict[str, int]:
        """One pass over every watched folder on one connection; returns messages delivered per folder.

        Errors (login refused, TLS, no Sent folder, the consumer raising...) propagate to the caller.
        """
        session = await self._open()
        counts: dict[str, int] = {}
        try:
            for target in self.targets:
                folder = await resolve_folder(session, target)
                examined = await session.examine(folder)
                counts[folder] = await self.reader.catch_up(session, examined)
        finally:
            await session.logout()
        return counts

    async def run(self) -> None:
        """Watch every folder until :meth:`close` (or cancellation); failures reconnect, never end it."""
        if self._running:
            raise RuntimeError("ImapSource.run() is already running")
        self._running = True
        self._closed.clear()
        try:
            async with asyncio.TaskGroup() as tg:
                for watcher in self.watchers:
                    tg.create_task(watcher.run())
                tg.create_task(self._watch_close())
        except* _Closing:
            pass
        finally:
            self._running = False
            if self._up:
                self._up = False
                self._call("on_state", self._on_state, False)

    async def close(self) -> None:
        """Make ``run()`` return (connections are dropped, not logged out; nothing is pending on them).

        Out of view at that moment, the gap so far is reported now, ending at the stop: otherwise the
        outage would never be recorded, since no reconnect is coming to close it. (Reported here, not
        when ``run()`` unwinds, so that it reaches the store before the daemon drains its writer.)"""
        if self._running and not self._closed.is_set() and self._down_since is not None:
            start, reason, self._down_since = self._down_since, self._down_reason, None
            self.gaps_reported += 1
            log.warning(
                "IMAP mailbox %r (site %s) still out of view when slamon stopped (%s)",
                self.mailbox,
                self.site,
                reason,
            )
            self._call(
                "on_gap", self._on_gap, start, max(start, self._clock()), f"{reason}; until slamon stopped"
            )
        self._closed.set()

    async def _watch_close(self) -> None:
        await self._closed.wait()
        raise _Closing

    async def _open(self) -> ImapSession:
        session = await ImapSession.open(
            self.host,
            self.port,
            tls=self._tls,
            ssl_context=self._ssl_context,
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
        )
        try:
            async with asyncio.timeout(self._connect_timeout):
                await session.login(self.username, self._password)
        except TimeoutError:
            session.abort()
            raise ImapTimeout(
                f"IMAP login at {session.peer} not answered within {self._connect_timeout:.1f}s"
            ) from None
        except BaseException:
            session.abort()
            raise
        return session

    # -- state of the whole source ------------------------------------------------------------------
    def _watcher_up(self, watcher: FolderWatcher, at: float) -> None:
        if self._up or not all(w.up for w in self.watchers):
            return
        self._up = True
        if self._down_since is not None:
            self.reconnects += 1
            self.gaps_reported += 1
            start, reason, self._down_since = self._down_since, self._down_reason, None
            log.warning(
                "IMAP mailbox %r (site %s) back after %.1fs out of view (%s)",
                self.mailbox,
                self.site,
                at - start,
                reason,
            )
            self._call("on_gap", self._on_gap, start, at, reason)
        else:
            log.info("IMAP mailbox %r (site %s) watching %s", self.mailbox, self.site, self.folders)
        self._call("on_state", self._on_state, True)

    def _watcher_down(self, watcher: FolderWatcher, at: float, reason: str) -> None:
        if not self._up or self._closed.is_set():
            return
        self._up = False
        self._down_since = at
        self._down_reason = f"{watcher.folder}: {reason}"
        log.warning("IMAP mailbox %r (site %s) is down: %s", self.mailbox, self.site, self._down_reason)
        self._call("on_state", self._on_state, False)

    def _rescanned(self, folder: str, old: int, new: int, seen_at: float, done_at: float) -> None:
        self.gaps_reported += 1
        reason = f"{folder}: UIDVALIDITY changed from {old} to {new}; folder re-read, known messages skipped"
        log.warning("IMAP mailbox %r (site %s): %s", self.mailbox, self.site, reason)
        self._call("on_gap", self._on_gap, seen_at, max(done_at, seen_at), reason)

    def _call(self, what: str, fn: Callable[..., object] | None, *args: object) -> None:
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            log.exception("IMAP mailbox %r %s handler failed", self.mailbox, what)
