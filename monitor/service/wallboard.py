"""The wallboard's figures for one site: the live calls, open inquiries and source health the gauges
read (``monitor.metrics.live`` computes the same counts), plus today's answered/abandoned calls from
the store, and a colour level per tile from the site's policy.

Levels (the page recomputes them the same way between pushes, as durations grow):
- a caller waiting for a person: ``ok`` below ``answer_within_rings`` rings, ``warn`` on the last ring
  of the allowance, ``breach`` past it;
- a hold: ``warn`` with less than 25 % of ``max_hold_s`` left, ``breach`` past ``max_hold_s``;
- inquiries: ``warn`` when one is at risk, ``breach`` when one is breached and still unanswered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from monitor.domain.inquiries import AT_RISK_SHARE, InquiryView
from monitor.domain.live import LiveCall
from monitor.domain.policy import SlaPolicy

log = logging.getLogger(__name__)

Level = Literal["ok", "warn", "breach"]


@dataclass(frozen=True, slots=True)
class AnswerFigures:
    """Today's stored calls (``monitor.store.wallboard_queries`` reads them)."""

    answered: int
    answered_within: int
    abandoned: int  # gave up unanswered after the short-abandon threshold
    short_abandoned: int = 0  # hung up within it: in neither term of the formula

    @property
    def within_pct(self) -> float | None:
        """answered within the threshold / (answered + abandoned), in %; None with no such call."""
        total = self.answered + self.abandoned
        return None if total == 0 else round(100.0 * self.answered_within / total, 1)


FiguresReader = Callable[[str, float, float, float], AnswerFigures]
"""``(site, start, end, short_abandon_s) -> AnswerFigures``: blocking, run in a worker thread."""


class LiveSite(Protocol):
    def live(self, now: float) -> Sequence[LiveCall]: ...

    def business_open(self, now: float) -> bool: ...


class MailboxFeed(Protocol):
    def inquiries(self, now: float) -> Iterable[InquiryView]: ...


class SourceState(Protocol):
    site: str
    source: str

    @property
    def up(self) -> bool: ...

    @property
    def last_event_at(self) -> float | None: ...


@dataclass(frozen=True)
class BoardSource:
    """A source as the board names it: ``ami``, or the mailbox label for IMAP."""

    name: str
    state: SourceState


@dataclass(frozen=True)
class BoardSite:
    site: str
    policy: SlaPolicy
    ring_cycle_s: float
    timezone: str
    calls: LiveSite
    mailboxes: Sequence[MailboxFeed] = ()
    sources: Sequence[BoardSource] = ()
    short_abandon_s: float = 0.0


def ring_level(rings: int, within: int) -> Level:
    if rings > within:
        return "breach"
    return "warn" if rings == within else "ok"


def hold_level(hold_s: float, max_hold_s: float) -> Level:
    if hold_s > max_hold_s:
        return "breach"
    return "warn" if max_hold_s - hold_s < AT_RISK_SHARE * max_hold_s else "ok"


def worst(levels: Iterable[Level]) -> Level:
    order: dict[Level, int] = {"ok": 0, "warn": 1, "breach": 2}
    return max(levels, key=order.__getitem__, default="ok")


def today_bounds(now: float, timezone: str) -> tuple[str, float, float]:
    """The site's calendar day around ``now``: (ISO date, local midnight, next local midnight)."""
    zone = ZoneInfo(timezone)
    day = datetime.fromtimestamp(now, zone).date()
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return day.isoformat(), start.timestamp(), end.timestamp()


def calls_part(calls: Sequence[LiveCall], policy: SlaPolicy) -> dict[str, Any]:
    within = policy.answer_within_rings
    unanswered = sorted(
        (c for c in calls if c.state in ("ringing", "waiting")), key=lambda c: -c.since_arrival_s
    )
    queued = [c for c in unanswered if c.state == "waiting"]
    holds = sorted((c for c in calls if c.state == "on_hold"), key=lambda c: -c.hold_s)
    ring_levels = [ring_level(c.rings, within) for c in unanswered]
    hold_levels = [hold_level(c.hold_s, policy.max_hold_s) for c in holds]
    ringing_items = [
        {
            "queue": c.queue,
            "state": c.state,
            "since_arrival_s": c.since_arrival_s,
            "rings": c.rings,
            "level": lv,
        }
        for c, lv in zip(unanswered, ring_levels, strict=True)
    ]
    hold_items = [
        {"queue": c.queue, "hold_s": c.hold_s, "level": lv} for c, lv in zip(holds, hold_levels, strict=True)
    ]
    longest_wait = queued[0] if queued else None
    return {
        "waiting": {
            "count": len(queued),
            "longest_s": longest_wait.since_arrival_s if longest_wait else 0.0,
            "longest_rings": longest_wait.rings if longest_wait else 0,
            "level": ring_level(longest_wait.rings, within) if longest_wait else "ok",
        },
        "ringing": {
            "count": len(unanswered),
            "max_rings": max((c.rings for c in unanswered), default=0),
            "level": worst(ring_levels),
            "items": ringing_items,
        },
        "on_hold": {
            "count": len(holds),
            "longest_s": holds[0].hold_s if holds else 0.0,
            "level": worst(hold_levels),
            "items": hold_items,
        },
        "talking": sum(1 for c in calls if c.state == "talking"),
    }


def inquiries_part(views: Iterable[InquiryView]) -> dict[str, Any]:
    # As the gauges count them: every inquiry still waiting for a first human reply, breached or not.
    waiting = [v for v in views if v.first_human_reply_at is None]
    oldest = max(waiting, key=lambda v: v.business_seconds_elapsed, default=None)
    breached = sum(1 for v in waiting if v.status == "breached")
    at_risk = sum(1 for v in waiting if v.at_risk)
    oldest_level: Level = "ok"
    if oldest is not None:
        oldest_level = "breach" if oldest.status == "breached" else "warn" if oldest.at_risk else "ok"
    return {
        "open": len(waiting),
        "at_risk": at_risk,
        "breached": breached,
        "oldest_open_business_s": oldest.business_seconds_elapsed if oldest else 0.0,
        "oldest_allowance_s": oldest.allowance_s if oldest else None,
        "oldest_level": oldest_level,
        "level": "breach" if breached else "warn" if at_risk else "ok",
    }


def today_part(
    date: str, figures: AnswerFigures | None, policy: SlaPolicy, short_abandon_s: float = 0.0
) -> dict[str, Any]:
    formula = f"answered within {policy.answer_within_rings} rings / (answered + abandoned)"
    if short_abandon_s > 0:
        formula += f"; callers who hung up within {short_abandon_s:g} s are left out"
    if figures is None:
        return {
            "date": date,
            "answered": None,
            "answered_within": None,
            "abandoned": None,
            "short_abandoned": None,
            "answer_within_pct": None,
            "formula": formula,
            "error": "store unavailable",
        }
    return {
        "date": date,
        "answered": figures.answered,
        "answered_within": figures.answered_within,
        "abandoned": figures.abandoned,
        "short_abandoned": figures.short_abandoned,
        "answer_within_pct": figures.within_pct,
        "formula": formula,
    }


def sources_part(sources: Iterable[BoardSource]) -> list[dict[str, Any]]:
    return [
        {
            "source": s.state.source,
            "name": s.name,
            "up": bool(s.state.up),
            "last_event_at": s.state.last_event_at,
        }
        for s in sources
    ]


@dataclass
class _Cached:
    date: str = ""
    fetched_at: float = float("-inf")
    figures: AnswerFigures | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    failing: bool = False


class Wallboard:
    """Snapshots for every configured site. Call on the event loop (live state is only mutated
    there); today's stored figures are read in a worker thread, at most once per ``figures_ttl_s``."""

    def __init__(
        self,
        sites: Sequence[BoardSite],
        figures: FiguresReader | None = None,
        *,
        stopping: Callable[[], bool] = lambda: False,
        figures_ttl_s: float = 2.0,
    ) -> None:
        self.sites = {s.site: s for s in sites}
        self._figures = figures
        self._stopping = stopping
        self.figures_ttl_s = figures_ttl_s
        self._cache: dict[str, _Cached] = {}

    def site_ids(self) -> list[str]:
        return list(self.sites)

    @property
    def closing(self) -> bool:
        return self._stopping()

    async def snapshot(self, site: str, now: float) -> dict[str, Any]:
        """Raises ``KeyError`` for a site that is not configured."""
        board = self.sites[site]
        date, start, end = today_bounds(now, board.timezone)
        figures = await self._today(board, date, start, end, now)
        return self.build(board, now, date, figures)

    def build(self, board: BoardSite, now: float, date: str, figures: AnswerFigures | None) -> dict[str, Any]:
        policy = board.policy
        views = [v for box in board.mailboxes for v in box.inquiries(now)]
        sources = sources_part(board.sources)
        return {
            "site": board.site,
            "sites": self.site_ids(),
            "at": now,
            "timezone": board.timezone,
            "business_open": board.calls.business_open(now),
            "policy": {
                "version": policy.version,
                "answer_within_rings": policy.answer_within_rings,
                "ring_cycle_s": board.ring_cycle_s,
                "answer_within_s": policy.answer_within_rings * board.ring_cycle_s,
                "max_hold_s": policy.max_hold_s,
                "at_risk_share": AT_RISK_SHARE,
            },
            "calls": calls_part(board.calls.live(now), policy),
            "today": today_part(date, figures, policy, board.short_abandon_s),
            "inquiries": inquiries_part(views),
            "sources": sources,
            "sources_down": [s["name"] for s in sources if not s["up"]],
        }

    async def _today(
        self, board: BoardSite, date: str, start: float, end: float, now: float
    ) -> AnswerFigures | None:
        if self._figures is None:
            return None
        cached = self._cache.setdefault(board.site, _Cached())
        async with cached.lock:  # one query per site at a time, however many boards are open
            if cached.date == date and now - cached.fetched_at < self.figures_ttl_s:
                return cached.figures
            try:
                figures = await asyncio.to_thread(
                    self._figures, board.site, start, end, board.short_abandon_s
                )
            except Exception:
                if not cached.failing:
                    log.exception("wallboard: today's figures for site %s could not be read", board.site)
                cached.failing = True
                figures = None
            else:
                cached.failing = False
            cached.date, cached.fetched_at, cached.figures = date, now, figures
            return figures


def change_key(snapshot: dict[str, Any]) -> str:
    """What must reach the board at once when it changes: counts, states, rings, levels and sources,
    not the durations that grow every instant (the page advances those itself)."""
    calls = snapshot["calls"]
    parts = [
        snapshot["site"],
        snapshot["business_open"],
        calls["waiting"]["count"],
        calls["waiting"]["level"],
        [(i["state"], i["rings"], i["level"]) for i in calls["ringing"]["items"]],
        [i["level"] for i in calls["on_hold"]["items"]],
        calls["talking"],
        {k: v for k, v in snapshot["today"].items()},
        {k: v for k, v in snapshot["inquiries"].items() if not k.endswith("_s")},
        [(s["name"], s["up"]) for s in snapshot["sources"]],
    ]
    return repr(parts)
