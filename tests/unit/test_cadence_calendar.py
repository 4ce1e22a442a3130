from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from monitor.domain.cadence import UnknownCadence, ring_cycle_seconds, rings_for
from monitor.domain.calendar import BusinessCalendar, CalendarError

DETROIT = ZoneInfo("America/Detroit")
WEEK = {d: ["07:30-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")} | {"sat": ["08:00-12:00"]}


def cal(closures: tuple[str, ...] = ()) -> BusinessCalendar:
    return BusinessCalendar.build(
        timezone="America/Detroit", hours=WEEK, country="US", subdivision="MI", closures=closures
    )


@pytest.mark.parametrize(
    ("code", "cycle"),
    [("US", 6.0), ("uk", 3.0), ("ES", 4.5), ("DE", 5.0), ("BE", 4.0), (7, 7.0), ("5.5", 5.5)],
)
def test_ring_cycles(code: str | float, cycle: float) -> None:
    assert ring_cycle_seconds(code) == cycle


def test_unknown_cadence_is_a_clear_error() -> None:
    with pytest.raises(UnknownCadence, match="XX"):
        ring_cycle_seconds("XX")


@pytest.mark.parametrize(
    ("elapsed", "rings"), [(0, 0), (0.1, 1), (6.0, 1), (6.01, 2), (18.0, 3), (18.001, 4), (13.63, 3)]
)
def test_rings_for_us_cadence(elapsed: float, rings: int) -> None:
    assert rings_for(elapsed, 6.0) == rings


def test_open_is_half_open_interval() -> None:
    c = cal()
    assert c.is_open(datetime(2026, 11, 24, 7, 30, tzinfo=DETROIT))
    assert not c.is_open(datetime(2026, 11, 24, 7, 29, 59, tzinfo=DETROIT))
    assert not c.is_open(datetime(2026, 11, 24, 18, 0, tzinfo=DETROIT))
    assert not c.is_open(datetime(2026, 11, 29, 10, 0, tzinfo=DETROIT))  # Sunday


def test_public_holiday_and_closure_close_the_day() -> None:
    c = cal(closures=("2026-12-24",))
    assert not c.is_open(datetime(2026, 11, 26, 10, 0, tzinfo=DETROIT))  # Thanksgiving
    assert not c.is_open(datetime(2026, 12, 24, 10, 0, tzinfo=DETROIT))
    assert c.is_open(datetime(2026, 12, 23, 10, 0, tzinfo=DETROIT))


def test_business_seconds_ignore_dst_shift() -> None:
    c = BusinessCalendar.build(timezone="America/Detroit", hours={d: ["00:00-24:00"] for d in ("sat", "sun")})
    a = datetime(2026, 10, 31, 12, 0, tzinfo=DETROIT)
    b = datetime(2026, 11, 1, 12, 0, tzinfo=DETROIT)  # DST ends overnight: 25 real hours
    assert c.business_seconds(a, b) == 25 * 3600


def test_deadline_rolls_over_night_and_weekend() -> None:
    c = cal()
    friday_evening = datetime(2026, 11, 20, 17, 30, tzinfo=DETROIT)
    deadline = c.deadline(friday_evening, 3600)
    assert deadline == datetime(2026, 11, 21, 8, 30, tzinfo=DETROIT)  # 30 min Fri + 30 min Sat
    assert c.business_seconds(friday_evening, deadline) == 3600
    assert c.weekday_length_s() == 10.5 * 3600


def test_bad_calendar_input_is_rejected() -> None:
    with pytest.raises(CalendarError):
        BusinessCalendar.build(timezone="Mars/Olympus", hours={})
    with pytest.raises(CalendarError):
        BusinessCalendar.build(timezone="UTC", hours={"mon": ["18:00-07:00"]})
    with pytest.raises(CalendarError):
        BusinessCalendar.build(timezone="UTC", hours={"funday": ["08:00-09:00"]})
