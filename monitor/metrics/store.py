"""The store writer's backlog as metrics: how many finished calls and gaps wait for the database, and
whether the AMI sources are held back because of it (backpressure, see ``monitor.service.writer``).

No labels: one writer serves every site.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class WriterProbe(Protocol):
    @property
    def pending(self) -> int: ...

    @property
    def paused(self) -> bool: ...

    @property
    def pauses(self) -> int: ...


class StoreCollector(Collector):
    def __init__(self, writer: WriterProbe) -> None:
        self._writer = writer

    def collect(self) -> Iterable[Metric]:
        w = self._writer
        pending, paused, pauses = _families()
        pending.add_metric([], w.pending)
        paused.add_metric([], 1.0 if w.paused else 0.0)
        pauses.add_metric([], w.pauses)
        return [pending, paused, pauses]

    def describe(self) -> Iterable[Metric]:
        return _families()


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, CounterMetricFamily]:
    return (
        GaugeMetricFamily(
            "slamon_store_pending_writes", "Finished calls and monitoring gaps waiting to be stored"
        ),
        GaugeMetricFamily(
            "slamon_ami_reads_paused",
            "1 while the AMI sources stop reading because the store writer is behind (backpressure)",
        ),
        CounterMetricFamily(
            "slamon_ami_read_pauses", "Times the AMI sources stopped reading because the store was behind"
        ),
    )
