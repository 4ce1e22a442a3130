"""Business-time arithmetic against an independent second-by-second count, on four sites."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import pytest

from monitor.domain.calendar import WEEKDAYS, BusinessCalendar


@dataclass(frozen=True)
class Site:
    timezone: str
    country: str
    subdivision: str | None
    hours: dict[str, list[str]]
    closures: tuple[str, ...] = ()


SITES = {
    "us": Site(
        "America/Detroit", "US", "MI", {d: ["07:30-18:00"] for d in WEEKDAYS[:5]} | {"sat": ["08:00-12:00"]}
    ),
    "pt": Site("Europe/Lisbon", "PT", None, {d: ["09:00-13:00", "14:00-18:00"] for d in WEEKDAYS[:5]}),
    "br": Site(
        "America/Sao_Paulo", "BR", "SP", {d: ["08:00-18:00"] for d in WEEKDAYS[:5]} | {"sat": ["08:00-12:00"]}
    ),
    "de": Site("Europe/Berlin", "DE", "BE", {d: ["08:00-17:00"] for d in WEEKDAYS[:5]}, ("2026-10-27",)),
}


def calendar(site: str) -> BusinessCalendar:
    s = SITES[site]
    return BusinessCalendar.build(
        timezone=s.timezone, hours=s.hours, country=s.country, subdivision=s.subdivision, closures=s.closures
    )


@cache
def _open_minutes(site: str, day: date) -> frozenset[int]:
    """Independent model: minutes of the local day that are open (from the raw site definition)."""
    spec = SITES[site]
    table = holidays.country_holidays(spec.country, subdiv=spec.subdivision, years=day.year)
    if day in table or day.isoformat() in spec.closures:
        return frozenset()
    out: set[int] = set()
    for rng in spec.hours.get(WEEKDAYS[day.weekday()], []):
        a, b = rng.split("-")
        start = int(a[:2]) * 60 + int(a[3:])
        end = int(b[:2]) * 60 + int(b[3:])
        out.update(range(start, end))
    return frozenset(out)


def brute_seconds(site: str, a: float, b: float) -> int:
    """Count each UTC second in [a, b) whose local wall time falls in an open minute."""
    zone = ZoneInfo(SITES[site].timezone)
    total = 0
    t = int(a)
    assert t == a and int(b) == b, "whole seconds keep the count exact"
    while t < int(b):
        local = datetime.fromtimestamp(t, zone)
        if local.hour * 60 + local.minute in _open_minutes(site, local.date()):
            total += 1
        t += 1
    return total


def at(site: str, text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(SITES[site].timezone)).timestamp()


CASES = [
    ("us", "2026-10-30T17:00:00", "2026-11-02T09:00:00"),  # Fri evening -> Sat half day -> DST end -> Mon
    ("us", "2026-11-25T17:30:00", "2026-11-27T08:00:00"),  # Thanksgiving closes Thursday
    ("us", "2026-11-28T13:00:00", "2026-11-30T07:45:00"),  # arrival outside hours (Sat afternoon)
    ("pt", "2026-10-23T12:30:00", "2026-10-26T14:30:00"),  # lunch break, weekend, DST end in Lisbon
    ("pt", "2026-11-30T16:00:00", "2026-12-02T09:30:00"),  # 1 December public holiday
    ("br", "2026-11-19T17:00:00", "2026-11-23T09:00:00"),  # 20 November public holiday, Saturday
    ("de", "2026-10-23T16:30:00", "2026-10-28T08:30:00"),  # DST end, declared closure on Tuesday
    ("de", "2026-03-27T16:00:00", "2026-03-30T09:00:00"),  # DST start (spring forward)
]


@pytest.mark.parametrize(("site", "start", "end"), CASES)
def test_business_seconds_match_a_second_by_second_count(site: str, start: str, end: str) -> None:
    a, b = at(site, start), at(site, end)
    assert calendar(site).business_seconds(a, b) == brute_seconds(site, a, b)


@pytest.mark.parametrize(("site", "start", "_end"), CASES)
@pytest.mark.parametrize("allowance", [3600, 75600])
def test_deadline_is_the_first_instant_the_allowance_is_used(
    site: str, start: str, _end: str, allowance: int
) -> None:
    cal = calendar(site)
    a = at(site, start)
    deadline = cal.deadline(a, allowance).timestamp()
    assert brute_seconds(site, a, deadline) == allowance
    # one second earlier the allowance was not used up yet (the deadline can be a closing time)
    assert brute_seconds(site, a, deadline - 1) == allowance - 1


def test_weekday_length_counts_split_days() -> None:
    assert calendar("pt").weekday_length_s() == 8 * 3600
    assert calendar("us").weekday_length_s() == 10.5 * 3600


def test_instant_at_opening_is_open_and_at_closing_is_closed() -> None:
    cal = calendar("pt")
    assert cal.is_open(at("pt", "2026-11-24T14:00:00"))
    assert not cal.is_open(at("pt", "2026-11-24T13:00:00"))
    assert not cal.is_open(at("pt", "2026-11-24T18:00:00"))
    assert cal.business_seconds(at("pt", "2026-11-24T12:59:00"), at("pt", "2026-11-24T14:01:00")) == 120


def test_dst_day_does_not_add_or_remove_time() -> None:
    cal = BusinessCalendar.build(timezone="Europe/Berlin", hours={d: ["00:00-24:00"] for d in WEEKDAYS})
    spring = at("de", "2026-03-29T00:00:00")
    assert cal.business_seconds(spring, spring + 86400) == 86400
    assert (datetime.fromtimestamp(spring + 86400, ZoneInfo("Europe/Berlin")) - timedelta(hours=1)).hour == 0


@pytest.mark.parametrize("site", sorted(SITES))
def test_long_spans_equal_a_day_by_day_walk(site: str) -> None:
    """Spans of months use cumulative day totals; they must equal walking every day."""
    cal = calendar(site)
    for start, days in (
        ("2025-11-03T10:17:05", 400),
        ("2026-02-27T23:30:00", 45),
        ("2026-10-24T12:00:00", 9),
    ):
        a = at(site, start)
        b = a + days * 86400 + 3723.5
        first = datetime.fromtimestamp(a, ZoneInfo(SITES[site].timezone)).date()
        last = datetime.fromtimestamp(b, ZoneInfo(SITES[site].timezone)).date()
        assert cal.business_seconds(a, b) == pytest.approx(
            cal._walk(a, b, first - timedelta(days=1), last), abs=1e-3
        )
    assert cal.business_seconds(at(site, "2026-11-02T00:00:00"), at(site, "2026-11-02T00:00:00") - 5) == 0
