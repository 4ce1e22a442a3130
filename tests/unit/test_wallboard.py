"""The wallboard's figures and colour levels (no I/O): the same counts as the gauges, levels from the
policy, today's window in the site's zone, the stored figures read at most once per TTL."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from monitor.domain.inquiries import InquiryStatus, InquiryView
from monitor.domain.live import LiveCall
from monitor.domain.policy import SlaPolicy
from monitor.metrics import SiteThresholds, SlamonMetrics
from monitor.service.wallboard import (
    AnswerFigures,
    BoardSite,
    BoardSource,
    Wallboard,
    calls_part,
    change_key,
    hold_level,
    inquiries_part,
    ring_level,
    today_bounds,
)

NOW = 1_795_499_000.0  # 2026-11-24 05:43:20 UTC
POLICY = SlaPolicy(answer_within_rings=3, max_hold_s=30.0, version="p1")


def _call(state: str, since: float, rings: int = 0, queue: str = "service", hold: float = 0.0) -> LiveCall:
    return LiveCall("1795498999.1", queue, state, since, rings, hold, "201")  # type: ignore[arg-type]


def _view(
    elapsed: float, status: InquiryStatus = "open", at_risk: bool = False, replied: bool = False
) -> InquiryView:
    return InquiryView(
        inquiry_id=f"inq-{elapsed}",
        site="detroit",
        mailbox="service",
        kind="internet_inquiry",
        conversation_id="c",
        customer_key="k",
        customer_masked="j***@example.com",
        received_at=NOW - elapsed,
        first_human_reply_at=NOW if replied else None,
        reply_via="email" if replied else None,
        business_seconds_to_first_human_reply=elapsed if replied else None,
        business_seconds_elapsed=elapsed,
        allowance_s=3600.0,
        deadline_at=datetime.fromtimestamp(NOW, UTC),
        status=status,
        at_risk=at_risk,
        auto_replies=0,
        requested_contact=None,
        policy_version="p1",
        evaluated_at=NOW,
    )


@dataclass
class FakeCalls:
    site: str = "detroit"
    calls: list[LiveCall] = field(default_factory=list)
    open: bool = True

    def live(self, now: float) -> Sequence[LiveCall]:
        return self.calls

    def business_open(self, now: float) -> bool:
        return self.open


@dataclass
class FakeMailbox:
    site: str = "detroit"
    mailbox: str = "service"
    kind: str = "internet_inquiry"
    views: list[InquiryView] = field(default_factory=list)

    def inquiries(self, now: float) -> Iterable[InquiryView]:
        return self.views


@dataclass
class FakeSource:
    site: str = "detroit"
    source: str = "ami"
    up: bool = True
    last_event_at: float | None = NOW - 3
    events_total: int = 0
    parse_errors: int = 0


@dataclass
class FakeFigures:
    figures: AnswerFigures = field(default_factory=lambda: AnswerFigures(8, 6, 2))
    calls: list[tuple[str, float, float, float]] = field(default_factory=list)
    fail: bool = False

    def __call__(self, site: str, start: float, end: float, short_abandon_s: float) -> AnswerFigures:
        self.calls.append((site, start, end, short_abandon_s))
        if self.fail:
            raise RuntimeError("database is gone")
        return self.figures


def test_ring_levels_green_below_the_last_ring_amber_on_it_red_past_it() -> None:
    assert [ring_level(r, 3) for r in (0, 1, 2, 3, 4, 9)] == ["ok", "ok", "ok", "warn", "breach", "breach"]
    assert [ring_level(r, 1) for r in (1, 2)] == ["warn", "breach"]


def test_hold_levels_amber_with_a_quarter_left_red_past_the_maximum() -> None:
    assert [hold_level(s, 30.0) for s in (0.0, 22.4, 22.6, 30.0, 30.1)] == [
        "ok",
        "ok",
        "warn",
        "warn",
        "breach",
    ]


def test_calls_part_counts_like_the_gauges_and_colours_each_caller() -> None:
    calls = [
        _call("waiting", 25.0, 5),
        _call("ringing", 4.0, 1, queue=""),
        _call("waiting", 13.0, 3),
        _call("on_hold", 80.0, hold=31.0),
        _call("on_hold", 40.0, hold=10.0),
        _call("talking", 60.0),
        _call("voicemail", 50.0, 9),
    ]
    part = calls_part(calls, POLICY)
    assert part["waiting"] == {"count": 2, "longest_s": 25.0, "longest_rings": 5, "level": "breach"}
    ringing = part["ringing"]
    assert ringing["count"] == 3 and ringing["max_rings"] == 5 and ringing["level"] == "breach"
    assert [(i["rings"], i["level"]) for i in ringing["items"]] == [(5, "breach"), (3, "warn"), (1, "ok")]
    assert part["on_hold"]["count"] == 2 and part["on_hold"]["longest_s"] == 31.0
    assert [i["level"] for i in part["on_hold"]["items"]] == ["breach", "ok"]
    assert part["talking"] == 1
    empty = calls_part([], POLICY)
    assert empty["waiting"]["level"] == empty["ringing"]["level"] == empty["on_hold"]["level"] == "ok"


def test_inquiries_part_counts_unanswered_ones_like_the_gauges() -> None:
    views = [
        _view(600.0),
        _view(3000.0, at_risk=True),
        _view(4000.0, status="breached", at_risk=True),
        _view(9000.0, status="met", replied=True),  # answered: not open, not the oldest
    ]
    part = inquiries_part(views)
    assert part["open"] == 3 and part["at_risk"] == 2 and part["breached"] == 1
    assert part["oldest_open_business_s"] == 4000.0 and part["oldest_level"] == "breach"
    assert part["level"] == "breach"
    assert inquiries_part([_view(3000.0, at_risk=True)])["level"] == "warn"
    assert inquiries_part([])["level"] == "ok" and inquiries_part([])["oldest_open_business_s"] == 0.0


def test_the_board_shows_the_figures_the_gauges_export() -> None:
    calls = [_call("waiting", 25.0, 5), _call("ringing", 4.0, 1, queue=""), _call("on_hold", 80.0, hold=31.0)]
    views = [_view(600.0), _view(3000.0, at_risk=True)]
    site, box = FakeCalls(calls=calls), FakeMailbox(views=views)
    metrics = SlamonMetrics([SiteThresholds("detroit")], clock=lambda: NOW, process=False)
    metrics.add_site(site)
    metrics.add_mailbox(box)
    board = Wallboard([BoardSite("detroit", POLICY, 6.0, "America/Detroit", site, [box])])
    snap = board.build(board.sites["detroit"], NOW, "2026-11-24", None)

    def gauge(name: str, **labels: str) -> float:
        value = metrics.registry.get_sample_value(name, {"site": "detroit", **labels})
        assert value is not None, name
        return value

    queues = ("service", "direct")
    assert snap["calls"]["ringing"]["count"] == sum(gauge("slamon_calls_ringing", queue=q) for q in queues)
    assert snap["calls"]["waiting"]["count"] == sum(gauge("slamon_calls_waiting", queue=q) for q in queues)
    assert snap["calls"]["waiting"]["longest_s"] == gauge(
        "slamon_longest_waiting_call_seconds", queue="service"
    )
    assert snap["calls"]["on_hold"]["count"] == gauge("slamon_calls_on_hold")
    assert snap["calls"]["on_hold"]["longest_s"] == gauge("slamon_longest_current_hold_seconds")
    mk = {"mailbox": "service", "kind": "internet_inquiry"}
    assert snap["inquiries"]["open"] == gauge("slamon_inquiries_open", **mk)
    assert snap["inquiries"]["at_risk"] == gauge("slamon_inquiries_at_risk", **mk)
    assert snap["inquiries"]["oldest_open_business_s"] == gauge(
        "slamon_oldest_open_inquiry_business_seconds", **mk
    )


def test_today_is_the_sites_calendar_day_also_on_a_dst_change() -> None:
    date, start, end = today_bounds(NOW, "America/Detroit")  # 00:43 in Detroit
    assert date == "2026-11-24"
    assert datetime.fromtimestamp(start, UTC).isoformat() == "2026-11-24T05:00:00+00:00"
    assert end - start == 86400
    spring = datetime(2026, 3, 8, 12, tzinfo=UTC).timestamp()  # clocks go forward that night
    date, start, end = today_bounds(spring, "America/Detroit")
    assert date == "2026-03-08" and end - start == 23 * 3600
    assert today_bounds(NOW, "Asia/Tokyo")[0] == "2026-11-24"
    assert today_bounds(NOW - 6 * 3600, "America/Detroit")[0] == "2026-11-23"


async def test_snapshot_reads_stored_figures_once_per_ttl_and_survives_a_failing_store(
    caplog: pytest.LogCaptureFixture,
) -> None:
    figures = FakeFigures()
    ami, imap = FakeSource(), FakeSource(source="imap", up=False, last_event_at=None)
    site = BoardSite(
        "detroit",
        POLICY,
        6.0,
        "America/Detroit",
        FakeCalls(calls=[_call("waiting", 19.0, 4)]),
        sources=[BoardSource("ami", ami), BoardSource("service", imap)],
        short_abandon_s=5.0,
    )
    board = Wallboard(
        [site, BoardSite("lansing", POLICY, 6.0, "UTC", FakeCalls())], figures, figures_ttl_s=2.0
    )
    snap = await board.snapshot("detroit", NOW)
    assert snap["site"] == "detroit" and snap["sites"] == ["detroit", "lansing"]
    assert snap["today"]["answer_within_pct"] == 60.0  # 6 / (8 + 2) and snap["today"]["abandoned"] == 2
    assert snap["today"]["formula"] == (
        "answered within 3 rings / (answered + abandoned); callers who hung up within 5 s are left out"
    )
    assert snap["policy"]["answer_within_s"] == 18.0 and snap["policy"]["version"] == "p1"
    assert snap["sources_down"] == ["service"]
    assert [(s["source"], s["up"]) for s in snap["sources"]] == [("ami", True), ("imap", False)]
    await board.snapshot("detroit", NOW + 1.0)
    assert len(figures.calls) == 1, "cached within the TTL"
    await board.snapshot("detroit", NOW + 2.5)
    assert len(figures.calls) == 2
    assert figures.calls[0] == ("detroit", *today_bounds(NOW, "America/Detroit")[1:], 5.0)
    figures.fail = True
    caplog.set_level(logging.ERROR)
    for i in range(3):
        snap = await board.snapshot("detroit", NOW + 10 + 3 * i)
    assert snap["today"]["answered"] is None and snap["today"]["error"] == "store unavailable"
    assert snap["calls"]["ringing"]["count"] == 1, "the live part is still there"
    assert caplog.text.count("could not be read") == 1, "logged once per episode"
    with pytest.raises(KeyError):
        await board.snapshot("nowhere", NOW)


def test_change_key_follows_counts_rings_levels_and_sources_not_growing_durations() -> None:
    site = FakeCalls(calls=[_call("waiting", 10.0, 2)])
    source = FakeSource()
    board = Wallboard([BoardSite("detroit", POLICY, 6.0, "UTC", site, sources=[BoardSource("ami", source)])])
    b = board.sites["detroit"]
    key = change_key(board.build(b, NOW, "d", None))
    site.calls = [_call("waiting", 11.5, 2)]
    assert change_key(board.build(b, NOW + 1.5, "d", None)) == key
    site.calls = [_call("waiting", 12.5, 3)]
    assert change_key(board.build(b, NOW + 2.5, "d", None)) != key
    key = change_key(board.build(b, NOW + 2.5, "d", None))
    source.up = False
    assert change_key(board.build(b, NOW + 2.5, "d", None)) != key
