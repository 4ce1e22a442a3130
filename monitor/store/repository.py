"""SQL repositories: call records (with legs, holds, transfers, evidence, SLA evaluations), monitoring
gaps and policy versions, on SQLite and PostgreSQL.

Repositories never commit; the caller owns the session's transaction. Writes are idempotent: calls,
gaps and policy versions are appended to the evidence chain (``monitor/store/chain.py``) under its
lock, after checking what is already stored by natural key, so re-processing the same events (a
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
from monitor.store.chain import ChainAppender
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
        table), appending the call, its evidence and its evaluations to the evidence chain; returns
        how many were new."""
        unique: dict[tuple[str, str], CompletedCall] = {}
        for completed in calls:
            unique.setdefault((completed.record.site, completed.record.call_id), completed)
        if not unique:
            return 0
        # Lock first: the check for stored calls and the append must be one step against other
        # writers, or two of them could both find a call new and chain it twice.
        chain = ChainAppender(self._session)
        stored = self._stored(unique)
        todo = [unique[key] for key in sorted(unique) if key not in stored]
        if not todo:
            return 0
        call = table("call")
        call_rows: builtins.list[dict[str, Any]] = []
        children: dict[str, builtins.list[dict[str, Any]]] = {
            "call_leg": [],
            "call_hold": [],
            "call_transfer": [],
            "call_evidence": [],
            "sla_evaluation": [],
        }
        owners: dict[str, builtins.list[tuple[str, str]]] = {name: [] for name in children}
        for completed in todo:
            r = completed.record
            # Each call's records are contiguous in the chain: the call, its evidence, its evaluations.
            call_rows.append(chain.link("call", _call_row(r)))
            thresholds = thresholds_for(r.site) if thresholds_for else {}
            mine = _children(completed, thresholds)
            for ev in mine["call_evidence"]:
                chain.link("call_evidence", ev, key=(r.site, r.call_id, ev["seq"]))
            for ev in mine["sla_evaluation"]:
                chain.link("sla_evaluation", ev, refs={"call": [r.site, r.call_id]})
            for name, rows in mine.items():
                children[name].extend(rows)
                owners[name].extend([(r.site, r.call_id)] * len(rows))
        stmt = call.insert().returning(call.c.id, call.c.site, call.c.call_id)
        # Plain INSERT: under the chain lock nothing else can have stored these calls, and a conflict
        # must fail the batch (a silently skipped row would leave a hole in the chain).
        pks = {(site, call_id): pk for pk, site, call_id in self._session.execute(stmt, call_rows)}
        for name, child_rows in children.items():
            if not child_rows:
                continue
            for row, owner in zip(child_rows, owners[name], strict=True):
                row["call_pk"] = pks[owner]
            self._session.execute(table(name).insert(), child_rows)
        chain.close()
        return len(todo)

    def _stored(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        call = table("call")
        wanted = sorted(keys)
        found: set[tuple[str, str]] = set()
        for i in range(0, len(wanted), 500):  # bounded bind parameters per statement
            ids = {call_id for _, call_id in wanted[i : i + 500]}
            stmt = select(call.c.site, call.c.call_id).where(call.c.call_id.in_(ids))
            found.update((site, call_id) for site, call_id in self._session.execute(stmt))
        return found & set(wanted)

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
        """Store gaps not stored yet (per site, source and start; the first one stored wins), chained."""
        unique: dict[tuple[str, str, float], MonitoringGap] = {}
        for g in gaps:
            unique.setdefault((g.site, g.source, g.start), g)
        if not unique:
            return 0
        chain = ChainAppender(self._session)
        gap = table("monitoring_gap")
        starts = {start for _, _, start in unique}
        stored = {
            (site, source, start)
            for site, source, start in self._session.execute(
                select(gap.c.site, gap.c.source, gap.c.start).where(gap.c.start.in_(starts))
            )
        }
        rows = [
            chain.link(
                "monitoring_gap",
                {"site": g.site, "source": g.source, "start": g.start, "end": g.end, "reason": g.reason},
            )
            for key, g in sorted(unique.items())
            if key not in stored
        ]
        if rows:
            self._session.execute(gap.insert(), rows)
        chain.close()
        return len(rows)

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
        """Register a policy version (chained); False if this version is already registered for the
        site: a version names one policy for good."""
        chain = ChainAppender(self._session)
        if self.get(version, site) is not None:
            return False
        row = {
            "version": version,
            "site": site,
            "policy_json": json.dumps(dict(policy), sort_keys=True),
            "created_at": created_at,
        }
        self._session.execute(table("policy_version").insert(), [chain.link("policy_version", row)])
        chain.close()
        return True

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


def _children(
    completed: CompletedCall, thresholds: Mapping[str, float]
) -> dict[str, builtins.list[dict[str, Any]]]:
    """The rows that belong to one call, per table, without ``call_pk`` (known once the call is
    inserted)."""
    r = completed.record
    out: dict[str, builtins.list[dict[str, Any]]] = {}
    out["call_leg"] = [
        {
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
        for i, leg in enumerate(r.legs)
    ]
    out["call_hold"] = [
        {"ordinal": i, "start": h.start, "end": h.end, "s": h.s, "by": h.by} for i, h in enumerate(r.holds)
    ]
    out["call_transfer"] = [
        {"ordinal": i, "kind": tr.kind, "from_agent": tr.from_agent, "to_agent": tr.to, "at": tr.at}
        for i, tr in enumerate(r.transfers)
    ]
    out["call_evidence"] = [
        {"seq": seq, "t": ev.t, "kind": ev.kind, "raw": ev.raw} for seq, ev in enumerate(completed.evidence)
    ]
    evaluations = []
    for standard, result in r.sla.items():
        measure = _MEASURED.get(standard)
        evaluations.append(
            {
                "site": r.site,
                "subject_kind": "call",
                "subject_id": r.call_id,
                "standard": standard,
                "revision": 0,
                "supersedes_seq": None,
                "result": result,
                "measured": measure(r) if measure else None,
                "threshold": thresholds.get(standard),
                "policy_version": r.policy_version,
                # Calls are evaluated when they end; using that instant keeps replays deterministic.
                "evaluated_at": r.ended_at,
            }
        )
    out["sla_evaluation"] = evaluations
    return out
