"""Counters and histograms updated as calls and inquiries are evaluated, on a dedicated registry.

Histogram bounds always include every configured standard's threshold (3 rings x each site's cycle,
``max_hold_s``, the email allowances), so ``le="18.0"`` counts exactly the calls answered within
three US rings. Label children are created at 0 as soon as their site, queue or mailbox is known:
``increase()`` then counts the very first call instead of missing it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.process_collector import ProcessCollector

from monitor.domain.calls import CompletedCall
from monitor.metrics.live import LiveCollector
from monitor.metrics.probes import (
    DIRECT_QUEUE,
    INQUIRY_STANDARD,
    OUTCOMES,
    RESULTS,
    STANDARDS,
    InquiryProbe,
    SiteProbe,
    SiteThresholds,
    SourceProbe,
)

ANSWER_BUCKETS = (3.0, 6.0, 9.0, 12.0, 15.0, 18.0, 20.0, 24.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0)
HOLD_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 300.0, 600.0)
# Business seconds: 5 min .. 1 h .. 2 h, one and two 10.5 h business days, a week of them.
REPLY_BUCKETS = tuple(
    float(s) for s in (300, 900, 1800, 2700, 3600, 5400, 7200, 14400, 28800, 37800, 75600, 151200)
)


def buckets_with(base: Sequence[float], thresholds: Iterable[float]) -> tuple[float, ...]:
    """Bucket bounds that include every standard's threshold, so "% within threshold" is exact."""
    return tuple(sorted({float(b) for b in base} | {float(t) for t in thresholds if t > 0}))


class SlamonMetrics:
    """Every slamon metric family (CONTRACTS section 6) plus ``slamon_sla_threshold_seconds``,
    ``slamon_longest_ringing_call_rings`` and the process figures (``slamon_process_*``)."""

    def __init__(
        self,
        sites: Sequence[SiteThresholds] = (),
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
        process: bool = True,
    ) -> None:
        # ``*_created`` samples would double the series count for a figure nobody queries; the switch
        # is process-wide, and this registry is the only one the daemon serves.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.sites = list(sites) or [SiteThresholds("default")]
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        answer = [s.answer_s for s in self.sites]
        reply = [t for s in self.sites for t in (s.first_reply_s, s.acknowledge_s)]
        sq = ["site", "queue"]
        self.calls = Counter(
            "slamon_calls", "Customer calls completed, by outcome", [*sq, "outcome"], registry=r
        )
        self.evaluations = Counter(
            "slamon_sla_evaluations",
            "Calls and inquiries evaluated against a standard (n/a results are not counted)",
            ["site", "standard", "result"],
            registry=r,
        )
        self.time_to_answer = Histogram(
            "slamon_call_time_to_answer_seconds",
            "Arrival to the first person answering (answered calls in business hours)",
            sq,
            buckets=buckets_with(ANSWER_BUCKETS, answer),
            registry=r,
        )
        self.hold = Histogram(
            "slamon_call_hold_seconds",
            "Length of each advisor hold",
            sq,
            buckets=buckets_with(HOLD_BUCKETS, [s.hold_s for s in self.sites]),
            registry=r,
        )
        self.queue_wait = Histogram(
            "slamon_queue_wait_seconds",
            "Time callers waited in a queue",
            sq,
            buckets=buckets_with(ANSWER_BUCKETS, answer),
            registry=r,
        )
        self.first_reply = Histogram(
            "slamon_inquiry_first_reply_business_seconds",
            "Business seconds from an inquiry's arrival to its first human reply",
            ["site", "mailbox", "kind"],
            buckets=buckets_with(REPLY_BUCKETS, reply),
            registry=r,
        )
        self.thresholds = Gauge(
            "slamon_sla_threshold_seconds",
            "Each site's allowance per standard (email ones in business seconds), for alert rules",
            ["site", "standard"],
            registry=r,
        )
        self.live = LiveCollector(clock, on_queue_seen=self.prepare_queue)
        r.register(self.live)
        if process:
            ProcessCollector(namespace="slamon", registry=r)
        for site in self.sites:
            self.prepare_site(site)

    # -- wiring -------------------------------------------------------------------------------------
    def prepare_site(self, site: SiteThresholds) -> None:
        for standard, seconds in site.by_standard().items():
            self.thresholds.labels(site.site, standard).set(seconds)
        for standard in STANDARDS:
            for result in RESULTS:
                self.evaluations.labels(site.site, standard, result)
        self.prepare_queue(site.site, DIRECT_QUEUE)

    def prepare_queue(self, site: str, queue: str) -> None:
        for outcome in OUTCOMES:
            self.calls.labels(site, queue, outcome)
        self.time_to_answer.labels(site, queue)
        self.hold.labels(site, queue)
        if queue != DIRECT_QUEUE:
            self.queue_wait.labels(site, queue)

    def add_site(self, probe: SiteProbe) -> None:
        self.live.sites.append(probe)

    def add_source(self, probe: SourceProbe) -> None:
        self.live.sources.append(probe)

    def add_mailbox(self, probe: InquiryProbe) -> None:
        self.live.inquiries.append(probe)
        self.first_reply.labels(probe.site, probe.mailbox, probe.kind)

    # -- sinks --------------------------------------------------------------------------------------
    def observe_call(self, completed: CompletedCall) -> None:
        record = completed.record
        if record.direction != "inbound":
            return  # internal and outbound calls are stored, but they are not customer-care figures
        queue = record.queue or DIRECT_QUEUE
        self.prepare_queue(record.site, queue)
        self.calls.labels(record.site, queue, record.outcome).inc()
        for standard, result in record.sla.items():
            self.observe_evaluation(record.site, standard, result)
        if record.time_to_answer_s is not None and record.sla.get("answer_rings") != "n/a":
            self.time_to_answer.labels(record.site, queue).observe(record.time_to_answer_s)
        for hold in record.holds:
            self.hold.labels(record.site, queue).observe(hold.s)
        if record.queue_wait_s is not None and record.queue:
            self.queue_wait.labels(record.site, record.queue).observe(record.queue_wait_s)

    def observe_evaluation(self, site: str, standard: str, result: str) -> None:
        if result in RESULTS:
            self.evaluations.labels(site, standard, result).inc()

    def observe_inquiry(
        self, site: str, mailbox: str, kind: str, business_seconds: float | None, result: str
    ) -> None:
        """An inquiry's final evaluation: its first human reply (``business_seconds``, None when it
        was breached without a reply) and ``met``/``breached`` under its kind's standard."""
        if business_seconds is not None:
            self.first_reply.labels(site, mailbox, kind).observe(business_seconds)
        self.observe_evaluation(site, INQUIRY_STANDARD.get(kind, "first_reply"), result)
