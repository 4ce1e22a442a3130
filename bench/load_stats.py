"""Figures of ``bench/load.py`` kept in constant memory: a lag histogram, RSS, a trend slope."""

from __future__ import annotations

import math
from pathlib import Path


class LagHistogram:
    """Log-spaced bins from 10 us to ~1000 s, 5 % wide: constant memory whatever the event count."""

    LOW, RATIO, BINS = 1e-5, 1.05, 400

    def __init__(self) -> None:
        self.counts = [0] * (self.BINS + 1)
        self.total = 0
        self.max = 0.0
        self._log_ratio = math.log(self.RATIO)

    def add(self, seconds: float) -> None:
        self.total += 1
        if seconds > self.max:
            self.max = seconds
        i = 0 if seconds <= self.LOW else int(math.log(seconds / self.LOW) / self._log_ratio) + 1
        self.counts[min(i, self.BINS)] += 1

    def quantile(self, q: float) -> float:
        """Upper edge of the bin holding the q-quantile (pessimistic by at most one bin, 5 %)."""
        rank, seen = q * self.total, 0
        for i, n in enumerate(self.counts):
            seen += n
            if n and seen >= rank:
                return min(self.LOW * self.RATIO**i, self.max)
        return self.max


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else float("nan")
