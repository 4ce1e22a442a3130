"""Read-side queries over stored calls and inquiries: filtered keyset pages for the API and
constant-memory streams for exports.

Pages walk ``(time, id)`` newest first with an opaque cursor (the same cursor format as
:meth:`SqlCallRepository.list`); streams walk oldest first through a server-side cursor on
PostgreSQL (``yield_per``), so an export of a million calls holds one batch of rows at a time.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, Table, and_, or_, select, text
from sqlalchemy.orm import Session

from monitor.service.ports import CallPage
from monitor.store.repository import decode_cursor, encode_cursor
from monitor.store.tables import table

STREAM_BATCH = 1000


@dataclass(frozen=True, slots=True)
class CallFilter:
    """Calls with ``start <= arrived_at < end`` and the given attributes (None: any)."""

    site: str | None = None
    start: float | None = None
    end: float | None = None
    queue: str | None = None
    agent: str | None = None  # the advisor who answered (``answered_by``)
    outcome: str | None = None
    direction: str | None = None


@dataclass(frozen=True, slots=True)
class InquiryFilter:
    """Inquiries with ``start <= received_at < end`` and the given attributes (None: any)."""

    site: str | None = None
    start: float | None = None
    end: float | None = None
    mailbox: str | None = None
    kind: str | None = None
    status: str | None = None
    at_risk: bool | None = None


def call_conditions(call: Table, f: CallFilter) -> builtins.list[ColumnElement[bool]]:
    c = call.c
    out: builtins.list[ColumnElement[bool]] = []
    for column, value in (
        (c.site, f.site),
        (c.queue, f.queue),
        (c.answered_by, f.agent),
        (c.outcome, f.outcome),
        (c.direction, f.direction),
    ):
        if value is not None:
            out.append(column == value)
    if f.start is not None:
        out.append(c.arrived_at >= f.start)
    if f.end is not None:
        out.append(c.arrived_at < f.end)
    return out


def inquiry_conditions(inquiry: Table, f: InquiryFilter) -> builtins.list[ColumnElement[bool]]:
    c = inquiry.c
    out: builtins.list[ColumnElement[bool]] = []
    for column, value in ((c.site, f.site), (c.mailbox, f.mailbox), (c.kind, f.kind), (c.status, f.status)):
        if value is not None:
            out.append(column == value)
    if f.at_risk is not None:
        out.append(c.at_risk.is_(True) if f.at_risk else c.at_risk.is_(False))
    if f.start is not None:
        out.append(c.received_at >= f.start)
    if f.end is not None:
        out.append(c.received_at < f.end)
    return out


def after_cursor(at: Any, pk: Any, cursor: str) -> ColumnElement[bool]:
    """Rows strictly after ``cursor`` in newest-first ``(at, pk)`` order. The redundant ``at <= when``
    is what both databases can use as an index bound (neither bounds a scan with the OR alone, and
    SQLite does not with a row-value comparison), so a deep page costs what the first one does."""
    when, last = decode_cursor(cursor, newest_first=True)
    return and_(at <= when, or_(at < when, pk < last))


def newest_first_page(
    session: Session, stmt: Select[Any], at: Any, pk: Any, limit: int, cursor: str | None
) -> tuple[builtins.list[Row[Any]], str | None]:
    """One page of ``stmt`` (which must select ``at`` and ``pk`` labelled ``at`` and ``pk``)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if cursor is not None:
        stmt = stmt.where(after_cursor(at, pk, cursor))
    rows = builtins.list(session.execute(stmt.order_by(at.desc(), pk.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1].at, rows[-1].pk, True) if more else None)


def stream(session: Session, stmt: Select[Any]) -> Iterator[Row[Any]]:
    """Rows of ``stmt`` a batch at a time (a server-side cursor on PostgreSQL)."""
    yield from session.execute(stmt.execution_options(yield_per=STREAM_BATCH))


class SqlCallQueries:
    def __init__(self, session: Session) -> None:
        self._session = session

    def page(self, f: CallFilter, limit: int = 100, cursor: str | None = None) -> CallPage:
        """Call records (CONTRACTS section 4), newest first."""
        call = table("call")
        at, pk = call.c.arrived_at, call.c.id
        stmt = select(pk.label("pk"), at.label("at"), call.c.record_json).where(*call_conditions(call, f))
        rows, next_cursor = newest_first_page(self._session, stmt, at, pk, limit, cursor)
        return CallPage([json.loads(r.record_json) for r in rows], next_cursor)

    def stream_rows(self, f: CallFilter) -> Iterator[Row[Any]]:
        """Every matching call row (all columns of ``call``), oldest first."""
        call = table("call")
        stmt = select(call).where(*call_conditions(call, f)).order_by(call.c.arrived_at, call.c.id)
        return stream(self._session, stmt)

    def sites(self) -> builtins.list[str]:
        """The sites that stored calls, one index probe per site (a loose index scan)."""
        return _distinct_sites(self._session, "call")


class SqlInquiryQueries:
    def __init__(self, session: Session) -> None:
        self._session = session

    def page(
        self, f: InquiryFilter, limit: int = 100, cursor: str | None = None
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """Inquiry rows (all columns of ``inquiry``, as dicts), newest first."""
        inquiry = table("inquiry")
        at, pk = inquiry.c.received_at, inquiry.c.id
        stmt = select(inquiry, pk.label("pk"), at.label("at")).where(*inquiry_conditions(inquiry, f))
        rows, next_cursor = newest_first_page(self._session, stmt, at, pk, limit, cursor)
        return [dict(r._mapping) for r in rows], next_cursor

    def get(self, inquiry_id: str, site: str | None = None) -> dict[str, Any] | None:
        inquiry = table("inquiry")
        stmt = select(inquiry).where(inquiry.c.inquiry_id == inquiry_id)
        if site is not None:
            stmt = stmt.where(inquiry.c.site == site)
        row = self._session.execute(stmt.order_by(inquiry.c.site).limit(1)).first()
        return None if row is None else dict(row._mapping)

    def stream_rows(self, f: InquiryFilter) -> Iterator[Row[Any]]:
        inquiry = table("inquiry")
        stmt = (
            select(inquiry)
            .where(*inquiry_conditions(inquiry, f))
            .order_by(inquiry.c.received_at, inquiry.c.id)
        )
        return stream(self._session, stmt)

    def sites(self) -> builtins.list[str]:
        return _distinct_sites(self._session, "inquiry")


def _distinct_sites(session: Session, name: str) -> builtins.list[str]:
    # Each step jumps to the next site through the (site, ...) index, so this costs one probe per
    # site instead of a scan of every row (neither database does a skip scan by itself).
    assert name in ("call", "inquiry")
    sql = text(
        f'WITH RECURSIVE s(site) AS (SELECT min(site) FROM "{name}" '
        f'UNION ALL SELECT (SELECT min(site) FROM "{name}" WHERE site > s.site) FROM s '
        "WHERE s.site IS NOT NULL) SELECT site FROM s WHERE site IS NOT NULL"
    )
    return [str(r[0]) for r in session.execute(sql)]
