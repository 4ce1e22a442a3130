"""Surviving restarts: live calls and a heartbeat checkpointed every second, restored at start-up.

While running, :meth:`Checkpointer.run` writes what changed (calls whose timeline moved, evidence
messages not written yet, calls gone since) and a heartbeat per site, about once a second, in a worker
thread; a failed write is logged and retried on the next round, never fatal. At a clean stop,
:meth:`Checkpointer.final` writes the calls still in progress (they are not closed: they resume after
the restart) and marks the stop as clean.

At start-up, :meth:`Checkpointer.restore` puts each site's checkpointed calls back into its tracker,
seeds the tracker's memory of closed calls with the calls stored recently (a straggling event after
the restart must not make a second record), and tells the source that it has been blind since the
site was last known watched: its first resync then resumes the calls still live, closes those that
ended meanwhile (at the gap's start, flagged approximate), and the time is recorded as a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine

from monitor.domain.calls import Evidence
from monitor.domain.checkpoint import CheckpointError, timeline_from_dict, timeline_to_dict
from monitor.domain.timeline import CallTimeline
from monitor.service.calls import CallService
from monitor.service.writer import describe_db_error
from monitor.store.checkpoints import SiteCheckpointWrite, load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)

GAP_AFTER_CLEAN_STOP = "slamon down (stopped)"
GAP_AFTER_CRASH = "slamon down (killed or crashed)"

_Fingerprint = tuple[int, bool, float]


class WatchedSource(Protocol):
    @property
    def up(self) -> bool: ...

    def resume_after_restart(self, since: float, reason: str) -> None: ...


class LiveSite(Protocol):
    @property
    def site(self) -> str: ...

    @property
    def service(self) -> CallService: ...

    @property
    def source(self) -> WatchedSource: ...


@dataclass(slots=True)
class CheckpointStats:
    writes: int = 0
    failures: int = 0
    calls_written: int = 0
    restored: int = 0


def _fingerprint(call: CallTimeline) -> _Fingerprint:
    # Every event applied to a call counts in ``events``; a resync can flag it approximate.
    return (call.events, call.approximate, call.last_t)


class Checkpointer:
    def __init__(
        self,
        engine: Engine,
        sites: Sequence[LiveSite],
        clock: Callable[[], float],
        *,
        interval_s: float = 1.0,
    ) -> None:
        self._engine = engine
        self._sites = list(sites)
        self._clock = clock
        self.interval_s = interval_s
        self._written: dict[str, dict[str, _Fingerprint | None]] = {s.site: {} for s in self._sites}
        self._evidence_written: dict[str, dict[str, int]] = {s.site: {} for s in self._sites}
        self._monitored_until: dict[str, float | None] = {s.site: None for s in self._sites}
        self._gap_from: dict[str, float | None] = {s.site: None for s in self._sites}
        self._lock = asyncio.Lock()
        self._failing = 0  # consecutive failed writes
        self.stats = CheckpointStats()

    async def restore(self) -> None:
        for s in self._sites:
            cp = await asyncio.to_thread(load_checkpoint, self._engine, s.site)
            if cp is None:
                continue  # this site's PBX was never watched from this database: nothing to resume
            calls: list[tuple[CallTimeline, list[Evidence]]] = []
            for call_id, state, evidence in cp.calls:
                # Whatever happens to it, the row is ours to replace or remove.
                self._written[s.site][call_id] = None
                self._evidence_written[s.site][call_id] = len(evidence)
                try:
                    calls.append((timeline_from_dict(state), evidence))
                except CheckpointError as exc:
                    log.error("site %s: checkpointed call %s not restored: %s", s.site, call_id, exc)
            s.service.restore(calls, cp.stored_ids, cp.monitored_until)
            self._monitored_until[s.site] = self._gap_from[s.site] = cp.monitored_until
            resumed = sum(1 for call, _ in calls if call.call_id in s.service.tracker.live_calls)
            self.stats.restored += resumed
            reason = GAP_AFTER_CLEAN_STOP if cp.clean_stop else GAP_AFTER_CRASH
            s.source.resume_after_restart(cp.monitored_until, reason)
            log.info(
                "site %s: %d live call(s) resumed from the checkpoint (%s, watched until %.3f)",
                s.site,
                resumed,
                "clean stop" if cp.clean_stop else "no clean stop",
                cp.monitored_until,
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Checkpoint about every ``interval_s`` until ``stop`` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
            if stop.is_set():
                return
            await self._write(clean_stop=False)

    def stopping(self) -> None:
        """Call when a stop is requested, before the sources close: sites watched up to now."""
        self._note_watched(self._clock())

    async def final(self, timeout_s: float = 15.0) -> bool:
        """The last checkpoint (after the sources closed and the writer flushed), retried until
        ``timeout_s``; the stop counts as clean only if it was written."""
        try:
            async with asyncio.timeout(timeout_s):
                while not await self._write(clean_stop=True):
                    await asyncio.sleep(0.5)
        except TimeoutError:
            log.error("final checkpoint not written in %.0fs: the restart will see no clean stop", timeout_s)
            return False
        return True

    def _note_watched(self, now: float) -> None:
        for s in self._sites:
            if s.source.up:
                self._monitored_until[s.site] = now

    async def _write(self, *, clean_stop: bool) -> bool:
        async with self._lock:
            now = self._clock()
            if not clean_stop:
                self._note_watched(now)
            writes, prints = self._collect(now, clean_stop)
            try:
                saved = await asyncio.to_thread(save_checkpoint, self._engine, writes)
            except Exception as exc:  # the database may be down: the next round writes it all again
                self.stats.failures += 1
                self._failing += 1
                if self._failing == 1 or self._failing % 60 == 0:  # once a minute while it lasts
                    log.error(
                        "live call checkpoint failed %d time(s) in a row, retrying: %s",
                        self._failing,
                        describe_db_error(exc),
                    )
                return False
            if self._failing:
                log.info("live call checkpoint written again after %d failure(s)", self._failing)
                self._failing = 0
            for w in writes:
                written, ev_written = self._written[w.site], self._evidence_written[w.site]
                for call_id in w.calls:
                    written[call_id] = prints[w.site][call_id]
                for call_id, seq, _ in w.evidence:
                    ev_written[call_id] = max(ev_written.get(call_id, 0), seq + 1)
                for call_id in saved[w.site].removed:
                    written.pop(call_id, None)
                    ev_written.pop(call_id, None)
                if saved[w.site].gap_recorded:
                    self._gap_from[w.site] = None
                self.stats.calls_written += len(w.calls)
            self.stats.writes += 1
            return True

    def _collect(
        self, now: float, clean_stop: bool
    ) -> tuple[list[SiteCheckpointWrite], dict[str, dict[str, _Fingerprint]]]:
        """What changed since the last write, copied on the event loop (the tracker's own thread)."""
        writes, prints = [], {}
        for s in self._sites:
            live = s.service.tracker.live_calls
            written, ev_written = self._written[s.site], self._evidence_written[s.site]
            w = SiteCheckpointWrite(s.site, now, self._monitored_until[s.site], clean_stop)
            w.gap_from = self._gap_from[s.site]
            site_prints: dict[str, _Fingerprint] = {}
            for call_id, call in live.items():
                fp = _fingerprint(call)
                if written.get(call_id) != fp:
                    w.calls[call_id] = timeline_to_dict(call)
                    site_prints[call_id] = fp
                bucket = s.service.evidence_of(call_id)
                first = ev_written.get(call_id, 0)
                w.evidence.extend((call_id, seq, bucket[seq]) for seq in range(first, len(bucket)))
            w.gone = {call_id for call_id in written if call_id not in live}
            writes.append(w)
            prints[s.site] = site_prints
        return writes, prints
