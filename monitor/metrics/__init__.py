"""Prometheus exposition (CONTRACTS section 6) on a dedicated registry."""

from monitor.metrics.families import (
    DIRECT_QUEUE,
    LiveCollector,
    MetricThresholds,
    SiteProbe,
    SlamonMetrics,
    SourceProbe,
    buckets_with,
)

__all__ = [
    "DIRECT_QUEUE",
    "LiveCollector",
    "MetricThresholds",
    "SiteProbe",
    "SlamonMetrics",
    "SourceProbe",
    "buckets_with",
]
