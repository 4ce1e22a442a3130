"""The site's business calendar: opening hours, public holidays and closures, in the site's zone.

Built once per site and shared by both channels: calls use ``is_open`` (after-hours calls are not
held to the answer standard); email uses ``business_seconds`` and ``deadline`` (CONTRACTS section 8).
Intervals are half-open ``[open, close)`` in local wall time; arithmetic is done on UTC instants so
a DST change neither adds nor removes business time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CalendarError(ValueError):
    pass


def _parse_hhmm(text: str) -> time:
    hh, _, mm = text.strip().partition(":")
    if not hh.isdigit() or not mm.isdigit():
        raise CalendarError(f"bad time {text!r}; expected HH:MM")
    h, m = int(hh), int(mm)
    if h == 24 and m == 0:
        return time.max
    if not (0 <= h < 24 and 0 <= m < 60):
        raise CalendarError(f"bad time {text!r}")
    return time(h, m)


def parse_ranges(ranges: Sequence[str]) -> tuple[tuple[time, time], ...]:
    out: list[tuple[time, time]] = []
    for item in ranges:
        start, sep, end = item.partition("-")
        if not sep:
            raise CalendarError(f"bad opening range {item!r}; expected HH:MM-HH:MM")
        a, b = _parse_hhmm(start), _parse_hhmm(end)
        if b <= a:
            raise CalendarError(f"opening range {item!r} closes before it opens")
        out.append((a, b))
    out.sort()
    for (_, prev_end), (nxt_start, _) in pairwise(out):
        if nxt_start < prev_end:
            raise CalendarError(f"overlapping opening ranges in {list(ranges)!r}")
    return tuple(out)


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: str
    hours: Mapping[str, tuple[tuple[time, time], ...]]
    country: str | None = None
    subdivision: str | None = None
    closures: frozenset[date] = field(default_factory=frozenset)
    # Open intervals per local date as epoch seconds: every inquiry evaluation walks the days between
    # arrival and now, so a year-old open inquiry must not rebuild 400 days of datetimes each time.
    _days: dict[date, tuple[tuple[float, float], ...]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )
    _days_cum: dict[str, object] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def build(
        cls,
        *,
        timezone: str,
        hours: Mapping[str, Sequence[str]],
        country: str | None = None,
        subdivision: str | None = None,
        closures: Iterable[str | date] = (),
    ) -> BusinessCalendar:
        unknown = set(hours) - set(WEEKDAYS)
        if unknown:
            raise CalendarError(f"unknown weekday(s) {sorted(unknown)}; use {', '.join(WEEKDAYS)}")
        try:
            ZoneInfo(timezone)
        except Exception as exc:  # ZoneInfoNotFoundError or ValueError on a malformed key
            raise CalendarError(f"unknown time zone {timezone!r}") from exc
        if country:
            try:
                holidays.country_holidays(country, subdiv=subdivision)
            except NotImplementedError as exc:
                raise CalendarError(f"no public holidays known for {country}/{subdivision}") from exc
        parsed = {day: parse_ranges(hours.get(day, ())) for day in WEEKDAYS}
        closed = frozenset(c if isinstance(c, date) else date.fromisoformat(c) for c in closures)
        return cls(timezone, parsed, country or None, subdivision or None, closed)

    @classmethod
    def always_open(cls, timezone: str = "UTC") -> BusinessCalendar:
        return cls.build(timezone=timezone, hours={d: ["00:00-24:00"] for d in WEEKDAYS})

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _holidays(self, year: int) -> holidays.HolidayBase | None:
        if not self.country:
            return None
        return _holiday_table(self.country, self.subdivision, year)

    def is_closed_date(self, day: date) -> bool:
        if day in self.closures:
            return True
        table = self._holidays(day.year)
        return table is not None and day in table

    def open_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """``[open, close)`` instants (in UTC) of the local date ``day``."""
        if self.is_closed_date(day):
            return []
        zone = self.zone
        out = []
        for start, end in self.hours.get(WEEKDAYS[day.weekday()], ()):
            a = datetime.combine(day, start, tzinfo=zone)
            b = (
                datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
                if end == time.max
                else datetime.combine(day, end, tzinfo=zone)
            )
            # Subtracting aware datetimes of one zone gives wall-clock time; UTC gives elapsed time.
            out.append((a.astimezone(_UTC), b.astimezone(_UTC)))
        return out

    def is_open(self, at: float | datetime) -> bool:
        instant = _as_datetime(at)
        local = instant.astimezone(self.zone)
        return any(a <= instant < b for a, b in self.open_intervals(local.date()))

    def intervals_between(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals clipped to ``[start, end)``, in order."""
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date()
        while day <= last:
            for a, b in self.open_intervals(day):
                lo, hi = max(a, start), min(b, end)
                if lo < hi:
                    yield lo, hi
            day += timedelta(days=1)

    def _epoch_intervals(self, day: date) -> tuple[tuple[float, float], ...]:
        cached = self._days.get(day)
        if cached is None:
            cached = tuple((a.timestamp(), b.timestamp()) for a, b in self.open_intervals(day))
            if len(self._days) > 20_000:
                self._days.clear()
            self._days[day] = cached
        return cached

    def business_seconds(self, start: float | datetime, end: float | datetime) -> float:
        a, b = _as_datetime(start), _as_datetime(end)
        if b <= a:
            return 0.0
        ta, tb = a.timestamp(), b.timestamp()
        zone = self.zone
        first = a.astimezone(zone).date()
        last = b.astimezone(zone).date()
        if (last - first).days <= 4:
            return self._walk(ta, tb, first - _DAY, last)
        # Long spans (an inquiry open for months): whole days in between come from cumulative sums,
        # only the edges are clipped. The day before ``first`` is walked too: an interval closing at
        # 24:00 belongs to the previous local date.
        before = self._cumulative(first + _DAY)  # first: it may move the cache's anchor earlier
        middle = self._cumulative(last - _DAY) - before
        return self._walk(ta, tb, first - _DAY, first) + middle + self._walk(ta, tb, last - _DAY, last)

    def _walk(self, ta: float, tb: float, day: date, last: date) -> float:
        total = 0.0
        while day <= last:
            for lo, hi in self._epoch_intervals(day):
                lo, hi = max(lo, ta), min(hi, tb)
                if lo < hi:
                    total += hi - lo
            day += _DAY
        return total

    def _cumulative(self, day: date) -> float:
        """Business seconds of all local dates from the cache's anchor up to, not including, ``day``."""
        cum = self._days_cum
        anchor = cum.get("anchor")
        if not isinstance(anchor, date) or day < anchor:
            cum.clear()
            cum["anchor"], cum["totals"] = day - timedelta(days=366), [0.0]
            anchor = cum["anchor"]
        totals = cum["totals"]
        assert isinstance(anchor, date) and isinstance(totals, list)
        index = (day - anchor).days
        while len(totals) <= index:
            d = anchor + timedelta(days=len(totals) - 1)
            totals.append(totals[-1] + sum(hi - lo for lo, hi in self._epoch_intervals(d)))
        return float(totals[index])

    def deadline(self, start: float | datetime, allowance_s: float, horizon_days: int = 400) -> datetime:
        """Earliest instant at which ``allowance_s`` business seconds since ``start`` are used up."""
        remaining = float(allowance_s)
        a = _as_datetime(start)
        if remaining <= 0:
            return a
        day = a.astimezone(self.zone).date() - timedelta(days=1)
        for _ in range(horizon_days):
            for lo, hi in self.open_intervals(day):
                lo = max(lo, a)
                if hi <= lo:
                    continue
                span = (hi - lo).total_seconds()
                if span >= remaining:
                    return (lo + timedelta(seconds=remaining)).astimezone(self.zone)
                remaining -= span
            day += timedelta(days=1)
        raise CalendarError(f"no deadline within {horizon_days} days: is the site ever open?")

    def weekday_length_s(self) -> float:
        """Business seconds of a full weekday (the longest Mon-Fri day), for day-based allowances."""
        best = 0.0
        for day in WEEKDAYS[:5]:
            total = sum(
                (
                    datetime.combine(date(2000, 1, 3), b) - datetime.combine(date(2000, 1, 3), a)
                ).total_seconds()
                + (1e-6 if b == time.max else 0.0)
                for a, b in self.hours.get(day, ())
            )
            best = max(best, round(total))
        return best


_UTC = ZoneInfo("UTC")
_DAY = timedelta(days=1)


def _as_datetime(value: float | datetime) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise CalendarError("naive datetime: business time needs an aware instant")
        return value.astimezone(_UTC)
    return datetime.fromtimestamp(value, tz=_UTC)


_HOLIDAY_CACHE: dict[tuple[str, str | None, int], holidays.HolidayBase] = {}


def _holiday_table(country: str, subdivision: str | None, year: int) -> holidays.HolidayBase:
    key = (country, subdivision, year)
    table = _HOLIDAY_CACHE.get(key)
    if table is None:
        table = holidays.country_holidays(country, subdiv=subdivision, years=year)
        _HOLIDAY_CACHE[key] = table
    return table
