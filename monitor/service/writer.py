"""Persisting finished calls and monitoring gaps in batches, off the event loop.

The call tracker hands every finished call to :meth:`BatchWriter.submit`, which only appends to a
buffer, so ingesting AMI events never waits on the database. :meth:`BatchWriter.run` writes the buffer
in batches (up to ``max_batch`` items, at least every ``interval_s``), one transaction per batch, in a
worker thread. A failed batch stays at the head of the buffer and is retried with exponential backoff:
because every insert is idempotent, writing a batch twice (a retry after a commit whose
acknowledgement was lost, a cancelled flush) stores it once.

Nothing is dropped when the database is slow or down: once the buffer reaches ``high_water`` items the
writer clears :attr:`BatchWriter.room`, and the AMI sources stop reading their sockets until it drains
to ``low_water`` (TCP flow control then holds the PBX back), so memory stays bounded. A PBX that gives
up on a client that does not read drops the session; the reconnect records that as a monitoring gap.

``write_batch`` is the same write, synchronous, for offline replay and benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import islice

from sqlalchemy import Engine, text
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from monitor.domain.calls import CompletedCall
from monitor.domain.events import MonitoringGap
from monitor.store.engine import safe_url
from monitor.store.repository import SqlCallRepository, SqlGapRepository, ThresholdsFor

log = logging.getLogger(__name__)

Item = CompletedCall | MonitoringGap


@dataclass(frozen=True, slots=True)
class BatchResult:
    calls_written: int = 0
    duplicates: int = 0  # calls already stored (or twice in the batch): idempotent, not errors
    gaps_written: int = 0
    gap_duplicates: int = 0


WriteFn = Callable[[Sequence[Item]], BatchResult]


def write_batch(
    engine: Engine, items: Sequence[Item], thresholds_for: ThresholdsFor | None = None
) -> BatchResult:
    """Write ``items`` in one transaction: all of them or (on error) none."""
    calls = [i for i in items if isinstance(i, CompletedCall)]
    gaps = [i for i in items if isinstance(i, MonitoringGap)]
    with Session(engine) as session, session.begin():
        new_calls = SqlCallRepository(session).add_many(calls, thresholds_for)
        new_gaps = SqlGapRepository(session).add_many(gaps)
    return BatchResult(new_calls, len(calls) - new_calls, new_gaps, len(gaps) - new_gaps)


@dataclass(slots=True)
class WriterStats:
    written: int = 0  # calls newly stored
    duplicates: int = 0
    gaps_written: int = 0
    batches: int = 0
    errors: int = 0  # failed batch attempts (each retried)
    consecutive_errors: int = 0  # > 0 while the database is failing: a readiness signal
    pauses: int = 0  # times the buffer reached the high-water mark and the sources were held back
    paused_s: float = 0.0  # total time the sources were held back
    max_pending: int = 0  # the most items buffered at once
    rejected: int = 0  # items the database refuses for good (not a connectivity problem)


class BatchWriter:
    """Buffers finished calls and gaps and writes them in batches.

    ``submit``/``submit_gap`` must be called from the event loop's thread (they may wake the flusher).
    Run :meth:`run` as a task for the writer's lifetime and call :meth:`close` at shutdown.
    """

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        write: WriteFn | None = None,
        thresholds_for: ThresholdsFor | None = None,
        max_batch: int = 500,
        interval_s: float = 0.2,
        high_water: int = 5_000,
        low_water: int | None = None,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        poison_attempts: int = 3,
        probe_interval_s: float = 5.0,
    ) -> None:
        if write is None:
            if engine is None:
                raise ValueError("BatchWriter needs an engine or a write function")
            write = partial(write_batch, engine, thresholds_for=thresholds_for)
        self._write = write
        # While idle, the database is still checked now and then, so readiness reports an outage
        # before the next call needs it.
        self._probe_engine = engine
        self._probe_interval_s = probe_interval_s
        self._last_contact = time.monotonic()
        self._probing: asyncio.Future[None] | None = None
        self._where = safe_url(engine) if engine is not None else "the database"
        self._max_batch = max_batch
        self._batch = max_batch  # shrinks to isolate an item the database refuses
        self._interval_s = interval_s
        if high_water < 1:
            raise ValueError("high_water must be at least 1")
        self._high_water = high_water
        self._low_water = high_water // 2 if low_water is None else min(low_water, high_water - 1)
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._poison_attempts = poison_attempts
        self._backoff_s = retry_initial_s
        self._refusals = 0  # consecutive non-transient failures of a single-item batch
        self._buffer: deque[Item] = deque()
        self._wake = asyncio.Event()
        self._close_requested = asyncio.Event()  # separate from _wake, which a busy buffer keeps setting
        self._lock = asyncio.Lock()
        self._closing = False
        # Set while the buffer has room: the AMI read loops await it between reads.
        self.room = asyncio.Event()
        self.room.set()
        self._paused_at = 0.0
        self.rejected: deque[Item] = deque(maxlen=1000)  # kept for inspection, never silently lost
        self.stats = WriterStats()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    @property
    def paused(self) -> bool:
        """True while the sources are held back (the buffer reached the high-water mark)."""
        return not self.room.is_set()

    @property
    def pauses(self) -> int:
        return self.stats.pauses

    def submit(self, completed: CompletedCall) -> None:
        self._put(completed)

    def submit_gap(self, gap: MonitoringGap) -> None:
        self._put(gap)

    async def run(self) -> None:
        """Write batches until :meth:`close` is called."""
        while not self._closing:
            await _wait(self._wake, self._interval_s)
            self._wake.clear()
            await self._drain(yield_to_close=True)
            idle_s = time.monotonic() - self._last_contact
            if not self._buffer and self._probe_engine is not None and idle_s >= self._probe_interval_s:
                await self._probe(self._probe_engine)

    async def _probe(self, engine: Engine) -> None:
        self._last_contact = time.monotonic()
        try:
            # A check stuck on an unresponsive host is not started again (each would hold a thread).
            if self._probing is None or self._probing.done():
                self._probing = asyncio.ensure_future(asyncio.to_thread(_select_one, engine))
                self._probing.add_done_callback(_retrieve)
            async with asyncio.timeout(self._probe_interval_s):
                await asyncio.shield(self._probing)
        except Exception as exc:
            self.stats.errors += 1
            self.stats.consecutive_errors += 1
            if self.stats.consecutive_errors == 1:
                log.error("database %s unreachable (idle check): %s", self._where, describe_db_error(exc))
            return
        if self.stats.consecutive_errors:
            log.info("database %s reachable again", self._where)
            self.stats.consecutive_errors = 0

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Write everything submitted so far (retrying failures); False if ``timeout_s`` ran out."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._drain(yield_to_close=False)
        except TimeoutError:
            log.error("store flush timed out after %.1fs with %d items pending", timeout_s, self.pending)
            return False
        return True

    async def close(self, timeout_s: float | None = 30.0) -> bool:
        """Stop accepting items, write everything left, stop :meth:`run`. A database that stays down
        past ``timeout_s`` loses what is still buffered; that is logged with the count."""
        self._closing = True
        self._wake.set()
        self._close_requested.set()
        self._resume()  # nothing new is accepted any more: a source must not stay stuck on it
        ok = await self.flush(timeout_s)
        if not ok:
            log.error("store writer closed with %d items not written to %s", self.pending, self._where)
        return ok

    def _put(self, item: Item) -> None:
        if self._closing:
            raise RuntimeError("BatchWriter is closed")
        buffer = self._buffer
        buffer.append(item)
        n = len(buffer)
        if n >= self._max_batch:
            self._wake.set()
        if n > self.stats.max_pending:
            self.stats.max_pending = n
        # Never refused: what a read already brought in is kept (at most one read's worth over the
        # mark per source), and the sources stop reading until the buffer drains.
        if n >= self._high_water and self.room.is_set():
            self.room.clear()
            self._paused_at = time.monotonic()
            self.stats.pauses += 1
            log.warning(
                "store writer has %d items waiting for %s (high-water mark): AMI sources stop reading "
                "until it drains to %d",
                n,
                self._where,
                self._low_water,
            )

    def _resume(self) -> None:
        if self.room.is_set():
            return
        paused_s = time.monotonic() - self._paused_at
        self.stats.paused_s += paused_s
        self.room.set()
        log.warning(
            "store writer drained to %d items after %.1fs: AMI sources read again", self.pending, paused_s
        )

    async def _drain(self, *, yield_to_close: bool) -> None:
        async with self._lock:
            while self._buffer:
                if yield_to_close and self._closing:
                    return  # close() drains under its own timeout
                batch = list(islice(self._buffer, self._batch))
                try:
                    result = await asyncio.to_thread(self._write, batch)
                except Exception as exc:
                    await self._failed(batch, exc, yield_to_close=yield_to_close)
                    continue
                self._succeeded(batch, result)

    def _succeeded(self, batch: Sequence[Item], result: BatchResult) -> None:
        self._last_contact = time.monotonic()
        for _ in batch:
            self._buffer.popleft()
        if len(self._buffer) <= self._low_water:
            self._resume()
        self.stats.batches += 1
        self.stats.written += result.calls_written
        self.stats.duplicates += result.duplicates
        self.stats.gaps_written += result.gaps_written
        if self.stats.consecutive_errors:
            log.info("store writes recovered after %d failures", self.stats.consecutive_errors)
        self.stats.consecutive_errors = 0
        self._backoff_s = self._retry_initial_s
        self._refusals = 0
        self._batch = min(self._max_batch, self._batch * 2)

    async def _failed(self, batch: Sequence[Item], exc: Exception, *, yield_to_close: bool) -> None:
        self.stats.errors += 1
        self.stats.consecutive_errors += 1
        transient = is_transient_db_error(exc)
        if not transient:
            # Something in the batch is refused (not the connection): halve the batch until the
            # offending item is alone, then set it aside so it does not block every later call.
            if len(batch) > 1:
                self._batch = max(1, len(batch) // 2)
            else:
                self._refusals += 1
                if self._refusals >= self._poison_attempts:
                    self._reject(batch[0], exc)
                    return
        delay = self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self._retry_max_s)
        log.error(
            "store write of %d items to %s failed (%s, attempt %d); retrying in %.1fs: %s",
            len(batch),
            self._where,
            "transient" if transient else "refused",
            self.stats.consecutive_errors,
            delay,
            describe_db_error(exc),
        )
        if yield_to_close:
            # Sleep, but wake at once when close() wants to take over.
            await _wait(self._close_requested, delay)
        else:
            await asyncio.sleep(delay)

    def _reject(self, item: Item, exc: Exception) -> None:
        self._buffer.popleft()
        if len(self._buffer) <= self._low_water:
            self._resume()
        self.rejected.append(item)
        self.stats.rejected += 1
        what = (
            f"call {item.record.site}/{item.record.call_id}"
            if isinstance(item, CompletedCall)
            else f"gap {item.site}/{item.source}@{item.start}"
        )
        log.error("store refused %s %d times; set aside: %s", what, self._refusals, describe_db_error(exc))
        self._refusals = 0


def _retrieve(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()  # seen by _probe (or moot): no "exception never retrieved" warning


def _select_one(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout_s)


def is_transient_db_error(exc: Exception) -> bool:
    """Connection trouble, locks and timeouts go away; constraint or data errors do not."""
    return isinstance(exc, OperationalError | InterfaceError | DisconnectionError | TimeoutError | OSError)


def describe_db_error(exc: Exception) -> str:
    # SQLAlchemy's message starts with the driver error and goes on with the (long) statement; the
    # engine hides parameters, and the URL (with its password) is never part of it.
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:300]}"
