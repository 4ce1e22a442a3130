"""Calendar buckets for reports: local days, ISO weeks and months in a site's time zone.

A bucket is the half-open UTC interval ``[start, end)`` between two local midnights, so a day of a DST
change is 23 or 25 hours long and still one day. Bucket bounds are computed here once per report and
handed to SQL, which only compares each row's instant with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Granularity = Literal["day", "week", "month"]
GRANULARITIES: tuple[Granularity, ...] = ("day", "week", "month")
_MAX_SPAN_DAYS = 200 * 366  # beyond this a report period is certainly a mistake


class PeriodError(ValueError):
    """A period that cannot be cut into buckets (reversed, or too many buckets)."""


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str  # "2026-11-03", "2026-W45", "2026-11"
    start: float  # epoch seconds, inclusive
    end: float  # epoch seconds, exclusive


def _midnight(day: date, zone: ZoneInfo) -> float:
    # fold=0: if local midnight repeats or is skipped (rare zones change at 00:00), take the first.
    return datetime.combine(day, time(0), zone).timestamp()


def _floor(day: date, granularity: Granularity) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def _next(day: date, granularity: Granularity) -> date:
    if granularity == "day":
        return day + timedelta(days=1)
    if granularity == "week":
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _key(day: date, granularity: Granularity) -> str:
    if granularity == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if granularity == "month":
        return f"{day.year:04d}-{day.month:02d}"
    return day.isoformat()


def buckets(
    start: float, end: float, granularity: Granularity, zone: ZoneInfo, max_buckets: int = 1000
) -> list[Bucket]:
    """The buckets covering ``[start, end)``: the first and last are whole local periods, so they may
    reach outside the period (callers clip counts with the period itself, not with the buckets)."""
    if end <= start:
        raise PeriodError("the period is empty: 'to' must be after 'from'")
    if (end - start) / 86400 > _MAX_SPAN_DAYS:
        raise PeriodError("the period is longer than 200 years")
    step_days = {"day": 1, "week": 7, "month": 28}[granularity]
    if (end - start) / 86400 / step_days > max_buckets + 2:
        raise PeriodError(f"more than {max_buckets} {granularity} buckets: choose a shorter period")
    first = _floor(datetime.fromtimestamp(start, zone).date(), granularity)
    out: list[Bucket] = []
    day = first
    lower = _midnight(day, zone)
    while lower < end:
        following = _next(day, granularity)
        upper = _midnight(following, zone)
        out.append(Bucket(_key(day, granularity), lower, upper))
        day, lower = following, upper
    if len(out) > max_buckets:
        raise PeriodError(f"more than {max_buckets} {granularity} buckets: choose a shorter period")
    return out
