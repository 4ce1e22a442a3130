"""AMI message -> domain events -> call service: the glue on the hot path, shared by the live
source, ``slamon replay`` and the benchmark so all three measure calls identically."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from adapters.asterisk.framing import AmiMessage
from adapters.asterisk.translate import TRANSLATORS, event_time, finite_float, queue_entries, snapshot
from adapters.rejects import Rejections
from monitor.domain import events as ev
from monitor.domain.calls import Evidence
from monitor.domain.events import CallSnapshot
from monitor.domain.privacy import mask_message_text
from monitor.service.calls import CallService

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PipelineStats:
    """Every message lands in exactly one of: ``translated``, ``no_figure`` (a known event that
    changes nothing, e.g. ``DialState`` other than RINGING, or an action's response),
    ``unknown_events`` (events no figure depends on: ``Cdr``, ``FullyBooted``...) or ``rejected``
    (see ``AmiCallPipeline.rejects``)."""

    messages: int = 0
    translated: int = 0
    no_figure: int = 0
    unknown_events: int = 0
    rejected: int = 0
    translate_errors: int = 0  # the part of ``rejected`` where a translator raised
    bad_timestamps: int = 0  # degraded, not rejected: the receive time was used instead


def _missing_id(events: tuple[ev.CallEvent, ...]) -> str | None:
    """The name of a required identifier an event lacks: without it the event would be filed under
    call ``""`` or channel ``""`` and mix unrelated calls."""
    for event in events:
        if not event.call_id:
            return "Linkedid/Uniqueid"
        if not event.channel_id and not isinstance(event, ev.Transferred):
            return "Uniqueid"
        if isinstance(event, ev.DialStarted | ev.DialRinging | ev.DialEnded) and not event.dest_channel_id:
            return "DestUniqueid"
        if isinstance(event, ev.AgentConnected) and not event.agent_channel_id:
            return "DestUniqueid"
    return None


class AmiCallPipeline:
    def __init__(self, service: CallService) -> None:
        self.service = service
        self.stats = PipelineStats()
        self.last_event_at: float | None = None
        #: Rejected and degraded messages by reason (logged rate-limited, header names only).
        self.rejects = Rejections(log, "AMI event rejected")
        self._unknown = Rejections(log, "AMI events ignored (no figure depends on them)", level=logging.DEBUG)

    def _reject(self, reason: str, detail: str) -> None:
        self.stats.rejected += 1
        self.rejects.add(reason, detail)

    def on_message(self, message: AmiMessage, received_at: float) -> None:
        stats = self.stats
        stats.messages += 1
        headers = message.headers
        name = headers.get("Event", "")
        fn = TRANSLATORS.get(name)
        if fn is None:
            if "Response" in headers:
                stats.no_figure += 1  # an action's reply (a capture starts with the login's)
            elif not name:
                self._reject("no-event-name", f"{len(headers)} headers, none is Event or Response")
            else:
                stats.unknown_events += 1
                # Not even the name is logged: in a corrupted stream it can be a caller's name or number.
                self._unknown.add("unknown-event")
            return
        stamp = headers.get("Timestamp")
        if stamp is not None and finite_float(stamp) is None:
            stats.bad_timestamps += 1
            self.rejects.add("bad-timestamp", f"{name}: Timestamp is not a finite number; receive time used")
        t = event_time(headers, received_at)
        self.last_event_at = t
        try:
            events = fn(headers, t)
        except Exception as exc:  # malformed fields must cost one message, never the connection
            stats.translate_errors += 1
            self._reject("translate-error", f"{name}: {type(exc).__name__}")
            return
        if not events:
            stats.no_figure += 1
            return
        missing = _missing_id(events)
        if missing is not None:
            self._reject("missing-id", f"{name} without {missing}")
            return
        stats.translated += 1
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
