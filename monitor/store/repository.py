"""SQL repositories: call records (with legs, holds, transfers, evidence, SLA evaluations), monitoring
gaps and policy versions, on SQLite and PostgreSQL.

Repositories never commit; the caller owns the session's transaction. Writes are idempotent through
``INSERT .. ON CONFLICT DO NOTHING`` on each table's natural key, so re-processing the same events (a
replay, a retried batch) never duplicates anything, even when two writers race.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Insert, Table, and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.domain.calls import CallRecord, CompletedCall, Evidence
from monitor.domain.events import MonitoringGap
from monitor.service.ports import CallDict, CallPage, InvalidCursor
from monitor.store.tables import table

# Standard name -> how to read the measured figure off a record, in the unit of its threshold.
_MEASURED: dict[str, Callable[[CallRecord], float | None]] = {
    "answer_rings": lambda r: None if r.rings_to_answer is None else float(r.rings_to_answer),
    "hold": lambda r: r.hold_max_s if r.answered_at is not None else None,
}

ThresholdsFor = Callable[[str], Mapping[str, float]]
"""Site -> thresholds per standard, in the standard's unit (e.g. ``{"answer_rings": 3, "hold": 30}``)."""


def insert_ignoring_duplicates(session: Session, tbl: Table, key: Sequence[str]) -> Insert:
    """``INSERT .. ON CONFLICT (key) DO NOTHING`` in the session's dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(tbl).on_conflict_do_nothing(index_elements=list(key))
    if dialect == "sqlite":
        return sqlite.insert(tbl).on_conflict_do_nothing(index_elements=list(key))
    raise NotImplementedError(f"unsupported database dialect {dialect!r}")


class SqlCallRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, completed: CompletedCall, thresholds: Mapping[str, float] | None = None) -> bool:
        fixed = dict(thresholds or {})
        return self.add_many([completed], lambda _site: fixed) == 1

    def add_many(self, calls: Iterable[CompletedCall], thresholds_for: ThresholdsFor | None = None) -> int:
        """Store every call not stored yet, in a few statements whatever the batch size (one per
        table); returns how many were new."""
        unique: dict[tuple[str, str], CompletedCall] = {}
        for completed in calls:
            unique.setdefault((completed.record.site, completed.record.call_id), completed)
        if not unique:
            return 0
        call = table("call")
        stmt = insert_ignoring_duplicates(self._session, call, ("site", "call_id")).returning(
            call.c.id, call.c.site, call.c.call_id
        )
        # Inserting in one global key order means concurrent writers take the unique-index locks in the
        # same order, so PostgreSQL cannot deadlock them against each other.
        rows = [_call_row(unique[key].record) for key in sorted(unique)]
        # Only rows actually inserted come back, so duplicates get no children.
        new = {(site, call_id): pk for pk, site, call_id in self._session.execute(stmt, rows)}
        if not new:
            return 0
        children: dict[str, builtins.list[dict[str, Any]]] = {
            "call_leg": [],
            "call_hold": [],
            "call_transfer": [],
            "call_evidence": [],
            "sla_evaluation": [],
        }
        for key, pk in new.items():
            completed = unique[key]
            thresholds = thresholds_for(key[0]) if thresholds_for else {}
            _collect_children(children, pk, completed, thresholds)
        for name, child_rows in children.items():
            if not child_rows:
                continue
            stmt_child: Insert = table(name).insert()
            if name == "sla_evaluation":
                # An evaluation may already exist for the subject (written by a re-evaluation).
                key_cols = ("site", "subject_kind", "subject_id", "standard")
                stmt_child = insert_ignoring_duplicates(self._session, table(name), key_cols)
            self._session.execute(stmt_child, child_rows)
        return len(new)

    def get(self, site: str, call_id: str) -> tuple[CallDict, builtins.list[Evidence]] | None:
        call = table("call")
        found = self._session.execute(
            select(call.c.id, call.c.record_json).where(call.c.site == site, call.c.call_id == call_id)
        ).first()
        if found is None:
            return None
        ev = table("call_evidence")
        evidence = [
            Evidence(t=t, kind=kind, raw=raw)
            for t, kind, raw in self._session.execute(
                select(ev.c.t, ev.c.kind, ev.c.raw).where(ev.c.call_pk == found.id).order_by(ev.c.seq)
            )
        ]
        return json.loads(found.record_json), evidence

    def answered_outbound(self, site: str, since: float | None = None) -> builtins.list[tuple[str, float]]:
        """(customer number key, answered_at) of answered outbound calls: replies to "please call me"."""
        call = table("call")
        stmt = select(call.c.caller_key, call.c.answered_at).where(
            call.c.site == site, call.c.direction == "outbound", call.c.answered_at.is_not(None)
        )
        if since is not None:
            stmt = stmt.where(call.c.arrived_at >= since)
        return [(str(k), float(t)) for k, t in self._session.execute(stmt)]

    def sites_with(self, call_id: str) -> builtins.list[str]:
        """Sites that stored a call with this id (ids are unique per site, not across sites)."""
        call = table("call")
        return [r[0] for r in self._session.execute(select(call.c.site).where(call.c.call_id == call_id))]

    def count(self, site: str | None = None) -> int:
        call = table("call")
        stmt = select(func.count()).select_from(call)
        if site is not None:
            stmt = stmt.where(call.c.site == site)
        return int(self._session.execute(stmt).scalar_one())

    def list(
        self,
        site: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 100,
        after: str | None = None,
        *,
        newest_first: bool = False,
    ) -> CallPage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        call = table("call")
        arrived, pk = call.c.arrived_at, call.c.id
        conditions: builtins.list[ColumnElement[bool]] = []
        if site is not None:
            conditions.append(call.c.site == site)
        if start is not None:
            conditions.append(arrived >= start)
        if end is not None:
            conditions.append(arrived < end)
        if after is not None:
            at, last = decode_cursor(after, newest_first)
            # Spelled out rather than a row-value comparison so SQLite uses the index on both columns.
            if newest_first:
                conditions.append(or_(arrived < at, and_(arrived == at, pk < last)))
            else:
                conditions.append(or_(arrived > at, and_(arrived == at, pk > last)))
        order = (arrived.desc(), pk.desc()) if newest_first else (arrived.asc(), pk.asc())
        stmt = select(pk, arrived, call.c.record_json).where(*conditions).order_by(*order).limit(limit + 1)
        rows = self._session.execute(stmt).all()
        more = len(rows) > limit
        rows = rows[:limit]
        items = [json.loads(r.record_json) for r in rows]
        cursor = encode_cursor(rows[-1].arrived_at, rows[-1].id, newest_first) if more else None
        return CallPage(items=items, next_cursor=cursor)


class SqlGapRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, gap: MonitoringGap) -> bool:
        return self.add_many([gap]) == 1

    def add_many(self, gaps: Iterable[MonitoringGap]) -> int:
        rows = [
            {"site": g.site, "source": g.source, "start": g.start, "end": g.end, "reason": g.reason}
            for g in gaps
        ]
        if not rows:
            return 0
        gap = table("monitoring_gap")
        stmt = insert_ignoring_duplicates(self._session, gap, ("site", "source", "start")).returning(gap.c.id)
        return len(self._session.execute(stmt, rows).all())

    def list(
        self, site: str | None = None, start: float | None = None, end: float | None = None
    ) -> builtins.list[MonitoringGap]:
        gap = table("monitoring_gap")
        stmt = select(gap.c.source, gap.c.site, gap.c.start, gap.c.end, gap.c.reason)
        if site is not None:
            stmt = stmt.where(gap.c.site == site)
        if start is not None:
            stmt = stmt.where(gap.c.end > start)
        if end is not None:
            stmt = stmt.where(gap.c.start < end)
        stmt = stmt.order_by(gap.c.start, gap.c.site, gap.c.source)
        return [MonitoringGap(*row) for row in self._session.execute(stmt)]


class SqlPolicyRepository:
    """The policy text behind each ``policy_version`` per site (first registration wins)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, version: str, site: str, policy: Mapping[str, Any], created_at: float) -> bool:
        pv = table("policy_version")
        row = {
            "version": version,
            "site": site,
            "policy_json": json.dumps(dict(policy), sort_keys=True),
            "created_at": created_at,
        }
        stmt = insert_ignoring_duplicates(self._session, pv, ("version", "site")).returning(pv.c.id)
        return self._session.execute(stmt, row).first() is not None

    def get(self, version: str, site: str) -> dict[str, Any] | None:
        pv = table("policy_version")
        text = self._session.execute(
            select(pv.c.policy_json).where(pv.c.version == version, pv.c.site == site)
        ).scalar_one_or_none()
        return None if text is None else dict(json.loads(text))


def encode_cursor(arrived_at: float, pk: int, newest_first: bool) -> str:
    body = json.dumps(["d" if newest_first else "a", arrived_at, pk], separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, newest_first: bool) -> tuple[float, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        direction, arrived_at, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidCursor("malformed cursor") from exc
    if direction != ("d" if newest_first else "a"):
        raise InvalidCursor("cursor belongs to a listing in the other order")
    if not isinstance(arrived_at, int | float) or not isinstance(pk, int):
        raise InvalidCursor("malformed cursor")
    return float(arrived_at), pk


def _call_row(r: CallRecord) -> dict[str, Any]:
    return {
        "site": r.site,
        "call_id": r.call_id,
        "direction": r.direction,
        # The record carries only the masked number; the clear one never reaches the store.
        "caller_masked": r.caller,
        "caller_key": r.caller_key,
        "dialed": r.dialed,
        "queue": r.queue,
        "arrived_at": r.arrived_at,
        "answered_at": r.answered_at,
        "ended_at": r.ended_at,
        "outcome": r.outcome,
        "answered_by": r.answered_by,
        "time_to_answer_s": r.time_to_answer_s,
        "rings_to_answer": r.rings_to_answer,
        "queue_wait_s": r.queue_wait_s,
        "hold_total_s": r.hold_total_s,
        "hold_max_s": r.hold_max_s,
        "talk_s": r.talk_s,
        "policy_version": r.policy_version,
        "approximate": r.approximate,
        "closed_reason": r.closed_reason,
        "record_json": json.dumps(r.to_dict(), separators=(",", ":")),
    }


def _collect_children(
    out: dict[str, builtins.list[dict[str, Any]]],
    pk: int,
    completed: CompletedCall,
    thresholds: Mapping[str, float],
) -> None:
    r = completed.record
    for i, leg in enumerate(r.legs):
        out["call_leg"].append(
            {
                "call_pk": pk,
                "ordinal": i,
                "agent": leg.agent,
                "channel_id": leg.channel_id,
                "queue": leg.queue,
                "began_at": leg.began_at,
                "ringing_at": leg.ringing_at,
                "answered_at": leg.answered_at,
                "ended_at": leg.ended_at,
                "ring_s": leg.ring_s,
                "reached_ringing": leg.reached_ringing,
                "answered": leg.answered,
                "status": leg.status,
            }
        )
    for i, h in enumerate(r.holds):
        out["call_hold"].append(
            {"call_pk": pk, "ordinal": i, "start": h.start, "end": h.end, "s": h.s, "by": h.by}
        )
    for i, tr in enumerate(r.transfers):
        out["call_transfer"].append(
            {
                "call_pk": pk,
                "ordinal": i,
                "kind": tr.kind,
                "from_agent": tr.from_agent,
                "to_agent": tr.to,
                "at": tr.at,
            }
        )
    for seq, ev in enumerate(completed.evidence):
        out["call_evidence"].append({"call_pk": pk, "seq": seq, "t": ev.t, "kind": ev.kind, "raw": ev.raw})
    for standard, result in r.sla.items():
        measure = _MEASURED.get(standard)
        out["sla_evaluation"].append(
            {
                "call_pk": pk,
                "site": r.site,
                "subject_kind": "call",
                "subject_id": r.call_id,
                "standard": standard,
                "result": result,
                "measured": measure(r) if measure else None,
                "threshold": thresholds.get(standard),
                "policy_version": r.policy_version,
                # Calls are evaluated when they end; using that instant keeps replays deterministic.
                "evaluated_at": r.ended_at,
            }
        )
