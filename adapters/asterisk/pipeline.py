"""AMI message -> domain events -> call service: the glue on the hot path, shared by the live
source, ``slamon replay`` and the benchmark so all three measure calls identically."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.asterisk.framing import AmiMessage
from adapters.asterisk.translate import TRANSLATORS, event_time, queue_entries, snapshot
from monitor.domain.calls import Evidence
from monitor.domain.events import CallSnapshot
from monitor.domain.privacy import mask_message_text
from monitor.service.calls import CallService


@dataclass(slots=True)
class PipelineStats:
    messages: int = 0
    translated: int = 0
    translate_errors: int = 0
    unknown_events: int = 0


class AmiCallPipeline:
    def __init__(self, service: CallService) -> None:
        self.service = service
        self.stats = PipelineStats()
        self.last_event_at: float | None = None

    def on_message(self, message: AmiMessage, received_at: float) -> None:
        self.stats.messages += 1
        headers = message.headers
        name = headers.get("Event", "")
        fn = TRANSLATORS.get(name)
        if fn is None:
            if not name:
                self.stats.unknown_events += 1
            return
        t = event_time(headers, received_at)
        self.last_event_at = t
        try:
            events = fn(headers, t)
        except Exception:  # malformed fields must cost one message, never the connection
            self.stats.translate_errors += 1
            return
        if not events:
            return
        self.stats.translated += 1
        # Evidence is stored with numbers masked: the store holds numbers only as keyed hashes.
        self.service.ingest(events, Evidence(t, name, mask_message_text(message.raw)))

    def resync(
        self,
        items: list[AmiMessage],
        at: float,
        gap_start: float | None,
        queue_items: list[AmiMessage] | None = None,
    ) -> int:
        """Feed a ``CoreShowChannels`` listing (and optionally ``QueueStatus``) taken at ``at``;
        returns the number of live channels."""
        queued = queue_entries([q.headers for q in queue_items or []])
        snaps: list[CallSnapshot] = []
        for item in items:
            snap = snapshot(item.headers, at, queued)
            if snap is not None:
                snaps.append(snap)
        self.service.resync(snaps, at, gap_start)
        return len(snaps)
