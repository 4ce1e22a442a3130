"""Prometheus exposition (CONTRACTS section 6) on a dedicated registry.

``families`` holds the counters and histograms fed by evaluated calls and inquiries; ``live`` builds
the gauges at scrape time from the probes in ``probes``. Labels come only from bounded sets: site,
queue, mailbox, kind, standard, outcome, result, source. Never a number, address or channel id.
Reference of every metric and alert: docs/alerts.md.
"""

from monitor.metrics.families import SlamonMetrics, buckets_with
from monitor.metrics.live import LiveCollector
from monitor.metrics.probes import (
    DIRECT_QUEUE,
    IdleMailbox,
    InquiryProbe,
    InquiryState,
    SiteProbe,
    SiteThresholds,
    SourceProbe,
)

__all__ = [
    "DIRECT_QUEUE",
    "IdleMailbox",
    "InquiryProbe",
    "InquiryState",
    "LiveCollector",
    "SiteProbe",
    "SiteThresholds",
    "SlamonMetrics",
    "SourceProbe",
    "buckets_with",
]
