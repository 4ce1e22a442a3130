"""Reading one folder from where slamon left off, in chunks, handing each chunk to the consumer.

For an examined folder: load the saved position; a different UIDVALIDITY means the old UIDs mean
nothing any more, so the whole folder is read again (the consumer de-duplicates by message key) and,
once that re-read is complete, ``on_rescan`` reports it (the source records it for the auditor: a
message that was in the folder before the reset and is gone after it was never seen by slamon).
``UID SEARCH UID <last+1>:*`` lists what is new, then per chunk of ``chunk_size`` UIDs one
``UID FETCH <set> (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])``.

Bodies are not fetched by default: most decisions (threading, direction, auto-reply) need only the
header. For the messages where the consumer's ``want_body(message)`` predicate (given the header-only
message) says yes, ``BODY.PEEK[TEXT]<0.body_cap>`` is fetched - a server-side partial fetch, so a
20 MB attachment never crosses the wire past the cap - before the chunk is delivered.

The position is saved only after ``on_messages`` returned: a crash or a consumer error repeats that
chunk but never skips it (at-least-once).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from adapters.imap.errors import ImapError
from adapters.imap.fetched import FetchedMessage
from adapters.imap.session import Examined, ImapSession
from adapters.imap.state import ImapStateStore
from adapters.imap.wire import Value, parse_internaldate, sequence_set

__all__ = [
    "HEADER_ITEMS",
    "FolderReader",
    "ImapConsumerError",
    "OnMessages",
    "OnRescan",
    "ReaderStats",
    "WantBody",
]

log = logging.getLogger(__name__)

HEADER_ITEMS = "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])"
# May be a coroutine function: awaited before the position moves (the consumer can work off the loop).
OnMessages = Callable[[list[FetchedMessage]], Awaitable[None] | None]
# folder, previous UIDVALIDITY, new UIDVALIDITY, when the change was seen, when the re-read ended
OnRescan = Callable[[str, int, int, float, float], None]
WantBody = Callable[[FetchedMessage], bool]


class ImapConsumerError(ImapError):
    """``on_messages`` raised; the chunk was not acknowledged and will be delivered again."""


@dataclass(slots=True)
class ReaderStats:
    events_total: int = 0  # messages delivered (a repeated chunk counts again)
    parse_errors: int = 0  # FETCH data we could not understand (message skipped, logged)
    rescans: int = 0  # UIDVALIDITY changes seen
    last_event_at: float | None = None


class FolderReader:
    def __init__(
        self,
        *,
        site: str,
        mailbox: str,
        store: ImapStateStore,
        on_messages: OnMessages,
        want_body: WantBody | None = None,
        chunk_size: int = 500,
        body_cap: int = 256 * 1024,
        body_chunk: int = 50,
        clock: Callable[[], float] = time.time,
        on_rescan: OnRescan | None = None,
    ) -> None:
        if chunk_size < 1 or body_cap < 1 or body_chunk < 1:
            raise ValueError("chunk_size, body_cap and body_chunk must be positive")
        self.site = site
        self.mailbox = mailbox
        self.store = store
        self._on_messages = on_messages
        self._want_body = want_body
        self.chunk_size = chunk_size
        self.body_cap = body_cap
        self.body_chunk = body_chunk  # at most body_chunk * body_cap bytes in one response
        self._clock = clock
        self._on_rescan = on_rescan
        # folder -> (old UIDVALIDITY, new, seen at): kept until a catch-up under the new value completes,
        # so a re-read cut short by a dropped connection is still reported once it is finished.
        self._rescans: dict[str, tuple[int, int, float]] = {}
        self.stats = ReaderStats()

    async def catch_up(self, session: ImapSession, examined: Examined, *, trust_uidnext: bool = True) -> int:
        """Deliver every message above the saved position; returns how many were delivered.

        ``trust_uidnext``: skip the SEARCH when EXAMINE's UIDNEXT shows nothing new (only valid right
        after EXAMINE; later the session's view has moved on).
        """
        folder, uidvalidity = examined.folder, examined.uidvalidity
        last = self._start_after(folder, uidvalidity)
        if trust_uidnext and examined.uidnext is not None and examined.uidnext <= last + 1:
            self._rescan_done(folder, uidvalidity)
            return 0
        uids = await session.uid_search_from(last + 1)
        delivered = 0
        for i in range(0, len(uids), self.chunk_size):
            chunk = uids[i : i + self.chunk_size]
            batch = await self._fetch(session, folder, uidvalidity, chunk)
            if batch:
                try:
                    result = self._on_messages(batch)
                    if inspect.isawaitable(result):
                        await result
                except Exception as exc:
                    raise ImapConsumerError(
                        f"on_messages rejected {len(batch)} message(s) from folder {folder!r} "
                        f"(UIDs {batch[0].uid}-{batch[-1].uid}): {type(exc).__name__}: {exc}"
                    ) from exc
                delivered += len(batch)
                self.stats.events_total += len(batch)
                self.stats.last_event_at = self._clock()
            # UIDs of the chunk that did not come back were expunged meanwhile: nothing to deliver.
            self.store.save(self.site, self.mailbox, folder, uidvalidity, chunk[-1])
        self._rescan_done(folder, uidvalidity)
        return delivered

    def _rescan_done(self, folder: str, uidvalidity: int) -> None:
        pending = self._rescans.get(folder)
        if pending is None or pending[1] != uidvalidity:
            return
        del self._rescans[folder]
        if self._on_rescan is not None:
            try:
                self._on_rescan(folder, pending[0], pending[1], pending[2], self._clock())
            except Exception:
                log.exception("IMAP folder %r: rescan handler failed", folder)

    def _start_after(self, folder: str, uidvalidity: int) -> int:
        pos = self.store.load(self.site, self.mailbox, folder)
        if pos is not None and pos.uidvalidity == uidvalidity:
            return pos.last_uid
        if pos is not None:
            self.stats.rescans += 1
            log.warning(
                "IMAP folder %r of mailbox %r (site %s): UIDVALIDITY changed from %d to %d, so the saved "
                "position means nothing; rescanning the whole folder (repeats are de-duplicated)",
                folder,
                self.mailbox,
                self.site,
                pos.uidvalidity,
                uidvalidity,
            )
            self._rescans[folder] = (pos.uidvalidity, uidvalidity, self._clock())
        # Record the new UIDVALIDITY with nothing read yet: safe (0 = start over) and stops the
        # warning above from repeating while the folder stays empty.
        self.store.save(self.site, self.mailbox, folder, uidvalidity, 0)
        return 0

    async def _fetch(
        self, session: ImapSession, folder: str, uidvalidity: int, chunk: list[int]
    ) -> list[FetchedMessage]:
        wanted = set(chunk)
        rows = _merge_by_uid(await session.uid_fetch(sequence_set(chunk), HEADER_ITEMS))
        batch: list[FetchedMessage] = []
        for uid in sorted(rows):
            row = rows[uid]
            # Unsolicited FETCH responses (flag changes by other clients) carry no header: skip them.
            if uid not in wanted or "BODY[HEADER]" not in row:
                continue
            try:
                batch.append(self._message(folder, uidvalidity, uid, row))
            except (ValueError, TypeError) as exc:
                self.stats.parse_errors += 1
                log.error("IMAP folder %r UID %d: unusable FETCH data, message skipped: %s", folder, uid, exc)
        if self._want_body is not None and batch:
            batch = await self._add_bodies(session, batch, self._want_body)
        return batch

    def _message(self, folder: str, uidvalidity: int, uid: int, row: dict[str, Value]) -> FetchedMessage:
        flags = row.get("FLAGS")
        internaldate = row.get("INTERNALDATE")
        if not isinstance(internaldate, str):
            raise ValueError("no INTERNALDATE")
        return FetchedMessage(
            site=self.site,
            mailbox=self.mailbox,
            folder=folder,
            uid=uid,
            uidvalidity=uidvalidity,
            internaldate=parse_internaldate(internaldate),
            flags=tuple(str(f) for f in flags) if isinstance(flags, list) else (),
            size=int(str(row.get("RFC822.SIZE") or 0)),
            header=_as_bytes(row["BODY[HEADER]"]),
            body=None,
        )

    async def _add_bodies(
        self, session: ImapSession, batch: list[FetchedMessage], want_body: WantBody
    ) -> list[FetchedMessage]:
        uids = [m.uid for m in batch if want_body(m)]
        bodies: dict[int, bytes] = {}
        items = f"(UID BODY.PEEK[TEXT]<0.{self.body_cap}>)"
        for i in range(0, len(uids), self.body_chunk):
            rows = _merge_by_uid(await session.uid_fetch(sequence_set(uids[i : i + self.body_chunk]), items))
            for uid, row in rows.items():
                if "BODY[TEXT]" in row:
                    bodies[uid] = _as_bytes(row["BODY[TEXT]"])[: self.body_cap]
        if not bodies:
            return batch
        return [dataclasses.replace(m, body=bodies[m.uid]) if m.uid in bodies else m for m in batch]


def _merge_by_uid(rows: list[dict[str, Value]]) -> dict[int, dict[str, Value]]:
    """A server may split one message's items over several FETCH responses; join them by UID."""
    merged: dict[int, dict[str, Value]] = {}
    for row in rows:
        uid = row.get("UID")
        if isinstance(uid, str) and uid.isdigit():
            merged.setdefault(int(uid), {}).update(row)
    return merged


def _as_bytes(value: Value) -> bytes:
    if isinstance(value, bytes):
        return value
    if value is None:
        return b""
    if isinstance(value, str):  # a short value may come as a quoted string instead of a literal
        return value.encode("utf-8", "surrogateescape")
    raise TypeError("expected a string or literal")
