"""Prometheus exposition (CONTRACTS section 6) on a dedicated registry.

Counters and histograms are updated when a call completes; live gauges and source health are built at
scrape time from the in-memory state (the client_python ``Collector`` pattern), so they are exact at
the moment Prometheus asks, with no update loop to fall behind. Labels come only from bounded sets:
site, queue, mailbox, kind, standard, outcome, result, source. Never a number, address or channel id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.domain.calls import CompletedCall
from monitor.domain.live import LiveCall

DIRECT_QUEUE = "direct"  # queue label of calls that reached an advisor without a queue
ANSWER_BUCKETS = (3.0, 6.0, 9.0, 12.0, 15.0, 18.0, 20.0, 24.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0)
HOLD_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 300.0, 600.0)
REPLY_BUCKETS = (
    300.0,
    900.0,
    1800.0,
    2700.0,
    3600.0,
    5400.0,
    7200.0,
    14400.0,
    28800.0,
    37800.0,
    75600.0,
    151200.0,
)


def buckets_with(base: Sequence[float], thresholds: Iterable[float]) -> tuple[float, ...]:
    """Bucket bounds that include every standard's threshold, so "% within threshold" is exact."""
    return tuple(sorted({float(b) for b in base} | {float(t) for t in thresholds if t > 0}))


class SourceProbe(Protocol):
    site: str
    source: str  # ami | imap

    @property
    def up(self) -> bool: ...

    @property
    def last_event_at(self) -> float | None: ...

    @property
    def events_total(self) -> int: ...

    @property
    def parse_errors(self) -> int: ...


class SiteProbe(Protocol):
    site: str

    def live(self, now: float) -> list[LiveCall]: ...

    def business_open(self, now: float) -> bool: ...


@dataclass
class MetricThresholds:
    answer_s: list[float]
    hold_s: list[float]
    reply_business_s: list[float]


class SlamonMetrics:
    def __init__(
        self,
        thresholds: MetricThresholds | None = None,
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        th = thresholds or MetricThresholds([18.0], [30.0], [3600.0, 75600.0])
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.calls = Counter(
            "slamon_calls", "Customer calls completed", ["site", "queue", "outcome"], registry=r
        )
        self.evaluations = Counter(
            "slamon_sla_evaluations",
            "SLA evaluations by standard and result",
            ["site", "standard", "result"],
            registry=r,
        )
        self.time_to_answer = Histogram(
            "slamon_call_time_to_answer_seconds",
            "Arrival to first person answering",
            ["site", "queue"],
            buckets=buckets_with(ANSWER_BUCKETS, th.answer_s),
            registry=r,
        )
        self.hold = Histogram(
            "slamon_call_hold_seconds",
            "Length of each advisor hold",
            ["site", "queue"],
            buckets=buckets_with(HOLD_BUCKETS, th.hold_s),
            registry=r,
        )
        self.queue_wait = Histogram(
            "slamon_queue_wait_seconds",
            "Time callers waited in a queue",
            ["site", "queue"],
            buckets=buckets_with(ANSWER_BUCKETS, th.answer_s),
            registry=r,
        )
        self.first_reply = Histogram(
            "slamon_inquiry_first_reply_business_seconds",
            "Business seconds to the first human reply",
            ["site", "mailbox", "kind"],
            buckets=buckets_with(REPLY_BUCKETS, th.reply_business_s),
            registry=r,
        )
        self.live = LiveCollector(clock)
        r.register(self.live)

    def observe_call(self, completed: CompletedCall) -> None:
        record = completed.record
        if record.direction != "inbound":
            return  # internal and outbound calls are stored, but they are not customer-care figures
        queue = record.queue or DIRECT_QUEUE
        self.calls.labels(record.site, queue, record.outcome).inc()
        for standard, result in record.sla.items():
            if result != "n/a":
                self.evaluations.labels(record.site, standard, result).inc()
        if record.time_to_answer_s is not None and record.sla.get("answer_rings") != "n/a":
            self.time_to_answer.labels(record.site, queue).observe(record.time_to_answer_s)
        for hold in record.holds:
            self.hold.labels(record.site, queue).observe(hold.s)
        if record.queue_wait_s is not None and record.queue:
            self.queue_wait.labels(record.site, record.queue).observe(record.queue_wait_s)

    def observe_evaluation(self, site: str, standard: str, result: str) -> None:
        if result in ("met", "breached"):
            self.evaluations.labels(site, standard, result).inc()


class LiveCollector(Collector):
    """Scrape-time gauges from the live state of every site and source."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.sites: list[SiteProbe] = []
        self.sources: list[SourceProbe] = []

    def collect(self) -> Iterable[Metric]:
        now = self.clock()
        ringing = GaugeMetricFamily(
            "slamon_calls_ringing",
            "Callers waiting for a person now (queue included)",
            labels=["site", "queue"],
        )
        longest_ring = GaugeMetricFamily(
            "slamon_longest_ringing_call_seconds",
            "Longest current unanswered wait since arrival",
            labels=["site", "queue"],
        )
        waiting = GaugeMetricFamily(
            "slamon_calls_waiting", "Callers in a queue now", labels=["site", "queue"]
        )
        longest_wait = GaugeMetricFamily(
            "slamon_longest_waiting_call_seconds",
            "Longest current queue caller's wait since arrival",
            labels=["site", "queue"],
        )
        on_hold = GaugeMetricFamily("slamon_calls_on_hold", "Callers on an advisor hold now", labels=["site"])
        longest_hold = GaugeMetricFamily(
            "slamon_longest_current_hold_seconds", "Longest current advisor hold", labels=["site"]
        )
        business_open = GaugeMetricFamily(
            "slamon_business_open", "1 while the site is open for business", labels=["site"]
        )
        for probe in self.sites:
            per_queue: dict[str, list[LiveCall]] = {}
            holds: list[float] = []
            for call in probe.live(now):
                per_queue.setdefault(call.queue or DIRECT_QUEUE, []).append(call)
                if call.state == "on_hold":
                    holds.append(call.hold_s)
            for queue, calls in sorted(per_queue.items()):
                unanswered = [c for c in calls if c.state in ("ringing", "waiting")]
                queued = [c for c in calls if c.state == "waiting"]
                ringing.add_metric([probe.site, queue], len(unanswered))
                longest_ring.add_metric(
                    [probe.site, queue], max((c.since_arrival_s for c in unanswered), default=0.0)
                )
                waiting.add_metric([probe.site, queue], len(queued))
                longest_wait.add_metric(
                    [probe.site, queue], max((c.since_arrival_s for c in queued), default=0.0)
                )
            if not per_queue:
                for family in (ringing, longest_ring, waiting, longest_wait):
                    family.add_metric([probe.site, DIRECT_QUEUE], 0.0)
            on_hold.add_metric([probe.site], len(holds))
            longest_hold.add_metric([probe.site], max(holds, default=0.0))
            business_open.add_metric([probe.site], 1.0 if probe.business_open(now) else 0.0)
        up = GaugeMetricFamily(
            "slamon_source_up", "1 while the source is connected", labels=["site", "source"]
        )
        last = GaugeMetricFamily(
            "slamon_source_last_event_timestamp_seconds",
            "Time of the last event from the source",
            labels=["site", "source"],
        )
        events = CounterMetricFamily("slamon_ami_events", "AMI events received", labels=["site"])
        errors = CounterMetricFamily(
            "slamon_ami_parse_errors", "AMI input rejected as malformed", labels=["site"]
        )
        for source in self.sources:
            up.add_metric([source.site, source.source], 1.0 if source.up else 0.0)
            if source.last_event_at is not None:
                last.add_metric([source.site, source.source], source.last_event_at)
            if source.source == "ami":
                events.add_metric([source.site], source.events_total)
                errors.add_metric([source.site], source.parse_errors)
        yield from (
            ringing,
            longest_ring,
            waiting,
            longest_wait,
            on_hold,
            longest_hold,
            business_open,
            up,
            last,
            events,
            errors,
        )

    def describe(self) -> Iterable[Metric]:
        return []
