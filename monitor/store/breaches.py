"""SLA breaches: the latest evaluation of each (subject, standard) whose result is ``breached``, with
the key figures of its subject (the call or the inquiry).

"Latest" means the highest ``revision`` of the subject and standard, and no evaluation supersedes it
(``supersedes_seq`` = its ``chain_seq``): a breach corrected to ``met`` is no longer a breach, and a
corrected breach is listed once, as corrected. The query reads the columns the table has, so it also
works on a schema from before the evidence chain (migration 0003).
"""

from __future__ import annotations

import builtins
import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, exists, select
from sqlalchemy.orm import Session

from monitor.store.queries import newest_first_page, stream
from monitor.store.repository import encode_cursor
from monitor.store.tables import table

SubjectKind = str  # "call" | "inquiry"


@dataclass(frozen=True, slots=True)
class BreachFilter:
    """Breaches of subjects that started (call arrived, inquiry received) in ``[start, end)``.
    ``queue``, ``agent`` and ``outcome`` concern calls only, ``mailbox`` and ``kind`` inquiries only:
    giving one of them leaves the other kind of subject out."""

    site: str | None = None
    start: float | None = None
    end: float | None = None
    standard: str | None = None
    subject: SubjectKind | None = None
    queue: str | None = None
    agent: str | None = None
    outcome: str | None = None
    mailbox: str | None = None
    kind: str | None = None

    def wants_calls(self) -> bool:
        return self.subject in (None, "call") and self.mailbox is None and self.kind is None

    def wants_inquiries(self) -> bool:
        no_call_filter = self.queue is None and self.agent is None and self.outcome is None
        return self.subject in (None, "inquiry") and no_call_filter


def latest_only(ev: Table) -> builtins.list[ColumnElement[bool]]:
    """Conditions keeping only the evaluations in force (see the module docstring): no higher
    ``revision`` (or, before revisions existed, no later row) of the same subject and standard, and
    no row whose ``supersedes_seq`` points at this one's chain position."""
    later = ev.alias("later_evaluation")
    order = "revision" if "revision" in ev.c else "id"
    out: builtins.list[ColumnElement[bool]] = [
        ~exists().where(
            later.c.site == ev.c.site,
            later.c.subject_kind == ev.c.subject_kind,
            later.c.subject_id == ev.c.subject_id,
            later.c.standard == ev.c.standard,
            later.c[order] > ev.c[order],
        )
    ]
    position = "chain_seq" if "chain_seq" in ev.c else "seq"
    if "supersedes_seq" in ev.c and position in ev.c:
        superseding = ev.alias("superseding_evaluation")
        out.append(~exists().where(superseding.c.supersedes_seq == ev.c[position]))
    return out


def _evaluation_columns(ev: Table) -> builtins.list[Any]:
    return [
        ev.c.id.label("pk"),
        ev.c.site,
        ev.c.subject_kind,
        ev.c.subject_id,
        ev.c.standard,
        ev.c.result,
        ev.c.measured,
        ev.c.threshold,
        ev.c.policy_version,
        ev.c.evaluated_at,
    ]


def _common(ev: Table, f: BreachFilter, kind: str) -> builtins.list[ColumnElement[bool]]:
    out = [ev.c.subject_kind == kind, ev.c.result == "breached", *latest_only(ev)]
    if f.site is not None:
        out.append(ev.c.site == f.site)
    if f.standard is not None:
        out.append(ev.c.standard == f.standard)
    return out


def _period(at: Any, f: BreachFilter) -> builtins.list[ColumnElement[bool]]:
    out = []
    if f.start is not None:
        out.append(at >= f.start)
    if f.end is not None:
        out.append(at < f.end)
    return out


def call_breaches(f: BreachFilter) -> tuple[Select[Any], Any, Any]:
    ev, call = table("sla_evaluation"), table("call")
    c = call.c
    stmt = (
        select(
            *_evaluation_columns(ev),
            c.arrived_at.label("at"),
            c.caller_masked,
            c.queue,
            c.answered_by,
            c.outcome,
            c.direction,
            c.arrived_at,
            c.answered_at,
            c.ended_at,
            c.time_to_answer_s,
            c.rings_to_answer,
            c.queue_wait_s,
            c.hold_max_s,
        )
        .select_from(ev.join(call, c.id == ev.c.call_pk))
        .where(*_common(ev, f, "call"), *_period(c.arrived_at, f))
    )
    for column, value in ((c.queue, f.queue), (c.answered_by, f.agent), (c.outcome, f.outcome)):
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt, c.arrived_at, ev.c.id


def inquiry_breaches(f: BreachFilter) -> tuple[Select[Any], Any, Any]:
    ev, inquiry = table("sla_evaluation"), table("inquiry")
    i = inquiry.c
    stmt = (
        select(
            *_evaluation_columns(ev),
            i.received_at.label("at"),
            i.mailbox,
            i.kind,
            i.customer_masked,
            i.received_at,
            i.first_human_reply_at,
            i.reply_via,
            i.business_seconds_to_first_human_reply,
            i.allowance_s,
            i.deadline_at,
            i.status,
        )
        .select_from(ev.join(inquiry, (i.site == ev.c.site) & (i.inquiry_id == ev.c.subject_id)))
        .where(*_common(ev, f, "inquiry"), *_period(i.received_at, f))
    )
    for column, value in ((i.mailbox, f.mailbox), (i.kind, f.kind)):
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt, i.received_at, ev.c.id


class SqlBreachQueries:
    def __init__(self, session: Session) -> None:
        self._session = session

    def _parts(self, f: BreachFilter) -> builtins.list[tuple[Select[Any], Any, Any]]:
        parts = []
        if f.wants_calls():
            parts.append(call_breaches(f))
        if f.wants_inquiries():
            parts.append(inquiry_breaches(f))
        return parts

    def page(
        self, f: BreachFilter, limit: int = 100, cursor: str | None = None
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """Breach rows (dicts), newest subject first; calls and inquiries interleaved by time."""
        rows: builtins.list[Any] = []
        more = False
        for stmt, at, pk in self._parts(f):
            part, part_cursor = newest_first_page(self._session, stmt, at, pk, limit, cursor)
            rows.extend(part)
            more = more or part_cursor is not None
        rows.sort(key=lambda r: (r.at, r.pk), reverse=True)
        more = more or len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].at, rows[-1].pk, True) if more and rows else None
        return [dict(r._mapping) for r in rows], next_cursor

    def stream_rows(self, f: BreachFilter) -> Iterator[dict[str, Any]]:
        """Every matching breach (dicts), oldest subject first."""
        streams = [stream(self._session, stmt.order_by(at, pk)) for stmt, at, pk in self._parts(f)]
        for row in heapq.merge(*streams, key=lambda r: (r.at, r.pk)):
            yield dict(row._mapping)
