"""SLA summary figures, aggregated by the database (one GROUP BY per query, never row by row here).

Calls are counted from the ``call`` table: whether a call was answered within the threshold (or held
too long) follows from its stored figures (``rings_to_answer``, ``hold_max_s``) and the thresholds
of its ``policy_version`` - the rule of ``monitor.domain.policy.evaluate_call``, on fields that are
chained evidence. For a version whose thresholds are not known here, the call's recorded evaluation
decides (one index probe per such call). So on PostgreSQL a month of a busy site is read from one
covering index (``ix_call_site_arrived_at_id`` with INCLUDE columns, migration 0004) without
touching the wide rows. Time buckets come in as their bounds (local midnights computed by
:mod:`monitor.domain.periods`); the database only finds each row's bucket (``width_bucket`` on
PostgreSQL, a binary CASE tree on SQLite).
"""

from __future__ import annotations

import builtins
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, Float, and_, bindparam, case, func, literal, null, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from monitor.store.rollup import SLOT_S, PolicyThresholds, hold_breached, watermark, within_threshold
from monitor.store.tables import table

CALL_COUNTS = (
    "offered",
    "answered",
    "answered_within_threshold",
    "abandoned",
    "missed",
    "short_abandoned",
    "voicemail",
    "after_hours",
    "failed",
    "hold_breaches",
)
CALL_SUMS = ("time_to_answer_s_sum", "talk_s_sum")
INQUIRY_COUNTS = ("received", "met", "breached", "open", "at_risk")
ABANDONED_OUTCOMES = ("abandoned", "missed")
OUTCOME_COUNTS = ("answered", "abandoned", "missed", "voicemail", "after_hours", "failed")

Dimension = Literal["bucket", "queue", "agent", "mailbox"] | None


@dataclass(frozen=True, slots=True)
class SummaryScope:
    """What to aggregate: these sites' subjects that started in ``[start, end)``, grouped by bucket
    (``bounds`` = each site's n+1 bucket edges, epoch seconds: sites of different time zones have
    different ones), queue, agent, mailbox, or not at all."""

    sites: Sequence[str]
    start: float
    end: float
    dimension: Dimension = None
    bounds: Mapping[str, Sequence[float]] = field(default_factory=dict)
    short_abandon_s: Mapping[str, float] = field(default_factory=dict)
    default_short_abandon_s: float = 5.0
    policies: Mapping[str, PolicyThresholds] = field(default_factory=dict)  # by policy version


@dataclass(slots=True)
class GroupFigures:
    """Counts of one (site, group key, policy version); ``key`` is a bucket index (1..n), a queue, an
    agent, a mailbox, or None."""

    site: str
    key: Any
    policy_version: str
    figures: dict[str, float]


def bucket_index(
    column: Any, site: Any, bounds: Mapping[str, Sequence[float]], dialect: str
) -> ColumnElement[Any]:
    """1..n for ``bounds[site][i-1] <= column < bounds[site][i]`` (rows are already inside their
    site's bounds). Sites sharing a zone share one expression; several zones make a CASE on site."""
    by_edges: dict[tuple[float, ...], builtins.list[str]] = {}
    for name, edges in sorted(bounds.items()):
        by_edges.setdefault(tuple(edges), []).append(name)
    branches = []
    for n, (edges, names) in enumerate(by_edges.items()):
        if dialect == "postgresql":
            param = bindparam(f"bucket_edges_{n}", list(edges), type_=postgresql.ARRAY(Float))
            expr: Any = func.width_bucket(column, param)
        else:
            expr = _case_tree(column, edges, 1, len(edges) - 1)
        branches.append((site.in_(names), expr))
    if len(branches) == 1:
        return branches[0][1]  # type: ignore[no-any-return]
    return case(*branches)


def _case_tree(column: Any, bounds: Sequence[float], lo: int, hi: int) -> ColumnElement[Any]:
    # Buckets lo..hi; bucket i spans [bounds[i-1], bounds[i]). log2(n) comparisons per row.
    if lo == hi:
        return literal(lo)
    mid = (lo + hi) // 2
    return case(
        (column < bounds[mid], _case_tree(column, bounds, lo, mid)),
        else_=_case_tree(column, bounds, mid + 1, hi),
    )


class SqlSummaryQueries:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._dialect = session.get_bind().dialect.name

    def call_groups(self, scope: SummaryScope) -> builtins.list[GroupFigures]:
        """Inbound customer calls only (outbound and internal calls are offered to nobody): whole
        15-minute slots from the rollup, the rest (the period's ragged edges, calls stored since the
        last rollup pass, and every agent grouping) from ``call``."""
        last = watermark(self._session)
        first_slot = math.ceil(scope.start / SLOT_S) * SLOT_S
        last_slot = math.floor(scope.end / SLOT_S) * SLOT_S
        if last == 0 or scope.dimension == "agent" or first_slot >= last_slot:
            return self._raw_calls(scope, scope.start, scope.end)
        c = table("call").c
        return [
            *self._rolled_calls(scope, first_slot, last_slot),
            *self._raw_calls(scope, scope.start, first_slot, c.id <= last),
            *self._raw_calls(scope, last_slot, scope.end, c.id <= last),
            *self._raw_calls(scope, scope.start, scope.end, c.id > last),
        ]

    def _short_limits(self, scope: SummaryScope, site: Any) -> Any:
        """Each site's short-abandon threshold in whole seconds (see ``rollup.wait_of``)."""
        limits = {
            s: math.floor(scope.short_abandon_s.get(s, scope.default_short_abandon_s)) for s in scope.sites
        }
        if len(set(limits.values())) <= 1:
            return literal(next(iter(limits.values()), math.floor(scope.default_short_abandon_s)))
        return case(limits, value=site, else_=math.floor(scope.default_short_abandon_s))

    def _rolled_calls(self, scope: SummaryScope, start: float, end: float) -> builtins.list[GroupFigures]:
        c = table("call_slot").c
        if scope.dimension == "bucket":
            key: Any = bucket_index(c.slot_start, c.site, scope.bounds, self._dialect)
        elif scope.dimension == "queue":
            key = func.nullif(c.queue, "")
        else:
            key = null()
        short = self._short_limits(scope, c.site)
        # Grouped by outcome too, with six sums instead of a filtered sum per component (half the
        # per-row work); the outcome rows are folded into the components here, a handful per group.
        inner = (
            select(*c, key.label("g"), (c.wait_s <= short).label("short"))
            .where(c.site.in_(list(scope.sites)), c.slot_start >= start, c.slot_start < end)
            .subquery()
        )
        i = inner.c
        stmt = select(
            i.site,
            i.g,
            i.policy_version,
            i.outcome,
            func.sum(i.calls).label("calls"),
            func.sum(i.within).label("within"),
            func.coalesce(func.sum(i.calls).filter(i.short), 0).label("short"),
            func.sum(i.hold_breaches).label("hold_breaches"),
            func.sum(i.time_to_answer_s_sum).label("time_to_answer_s_sum"),
            func.sum(i.talk_s_sum).label("talk_s_sum"),
        ).group_by(i.site, i.g, i.policy_version, i.outcome)
        folded: dict[tuple[str, Any, str], GroupFigures] = {}
        for row in self._session.execute(stmt):
            m = row._mapping
            group_key = (str(m["site"]), m["g"], str(m["policy_version"] or ""))
            group = folded.get(group_key)
            if group is None:
                group = folded[group_key] = GroupFigures(
                    *group_key, dict.fromkeys((*CALL_COUNTS, *CALL_SUMS), 0)
                )
            f, calls, outcome = group.figures, int(m["calls"] or 0), str(m["outcome"])
            f["offered"] += calls
            if outcome in OUTCOME_COUNTS:
                f[outcome] += calls
            if outcome in ABANDONED_OUTCOMES:
                f["short_abandoned"] += int(m["short"] or 0)
            f["answered_within_threshold"] += int(m["within"] or 0)
            f["hold_breaches"] += int(m["hold_breaches"] or 0)
            for k in CALL_SUMS:
                f[k] = round(f[k] + float(m[k] or 0.0), 3)
        return list(folded.values())

    def _raw_calls(
        self, scope: SummaryScope, start: float, end: float, *only: ColumnElement[bool]
    ) -> builtins.list[GroupFigures]:
        if end <= start:
            return []
        call = table("call")
        c = call.c
        if scope.dimension == "bucket":
            key: Any = bucket_index(c.arrived_at, c.site, scope.bounds, self._dialect)
        elif scope.dimension == "queue":
            key = c.queue
        elif scope.dimension == "agent":
            key = c.answered_by
        else:
            key = null()
        answered = c.outcome == "answered"
        inner = (
            select(
                c.site,
                key.label("g"),
                c.policy_version,
                c.outcome,
                and_(answered, within_threshold(c, scope.policies)).label("within"),
                and_(answered, hold_breached(c, scope.policies)).label("hold_breached"),
                c.time_to_answer_s,
                c.talk_s,
                (c.ended_at - c.arrived_at <= self._short_limits(scope, c.site)).label("short"),
            )
            .where(
                c.site.in_(list(scope.sites)),
                c.arrived_at >= start,
                c.arrived_at < end,
                c.direction == "inbound",
                *only,
            )
            .subquery()
        )
        i = inner.c
        outcome = i.outcome
        n = func.count
        stmt = select(
            i.site,
            i.g,
            i.policy_version,
            n().label("offered"),
            n().filter(outcome == "answered").label("answered"),
            n().filter(i.within).label("answered_within_threshold"),
            n().filter(outcome == "abandoned").label("abandoned"),
            n().filter(outcome == "missed").label("missed"),
            n().filter(and_(outcome.in_(ABANDONED_OUTCOMES), i.short)).label("short_abandoned"),
            n().filter(outcome == "voicemail").label("voicemail"),
            n().filter(outcome == "after_hours").label("after_hours"),
            n().filter(outcome == "failed").label("failed"),
            n().filter(i.hold_breached).label("hold_breaches"),
            func.coalesce(func.sum(i.time_to_answer_s), 0.0).label("time_to_answer_s_sum"),
            func.coalesce(func.sum(i.talk_s), 0.0).label("talk_s_sum"),
        ).group_by(i.site, i.g, i.policy_version)
        return [self._group(row, CALL_COUNTS, CALL_SUMS) for row in self._session.execute(stmt)]

    def inquiry_groups(self, scope: SummaryScope) -> builtins.list[GroupFigures]:
        inquiry = table("inquiry")
        c = inquiry.c
        if scope.dimension == "bucket":
            key: Any = bucket_index(c.received_at, c.site, scope.bounds, self._dialect)
        elif scope.dimension == "mailbox":
            key = c.mailbox
        else:
            key = null()
        inner = (
            select(c.site, key.label("g"), c.policy_version, c.status, c.at_risk)
            .where(
                c.site.in_(list(scope.sites)),
                c.received_at >= scope.start,
                c.received_at < scope.end,
            )
            .subquery()
        )
        i = inner.c
        n = func.count
        stmt = select(
            i.site,
            i.g,
            i.policy_version,
            n().label("received"),
            n().filter(i.status == "met").label("met"),
            n().filter(i.status == "breached").label("breached"),
            n().filter(i.status == "open").label("open"),
            n().filter(and_(i.status == "open", i.at_risk.is_(True))).label("at_risk"),
        ).group_by(i.site, i.g, i.policy_version)
        return [self._group(row, INQUIRY_COUNTS, ()) for row in self._session.execute(stmt)]

    @staticmethod
    def _group(row: Any, counts: Sequence[str], sums: Sequence[str]) -> GroupFigures:
        m = row._mapping
        figures: dict[str, float] = {k: int(m[k] or 0) for k in counts}
        figures.update({k: round(float(m[k] or 0.0), 3) for k in sums})
        return GroupFigures(str(m["site"]), m["g"], str(m["policy_version"] or ""), figures)

    def earliest(self, sites: Sequence[str]) -> builtins.list[float | None]:
        """The first call arrival and inquiry receipt of each site (one index probe each)."""
        call, inquiry = table("call"), table("inquiry")
        out: builtins.list[float | None] = []
        for site in sites:
            for column, site_column in (
                (call.c.arrived_at, call.c.site),
                (inquiry.c.received_at, inquiry.c.site),
            ):
                out.append(
                    self._session.execute(select(func.min(column)).where(site_column == site)).scalar()
                )
        return out

    def registered_policies(self) -> dict[tuple[str, str], dict[str, Any]]:
        """``(version, site) -> policy`` of every registered policy version (a small table)."""
        pv = table("policy_version")
        rows = self._session.execute(select(pv.c.version, pv.c.site, pv.c.policy_json))
        return {(str(v), str(s)): dict(json.loads(text)) for v, s, text in rows}
