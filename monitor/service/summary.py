"""The SLA summary of a period: every component of the service level, per group, with the formula,
the policy versions involved and the monitoring gaps, so an auditor can recompute any figure.

Service level = answered within threshold / (answered + abandoned after the short-abandon threshold).
"Abandoned" is every caller who hung up unanswered (outcome ``abandoned``: while queued, ``missed``:
while ringing); those who did so within ``short_abandon_s`` of arriving are short abandons and left
out. Only inbound customer calls count. Voicemail, after-hours and failed calls are returned but in
neither term; other formulas can be computed from the components.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from monitor.config import ConfigError, Settings
from monitor.domain.periods import GRANULARITIES, Bucket, Granularity, buckets
from monitor.domain.policy import SlaPolicy
from monitor.store.queries import SqlCallQueries, SqlInquiryQueries
from monitor.store.repository import SqlGapRepository
from monitor.store.rollup import PolicyThresholds, roll_up
from monitor.store.summary import (
    CALL_COUNTS,
    CALL_SUMS,
    INQUIRY_COUNTS,
    Dimension,
    GroupFigures,
    SqlSummaryQueries,
    SummaryScope,
)
from monitor.views import iso

GroupBy = Literal["day", "week", "month", "queue", "agent", "mailbox"]
FORMULA = "service_level = answered_within_threshold / (answered + abandoned + missed - short_abandoned)"
FORMULA_TEXT = (
    "answered within threshold / (answered + abandoned after the short-abandon threshold); "
    "abandoned = callers who hung up unanswered while queued (abandoned) or ringing (missed); a short "
    "abandon hung up within short_abandon_s of arriving and counts in neither term"
)
DEFINITIONS: dict[str, str] = {
    "offered": "inbound customer calls that arrived in the period (every outcome)",
    "answered": "offered calls answered by a person (outcome answered)",
    "answered_within_threshold": "answered calls answered within the answer_within_rings ring cycles of "
    "their policy version (the answer_rings standard met)",
    "abandoned": "callers who hung up while queued",
    "missed": "callers who hung up while an advisor's phone rang (no queue)",
    "short_abandoned": "abandoned or missed calls that ended within short_abandon_s of arriving",
    "voicemail": "calls that ended in voicemail",
    "after_hours": "calls that arrived outside business hours (held to no standard)",
    "failed": "calls that failed before anyone could answer",
    "hold_breaches": "answered calls with an advisor hold longer than the policy's max_hold_s",
    "time_to_answer_s_sum": "sum of time_to_answer_s over answered calls (average speed of answer = "
    "time_to_answer_s_sum / answered)",
    "talk_s_sum": "sum of talk_s over answered calls",
    "received": "inquiries received in the period",
    "met": "inquiries whose first human reply came within the allowance",
    "breached": "inquiries whose business time exceeded the allowance (reply or not)",
    "open": "inquiries still without a reply and within the allowance, as last evaluated",
    "at_risk": "open inquiries with less than 25 % of the allowance left, as last evaluated",
}


@dataclass(frozen=True, slots=True)
class SummaryRequest:
    site: str | None
    start: float | None
    end: float
    group_by: GroupBy


@dataclass(frozen=True)
class SiteRules:
    """What the summary needs to know about sites: zone, short-abandon threshold, current policy."""

    zone: Callable[[str], ZoneInfo]
    short_abandon_s: Callable[[str], float]
    policy: Callable[[str], SlaPolicy | None] = field(default=lambda _site: None)


@dataclass(slots=True)
class _Group:
    site: str
    key: str | None
    bucket: Bucket | None
    zone: ZoneInfo
    calls: dict[str, float] | None
    inquiries: dict[str, float] | None
    versions: set[str] = field(default_factory=set)


def sla_summary(session: Session, request: SummaryRequest, rules: SiteRules) -> dict[str, Any]:
    """The summary of ``request`` (see ``SummaryPublic`` for the shape)."""
    calls_q, inquiries_q = SqlCallQueries(session), SqlInquiryQueries(session)
    if request.site is not None:
        sites = [request.site]
    else:
        sites = sorted(set(calls_q.sites()) | set(inquiries_q.sites()))
    start = request.start
    if start is None:
        start = _earliest(session, sites, request.end)
    summary = SqlSummaryQueries(session)
    known = _known_policies(summary.registered_policies(), sites, rules)
    by = request.group_by
    granularity = _granularity(by)
    call_dim: Dimension = (
        "bucket" if granularity else "queue" if by == "queue" else "agent" if by == "agent" else None
    )
    inquiry_dim: Dimension = "bucket" if granularity else "mailbox" if by == "mailbox" else None
    policies = _thresholds(known)
    groups: dict[tuple[str, str | None], _Group] = {}
    totals: dict[str, _Group] = {}
    cuts: dict[str, list[Bucket]] = {}
    zones: dict[str, ZoneInfo] = {}
    for zone_name, zone_sites in _by_zone(sites, rules).items():
        zone = ZoneInfo(zone_name)
        zone_cuts = buckets(start, request.end, granularity, zone) if granularity else []
        for site in zone_sites:
            zones[site], cuts[site] = zone, zone_cuts
            totals[site] = _Group(
                site, None, None, zone, _zeros(CALL_COUNTS, CALL_SUMS), _zeros(INQUIRY_COUNTS)
            )
            for b in zone_cuts:
                groups[(site, b.key)] = _Group(
                    site, b.key, b, zone, _zeros(CALL_COUNTS, CALL_SUMS), _zeros(INQUIRY_COUNTS)
                )
    # One query per part for every site at once: each site's rows find their bucket among the edges
    # of its own zone.
    base = SummaryScope(
        sites=sites,
        start=start,
        end=request.end,
        bounds={s: [c[0].start, *(b.end for b in c)] for s, c in cuts.items() if c},
        short_abandon_s={s: rules.short_abandon_s(s) for s in sites},
        policies=policies,
    )
    parts = (
        ("calls", call_dim, summary.call_groups(replace(base, dimension=call_dim)) if sites else []),
        (
            "inquiries",
            inquiry_dim,
            summary.inquiry_groups(replace(base, dimension=inquiry_dim)) if sites else [],
        ),
    )
    for part, dim, rows in parts:
        for row in rows:
            _add(totals[row.site], part, row)
            if dim is None:
                continue
            key = cuts[row.site][int(row.key) - 1].key if dim == "bucket" else row.key
            group = groups.get((row.site, key))
            if group is None:
                calls = _zeros(CALL_COUNTS, CALL_SUMS) if call_dim else None
                inquiries = _zeros(INQUIRY_COUNTS) if inquiry_dim else None
                group = groups[(row.site, key)] = _Group(
                    row.site, key, None, zones[row.site], calls, inquiries
                )
            _add(group, part, row)
    versions = sorted({(v, g.site) for g in totals.values() for v in g.versions})
    gaps = [g for g in SqlGapRepository(session).list(request.site, start, request.end) if g.site in sites]
    overall = _Group("", None, None, ZoneInfo("UTC"), _zeros(CALL_COUNTS, CALL_SUMS), _zeros(INQUIRY_COUNTS))
    for t in totals.values():
        _merge(overall, t)
    ordered = sorted(groups.values(), key=lambda g: (g.site, g.bucket.start if g.bucket else 0, g.key or ""))
    return {
        "site": request.site,
        "from": _iso(start, rules.zone(request.site) if request.site else ZoneInfo("UTC")),
        "to": _iso(request.end, rules.zone(request.site) if request.site else ZoneInfo("UTC")),
        "group_by": by,
        "formula": FORMULA,
        "formula_text": FORMULA_TEXT,
        "definitions": DEFINITIONS,
        "totals": _figures(overall),
        "sites": [
            {
                "site": s,
                "timezone": totals[s].zone.key,
                "short_abandon_s": rules.short_abandon_s(s),
                "totals": _figures(totals[s]),
            }
            for s in sorted(totals)
        ],
        "groups": [
            {
                "site": g.site,
                "key": g.key,
                "start": _iso(g.bucket.start, g.zone) if g.bucket else None,
                "end": _iso(g.bucket.end, g.zone) if g.bucket else None,
                **_figures(g),
            }
            for g in ordered
        ],
        "policy_versions": [{"site": s, "version": v, "policy": known.get(v)} for v, s in versions],
        "monitoring_gaps": [
            {
                "site": g.site,
                "source": g.source,
                "start": _iso(g.start, rules.zone(g.site)),
                "end": _iso(g.end, rules.zone(g.site)),
                "reason": g.reason,
            }
            for g in gaps
        ],
    }


def roll_up_calls(engine: Engine, settings: Settings, batch: int = 200_000, max_batches: int = 1000) -> int:
    """Bring the call rollup up to date, a batch per transaction; returns the calls' id span
    covered. What the daemon runs every housekeeping round (and the benchmark after loading)."""
    total = 0
    for _ in range(max_batches):
        with Session(engine) as session, session.begin():
            registered = SqlSummaryQueries(session).registered_policies()
            rules = SiteRules(
                zone=lambda _s: ZoneInfo("UTC"),
                short_abandon_s=settings.short_abandon_s,
                policy=lambda s: _policy_or_none(settings, s),
            )
            known = _known_policies(registered, [s.id for s in settings.site], rules)
            moved = roll_up(session, _thresholds(known), batch)
        if moved == 0:
            break
        total += moved
    return total


def _policy_or_none(settings: Settings, site: str) -> SlaPolicy | None:
    try:
        return settings.policy_for(site)
    except ConfigError:
        return None


def _thresholds(known: dict[str, dict[str, Any]]) -> dict[str, PolicyThresholds]:
    return {v: PolicyThresholds(p["answer_within_rings"], p["max_hold_s"]) for v, p in known.items()}


def _granularity(by: GroupBy) -> Granularity | None:
    for g in GRANULARITIES:
        if g == by:
            return g
    return None


def service_level(calls: dict[str, float]) -> float | None:
    denominator = calls["answered"] + calls["abandoned"] + calls["missed"] - calls["short_abandoned"]
    return round(calls["answered_within_threshold"] / denominator, 4) if denominator > 0 else None


def _figures(g: _Group) -> dict[str, Any]:
    inquiries = g.inquiries
    decided = inquiries["met"] + inquiries["breached"] if inquiries else 0
    return {
        "calls": g.calls,
        "inquiries": inquiries,
        "service_level": service_level(g.calls) if g.calls is not None else None,
        "inquiries_met_share": round(inquiries["met"] / decided, 4) if inquiries and decided else None,
        "policy_versions": sorted(g.versions),
    }


def _zeros(counts: Iterable[str], sums: Iterable[str] = ()) -> dict[str, float]:
    out: dict[str, float] = dict.fromkeys(counts, 0)
    out.update(dict.fromkeys(sums, 0.0))
    return out


def _add(group: _Group, part: str, row: GroupFigures) -> None:
    target = group.calls if part == "calls" else group.inquiries
    if target is None:
        return
    for k, v in row.figures.items():
        target[k] = round(target[k] + v, 3)
    if row.policy_version:
        group.versions.add(row.policy_version)


def _merge(into: _Group, other: _Group) -> None:
    for mine, theirs in ((into.calls, other.calls), (into.inquiries, other.inquiries)):
        if mine is not None and theirs is not None:
            for k, v in theirs.items():
                mine[k] = round(mine[k] + v, 3)
    into.versions |= other.versions


def _by_zone(sites: Iterable[str], rules: SiteRules) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for site in sites:
        out.setdefault(rules.zone(site).key, []).append(site)
    return out


def _earliest(session: Session, sites: list[str], end: float) -> float:
    found = [t for t in SqlSummaryQueries(session).earliest(sites) if t is not None]
    return min(min(found), end - 1.0) if found else end - 1.0


def _known_policies(
    registered: dict[tuple[str, str], dict[str, Any]], sites: Iterable[str], rules: SiteRules
) -> dict[str, dict[str, Any]]:
    """Policy version -> its thresholds: the registered versions, and each site's policy in force."""
    out: dict[str, dict[str, Any]] = {}
    for (version, _site), policy in sorted(registered.items()):
        if "answer_within_rings" in policy and "max_hold_s" in policy:
            out.setdefault(version, policy)
    for site in sites:
        current = rules.policy(site)
        if current is not None:
            out.setdefault(current.version, {k: v for k, v in asdict(current).items() if k != "version"})
    return out


def _iso(ts: float, zone: ZoneInfo) -> str:
    return iso(ts, zone) or ""
