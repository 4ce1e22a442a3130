"""Use case: domain events in, completed calls out to whatever sinks are attached (store, metrics,
console). Owns the evidence buffer: the source messages behind each live call's figures."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from monitor.domain.calls import CallRecord, CompletedCall, Evidence
from monitor.domain.events import CallEvent, CallSnapshot
from monitor.domain.timeline import CallTimeline
from monitor.domain.tracker import CallTracker

log = logging.getLogger(__name__)

CallSink = Callable[[CompletedCall], None]


@dataclass(slots=True)
class CallServiceStats:
    completed: int = 0
    evidence_dropped: int = 0
    sink_errors: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)


class CallService:
    def __init__(
        self,
        tracker: CallTracker,
        sinks: Iterable[CallSink] = (),
        *,
        keep_evidence: bool = True,
        max_evidence_per_call: int = 2000,
    ) -> None:
        self.tracker = tracker
        self.sinks = list(sinks)
        self.keep_evidence = keep_evidence
        self.max_evidence_per_call = max_evidence_per_call
        self._evidence: dict[str, list[Evidence]] = {}
        self.stats = CallServiceStats()

    def ingest(self, events: Iterable[CallEvent], evidence: Evidence | None = None) -> None:
        """Apply the domain events translated from one source message (``evidence``)."""
        tracker = self.tracker
        for event in events:
            closed = tracker.apply(event)
            if evidence is not None and self.keep_evidence:
                self._remember(event.call_id, evidence, closed)
            if closed:
                self._emit(closed)

    def _remember(self, call_id: str, evidence: Evidence, closed: list[CallRecord]) -> None:
        if call_id not in self.tracker.live_calls and not any(r.call_id == call_id for r in closed):
            return
        bucket = self._evidence.setdefault(call_id, [])
        if bucket and bucket[-1] is evidence:
            return  # one message that produced several events for the same call
        if len(bucket) < self.max_evidence_per_call:
            bucket.append(evidence)
        else:
            self.stats.evidence_dropped += 1

    def evidence_of(self, call_id: str) -> list[Evidence]:
        """The messages kept so far for a live call (append-only until the call closes)."""
        return self._evidence.get(call_id, [])

    def restore(
        self,
        calls: Iterable[tuple[CallTimeline, list[Evidence]]],
        stored_ids: Iterable[str],
        heard_until: float,
    ) -> None:
        """After a restart: resume checkpointed live calls with their evidence (see CallTracker.restore)."""
        restored = list(calls)
        self.tracker.restore((call for call, _ in restored), stored_ids, heard_until)
        for call, evidence in restored:
            if call.call_id in self.tracker.live_calls and evidence:
                self._evidence[call.call_id] = list(evidence)

    def resync(self, snapshots: list[CallSnapshot], at: float, gap_start: float | None) -> None:
        self._emit(self.tracker.resync(snapshots, at, gap_start))

    def pbx_restarted(self, gap_start: float, dropped: Iterable[str]) -> int:
        """The PBX rebooted in the gap from ``gap_start``: close the calls it dropped; returns how many."""
        closed = self.tracker.pbx_restarted(gap_start, dropped)
        self._emit(closed)
        return len(closed)

    def expire(self, now: float) -> None:
        self._emit(self.tracker.expire(now))

    def close_all(self, now: float, reason: str = "shutdown") -> None:
        self._emit(self.tracker.close_all(now, reason))

    def _emit(self, records: list[CallRecord]) -> None:
        for record in records:
            completed = CompletedCall(record, self._evidence.pop(record.call_id, []))
            self.stats.completed += 1
            self.stats.by_outcome[record.outcome] = self.stats.by_outcome.get(record.outcome, 0) + 1
            for sink in self.sinks:
                try:
                    sink(completed)
                except Exception:  # a failing sink (e.g. console) must not lose the call for others
                    self.stats.sink_errors += 1
                    log.exception("call sink %r failed for call %s", sink, record.call_id)
