"""Scrape-time gauges: calls in progress, open inquiries, opening hours and source health.

Built when Prometheus asks (the client_python ``Collector`` pattern, like its ``gc_collector``), so a
call that has rung for 19 s shows 19 s and its 4 rings at that scrape, with no update loop to fall
behind. A queue or inquiry kind seen once keeps reporting 0 afterwards: series do not vanish between
calls, and dashboards and ``for:`` clauses see an explicit "nothing waiting".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.domain.live import LiveCall
from monitor.metrics.probes import DIRECT_QUEUE, InquiryProbe, InquiryState, SiteProbe, SourceProbe

log = logging.getLogger(__name__)

QueueSeen = Callable[[str, str], None]
T = TypeVar("T")


@dataclass
class _Families:
    ringing: GaugeMetricFamily
    longest_ring: GaugeMetricFamily
    longest_ring_rings: GaugeMetricFamily
    waiting: GaugeMetricFamily
    longest_wait: GaugeMetricFamily
    on_hold: GaugeMetricFamily
    longest_hold: GaugeMetricFamily
    business_open: GaugeMetricFamily
    inquiries_open: GaugeMetricFamily
    oldest_inquiry: GaugeMetricFamily
    at_risk: GaugeMetricFamily
    source_up: GaugeMetricFamily
    last_event: GaugeMetricFamily
    ami_events: CounterMetricFamily
    ami_errors: CounterMetricFamily
    ami_unknown: CounterMetricFamily
    ami_rejected: CounterMetricFamily

    def all(self) -> list[Metric]:
        return list(vars(self).values())


def _families() -> _Families:
    sq, s, smk = ["site", "queue"], ["site"], ["site", "mailbox", "kind"]
    return _Families(
        ringing=GaugeMetricFamily(
            "slamon_calls_ringing", "Callers waiting for a person now (in a queue or ringing)", labels=sq
        ),
        longest_ring=GaugeMetricFamily(
            "slamon_longest_ringing_call_seconds",
            "Longest current wait for a person, since the caller arrived (0 when none)",
            labels=sq,
        ),
        longest_ring_rings=GaugeMetricFamily(
            "slamon_longest_ringing_call_rings",
            "Ring cycles of the longest current wait for a person (site's cadence; 0 when none)",
            labels=sq,
        ),
        waiting=GaugeMetricFamily("slamon_calls_waiting", "Callers in a queue now", labels=sq),
        longest_wait=GaugeMetricFamily(
            "slamon_longest_waiting_call_seconds",
            "Longest current queue caller's wait since arrival (0 when none)",
            labels=sq,
        ),
        on_hold=GaugeMetricFamily("slamon_calls_on_hold", "Callers on an advisor hold now", labels=s),
        longest_hold=GaugeMetricFamily(
            "slamon_longest_current_hold_seconds", "Longest current advisor hold (0 when none)", labels=s
        ),
        business_open=GaugeMetricFamily(
            "slamon_business_open", "1 while the site is open for business, else 0", labels=s
        ),
        inquiries_open=GaugeMetricFamily(
            "slamon_inquiries_open", "Inquiries waiting for a first human reply", labels=smk
        ),
        oldest_inquiry=GaugeMetricFamily(
            "slamon_oldest_open_inquiry_business_seconds",
            "Business seconds the oldest unanswered inquiry has waited (0 when none)",
            labels=smk,
        ),
        at_risk=GaugeMetricFamily(
            "slamon_inquiries_at_risk",
            "Unanswered inquiries with less than 25 % of their allowance left (or none left)",
            labels=smk,
        ),
        source_up=GaugeMetricFamily(
            "slamon_source_up", "1 while the source is connected and logged in", labels=["site", "source"]
        ),
        last_event=GaugeMetricFamily(
            "slamon_source_last_event_timestamp_seconds",
            "Time of the last event received from the source",
            labels=["site", "source"],
        ),
        ami_events=CounterMetricFamily("slamon_ami_events", "AMI events received", labels=s),
        ami_errors=CounterMetricFamily(
            "slamon_ami_parse_errors", "AMI input rejected as malformed", labels=s
        ),
        ami_unknown=CounterMetricFamily(
            "slamon_ami_unknown_events", "AMI events of a type no figure depends on (ignored)", labels=s
        ),
        ami_rejected=CounterMetricFamily(
            "slamon_ami_rejected_events",
            "Well-formed AMI messages rejected (no event name, a required id missing, fields unusable)",
            labels=s,
        ),
    )


@dataclass(eq=False)  # registered by identity
class LiveCollector(Collector):
    """Registered once on the slamon registry; the daemon appends its probes."""

    clock: Callable[[], float]
    on_queue_seen: QueueSeen | None = None
    sites: list[SiteProbe] = field(default_factory=list)
    sources: list[SourceProbe] = field(default_factory=list)
    inquiries: list[InquiryProbe] = field(default_factory=list)
    _queues: dict[str, set[str]] = field(default_factory=dict)
    _kinds: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    _failing: set[int] = field(default_factory=set)

    def collect(self) -> Iterable[Metric]:
        now = self.clock()
        f = _families()
        for site in self.sites:
            calls = self._guard(site, partial(site.live, now))
            if calls is not None:
                self._calls(f, site.site, calls)
            is_open = self._guard(site, partial(site.business_open, now))
            if is_open is not None:
                f.business_open.add_metric([site.site], 1.0 if is_open else 0.0)
        for box in self.inquiries:
            self._mailbox(f, box, now)
        for source in self.sources:
            f.source_up.add_metric([source.site, source.source], 1.0 if source.up else 0.0)
            if source.last_event_at is not None:
                f.last_event.add_metric([source.site, source.source], source.last_event_at)
            if source.source == "ami":
                f.ami_events.add_metric([source.site], source.events_total)
                f.ami_errors.add_metric([source.site], source.parse_errors)
                # Only the AMI source has these (not part of SourceProbe, which IMAP sources share).
                f.ami_unknown.add_metric([source.site], getattr(source, "unknown_events", 0))
                f.ami_rejected.add_metric([source.site], getattr(source, "rejected_events", 0))
        return f.all()

    def describe(self) -> Iterable[Metric]:
        return _families().all()

    def _calls(self, f: _Families, site: str, calls: Sequence[LiveCall]) -> None:
        per_queue: dict[str, list[LiveCall]] = {}
        for call in calls:
            per_queue.setdefault(call.queue or DIRECT_QUEUE, []).append(call)
        known = self._queues.setdefault(site, {DIRECT_QUEUE})
        for queue in per_queue.keys() - known:
            known.add(queue)
            if self.on_queue_seen is not None:
                self.on_queue_seen(site, queue)
        for queue in sorted(known):
            here = per_queue.get(queue, [])
            unanswered = [c for c in here if c.state in ("ringing", "waiting")]
            queued = [c for c in here if c.state == "waiting"]
            longest = max(unanswered, key=lambda c: c.since_arrival_s, default=None)
            labels = [site, queue]
            f.ringing.add_metric(labels, len(unanswered))
            f.longest_ring.add_metric(labels, longest.since_arrival_s if longest else 0.0)
            f.longest_ring_rings.add_metric(labels, longest.rings if longest else 0)
            f.waiting.add_metric(labels, len(queued))
            f.longest_wait.add_metric(labels, max((c.since_arrival_s for c in queued), default=0.0))
        holds = [c.hold_s for c in calls if c.state == "on_hold"]
        f.on_hold.add_metric([site], len(holds))
        f.longest_hold.add_metric([site], max(holds, default=0.0))

    def _mailbox(self, f: _Families, box: InquiryProbe, now: float) -> None:
        states = self._guard(box, partial(_listed, box, now))
        if states is None:
            return
        waiting = [s for s in states if s.first_human_reply_at is None]
        kinds = self._kinds.setdefault((box.site, box.mailbox), {box.kind})
        kinds.update(s.kind for s in waiting)
        for kind in sorted(kinds):
            mine = [s for s in waiting if s.kind == kind]
            labels = [box.site, box.mailbox, kind]
            f.inquiries_open.add_metric(labels, len(mine))
            f.oldest_inquiry.add_metric(labels, max((s.business_seconds_elapsed for s in mine), default=0.0))
            f.at_risk.add_metric(labels, sum(1 for s in mine if s.at_risk))

    def _guard(self, probe: object, read: Callable[[], T]) -> T | None:
        """A failing probe loses its own samples, not the whole scrape (logged once per episode)."""
        try:
            value = read()
        except Exception:
            if id(probe) not in self._failing:
                self._failing.add(id(probe))
                log.exception("metrics probe %r failed; its samples are left out", probe)
            return None
        self._failing.discard(id(probe))
        return value


def _listed(box: InquiryProbe, now: float) -> list[InquiryState]:
    return list(box.inquiries(now))
