"""GET /api/v1/sla/summary (SQLite and PostgreSQL): the database's GROUP BY figures equal the same
figures computed here in Python from the store's records, for every grouping, in local buckets."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlmodel import Session

from monitor.domain.calls import CallRecord
from monitor.domain.inquiries import InquiryView
from monitor.service.summary import roll_up_calls
from monitor.service.writer import write_batch
from monitor.store.rollup import watermark
from monitor.store.tables import table
from tests.integration.api_store import (
    DETROIT,
    LONDON,
    REGISTERED_VERSION,
    UNKNOWN_VERSION,
    ApiStore,
    auth,
    build,
    local,
    store,
    synthetic_call,
)

__all__ = ["store"]
pytestmark = pytest.mark.service
ZONES = {"detroit": DETROIT, "leeds": LONDON}
SHORT = {"detroit": 5.0, "leeds": 10.0}


def day_key(ts: float, zone: ZoneInfo, by: str) -> str:
    d = datetime.fromtimestamp(ts, zone).date()
    if by == "week":
        year, week, _ = d.isocalendar()
        return f"{year}-W{week:02d}"
    return d.strftime("%Y-%m") if by == "month" else d.isoformat()


def call_figures(calls: list[CallRecord]) -> dict[str, Any]:
    """The summary's call components, computed the obvious way from the records' own SLA results."""
    inbound = [c for c in calls if c.direction == "inbound"]
    n: Counter[str] = Counter(c.outcome for c in inbound)
    return {
        "offered": len(inbound),
        "answered": n["answered"],
        "answered_within_threshold": sum(
            1 for c in inbound if c.outcome == "answered" and c.sla["answer_rings"] == "met"
        ),
        "abandoned": n["abandoned"],
        "missed": n["missed"],
        "short_abandoned": sum(
            1
            for c in inbound
            if c.outcome in ("abandoned", "missed") and c.ended_at - c.arrived_at <= SHORT[c.site]
        ),
        "voicemail": n["voicemail"],
        "after_hours": n["after_hours"],
        "failed": n["failed"],
        "hold_breaches": sum(1 for c in inbound if c.sla["hold"] == "breached"),
        "time_to_answer_s_sum": pytest.approx(sum(c.time_to_answer_s or 0.0 for c in inbound), abs=0.01),
        "talk_s_sum": pytest.approx(sum(c.talk_s for c in inbound), abs=0.01),
    }


def inquiry_figures(views: list[InquiryView]) -> dict[str, int]:
    n = Counter(v.status for v in views)
    return {
        "received": len(views),
        "met": n["met"],
        "breached": n["breached"],
        "open": n["open"],
        "at_risk": sum(1 for v in views if v.status == "open" and v.at_risk),
    }


def summary(s: ApiStore, role: str = "auditor", **params: Any) -> dict[str, Any]:
    return dict(s.get("/api/v1/sla/summary", role=role, **params))


def in_period(ts: float, start: float, end: float) -> bool:
    return start <= ts < end


@pytest.mark.parametrize("by", ["day", "week", "month"])
@pytest.mark.parametrize("site", ["detroit", "leeds"])
def test_time_buckets_in_the_site_zone(store: ApiStore, by: str, site: str) -> None:
    zone = ZONES[site]
    start, end = local("2026-11-20T00:00:00", zone), local("2026-12-02T00:00:00", zone)
    got = summary(store, site=site, group_by=by, **{"from": "2026-11-20", "to": "2026-12-02"})
    calls = [c for c in store.calls if c.site == site and in_period(c.arrived_at, start, end)]
    views = [v for v in store.inquiries if v.site == site and in_period(v.received_at, start, end)]
    by_key: dict[str, list[CallRecord]] = defaultdict(list)
    for c in calls:
        by_key[day_key(c.arrived_at, zone, by)].append(c)
    inquiries_by_key: dict[str, list[InquiryView]] = defaultdict(list)
    for v in views:
        inquiries_by_key[day_key(v.received_at, zone, by)].append(v)
    groups = {g["key"]: g for g in got["groups"]}
    expected_keys = {"day": 12, "week": 3, "month": 2}[by]
    assert len(groups) == expected_keys, sorted(groups)  # empty buckets included
    for key, group in groups.items():
        assert group["site"] == site
        assert group["calls"] == call_figures(by_key.get(key, [])), key
        assert group["inquiries"] == inquiry_figures(inquiries_by_key.get(key, [])), key
        assert (
            datetime.fromisoformat(group["start"]).utcoffset()
            == datetime.fromisoformat(group["start"]).astimezone(zone).utcoffset()
        )
    assert got["totals"]["calls"] == call_figures(calls)
    assert got["totals"]["inquiries"] == inquiry_figures(views)
    assert got["from"] == datetime.fromtimestamp(start, zone).isoformat()


def test_the_formula_and_its_components(store: ApiStore) -> None:
    got = summary(store, site="detroit", group_by="day", **{"from": "2026-11-24", "to": "2026-12-02"})
    assert "answered_within_threshold / (answered + abandoned + missed - short_abandoned)" in got["formula"]
    assert (
        "answered within threshold / (answered + abandoned after the short-abandon threshold)"
        in (got["formula_text"])
    )
    for figures in [got["totals"], *got["groups"]]:
        c = figures["calls"]
        denominator = c["answered"] + c["abandoned"] + c["missed"] - c["short_abandoned"]
        want = round(c["answered_within_threshold"] / denominator, 4) if denominator else None
        assert figures["service_level"] == want
    assert set(got["definitions"]) >= set(got["totals"]["calls"]) | set(got["totals"]["inquiries"])
    assert got["sites"] == [
        {"site": "detroit", "timezone": "America/Detroit", "short_abandon_s": 5.0, "totals": got["totals"]}
    ]


def test_thresholds_per_policy_version_registered_config_or_recorded(store: ApiStore) -> None:
    """s5 (unknown version): its recorded result counts; s6 (4 rings, version only in the table):
    met under that policy; both would be late under today's 3-ring policy."""
    got = summary(store, site="detroit", group_by="day", **{"from": "2026-11-25", "to": "2026-11-26"})
    [day] = got["groups"]
    assert day["calls"]["answered"] == 2 and day["calls"]["answered_within_threshold"] == 2
    assert day["calls"]["hold_breaches"] == 0  # s5 held 40 s, recorded "met" under its policy
    versions = {v["version"]: v["policy"] for v in got["policy_versions"]}
    assert versions[UNKNOWN_VERSION] is None
    assert versions[REGISTERED_VERSION]["answer_within_rings"] == 4
    current = next(v for v in versions if v not in (UNKNOWN_VERSION, REGISTERED_VERSION))
    assert versions[current]["answer_within_rings"] == 3
    assert sorted(day["policy_versions"]) == sorted(versions)


@pytest.mark.parametrize(("by", "attribute"), [("queue", "queue"), ("agent", "answered_by")])
def test_queue_and_agent_groups(store: ApiStore, by: str, attribute: str) -> None:
    got = summary(store, group_by=by, **{"from": "2026-11-01T00:00:00Z", "to": "2026-12-31T00:00:00Z"})
    groups = {(g["site"], g["key"]): g for g in got["groups"]}
    expected: dict[tuple[str, str | None], list[CallRecord]] = defaultdict(list)
    for c in store.calls:
        if c.direction == "inbound":
            expected[(c.site, getattr(c, attribute))].append(c)
    assert set(groups) == set(expected)
    for key, calls in expected.items():
        assert groups[key]["calls"] == call_figures(calls)
        assert groups[key]["inquiries"] is None and groups[key]["start"] is None
    assert got["totals"]["calls"] == call_figures(store.calls)
    assert got["totals"]["inquiries"] == inquiry_figures(store.inquiries)
    assert {s["site"]: s["short_abandon_s"] for s in got["sites"]} == SHORT


def test_mailbox_groups(store: ApiStore) -> None:
    got = summary(store, group_by="mailbox", site="detroit", **{"from": "2026-11-01", "to": "2026-12-31"})
    groups = {g["key"]: g for g in got["groups"]}
    assert set(groups) == {"service", "letters"}
    for name, group in groups.items():
        assert group["calls"] is None
        assert group["inquiries"] == inquiry_figures([v for v in store.inquiries if v.mailbox == name])
    letters = groups["letters"]
    assert letters["inquiries_met_share"] == 0.0 and groups["service"]["inquiries_met_share"] == 0.5


def test_all_sites_each_in_its_own_zone_and_monitoring_gaps(store: ApiStore) -> None:
    got = summary(store, group_by="day", **{"from": "2026-11-24T00:00:00Z", "to": "2026-11-25T00:00:00Z"})
    starts = {g["site"]: g["start"] for g in got["groups"] if g["key"] == "2026-11-24"}
    assert starts == {"detroit": "2026-11-24T00:00:00-05:00", "leeds": "2026-11-24T00:00:00+00:00"}
    assert [(g["site"], g["source"], g["reason"]) for g in got["monitoring_gaps"]] == [
        ("detroit", "ami", "lost")
    ]
    assert got["monitoring_gaps"][0]["start"] == "2026-11-24T12:00:00-05:00"
    leeds = [c for c in store.calls if c.site == "leeds"]
    assert next(s for s in got["sites"] if s["site"] == "leeds")["totals"]["calls"] == call_figures(leeds)


def test_defaults_and_wallboard_role(store: ApiStore) -> None:
    got = summary(store, role="wallboard", site="detroit", group_by="month")
    # from: the first stored record (the letter of 2026-11-20); to: the app's clock (2026-12-02).
    assert got["from"] == "2026-11-20T09:00:00-05:00" and got["to"] == "2026-12-02T00:00:00-05:00"
    assert [g["key"] for g in got["groups"]] == ["2026-11", "2026-12"]
    detroit = [c for c in store.calls if c.site == "detroit"]
    assert got["totals"]["calls"] == call_figures(detroit)


@pytest.mark.parametrize(
    "params",
    [
        {"group_by": "year"},
        {"group_by": "day", "from": "1900-01-01", "to": "2026-01-01"},
        {"from": "2026-12-01", "to": "2026-11-01"},
        {"from": "2099-01-01"},
        {"site": "x" * 100},
    ],
)
def test_bad_requests_are_422(store: ApiStore, params: dict[str, Any]) -> None:
    response = store.api.get("/api/v1/sla/summary", params=params, headers=auth(store.tokens["auditor"]))
    assert response.status_code == 422, response.text


@pytest.fixture(params=["sqlite", "postgresql"])
def unrolled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiStore]:
    """A store of its own with nothing rolled up yet (the test rolls up and adds calls)."""
    url = (
        f"sqlite:///{tmp_path}/own.db"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    built = build(url, tmp_path, roll_up_first=None)
    yield built
    built.engine.dispose()


QUERIES: list[dict[str, Any]] = [
    {"group_by": "day", "from": "2026-11-20", "to": "2026-12-03"},
    {"group_by": "week", "site": "detroit", "from": "2026-11-24T00:07:13", "to": "2026-12-01T10:00:01.5"},
    {"group_by": "month", "site": "leeds", "from": "2026-11-01", "to": "2026-12-01"},
    {"group_by": "queue", "from": "2026-11-24T05:44:00Z", "to": "2026-12-02T00:00:00Z"},
    {"group_by": "agent", "from": "2026-11-01", "to": "2026-12-31"},
]


def test_rollup_passes_change_no_figure(unrolled: ApiStore) -> None:
    """Figures are the same from ``call`` alone, fully rolled up, and rolled up before more calls
    (a late one in an already rolled slot among them) were stored; a second pass counts nothing."""
    raw = [summary(unrolled, **q) for q in QUERIES]
    assert roll_up_calls(unrolled.engine, unrolled.settings) > 0
    assert roll_up_calls(unrolled.engine, unrolled.settings) == 0
    with Session(unrolled.engine) as session:
        assert watermark(session) == max(i for (i,) in session.execute(select(table("call").c.id)))
    assert [summary(unrolled, **q) for q in QUERIES] == raw
    late = [
        synthetic_call("late.1", "detroit", local("2026-11-24T00:44:00"), outcome="abandoned", waited_s=4.0),
        synthetic_call("late.2", "detroit", local("2026-11-30T09:00:00"), queue="parts", answer_s=30.0),
    ]
    write_batch(unrolled.engine, late)
    unrolled.calls.extend(c.record for c in late)
    with_late = [summary(unrolled, **q) for q in QUERIES]
    assert with_late != raw
    detroit_days = with_late[0]
    for group in detroit_days["groups"]:
        if group["site"] == "detroit":
            calls = [
                c
                for c in unrolled.calls
                if c.site == "detroit" and day_key(c.arrived_at, DETROIT, "day") == group["key"]
            ]
            assert group["calls"] == call_figures(calls), group["key"]
    roll_up_calls(unrolled.engine, unrolled.settings)
    assert [summary(unrolled, **q) for q in QUERIES] == with_late
