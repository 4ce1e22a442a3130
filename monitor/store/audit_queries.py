"""Read-side queries for ``slamon export``: one site's calls, inquiries, breaches and monitoring gaps of
a period, each with its place in the evidence chain, streamed in constant memory.

Every chained record is read only up to a given chain head (``chain_seq <= head``): the head is read
first, so an export is exactly "the chain up to this head" even while the daemon keeps appending.
The inquiry rows themselves are the mutable projection (not chained); each carries the position and
hash of its evaluation in force at that head, which is.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.store.breaches import BreachFilter, call_breaches, inquiry_breaches
from monitor.store.queries import CallFilter, InquiryFilter, call_conditions, inquiry_conditions, stream
from monitor.store.tables import table


@dataclass(frozen=True, slots=True)
class Scope:
    """One site's records that started in ``[start, end)`` and were chained at or before ``head``."""

    site: str
    start: float
    end: float
    head: int


class SqlAuditQueries:
    def __init__(self, session: Session) -> None:
        self._session = session

    def calls(self, scope: Scope) -> Iterator[dict[str, Any]]:
        """Call rows (every column of ``call``), oldest first."""
        call = table("call")
        stmt = (
            select(call)
            .where(*call_conditions(call, CallFilter(scope.site, scope.start, scope.end)))
            .where(call.c.chain_seq <= scope.head)
            .order_by(call.c.arrived_at, call.c.id)
        )
        for row in stream(self._session, stmt):
            yield dict(row._mapping)

    def inquiries(self, scope: Scope) -> Iterator[dict[str, Any]]:
        """Inquiry rows, oldest first, with ``sla_result``, ``sla_revision``, ``sla_chain_seq`` and
        ``sla_record_hash`` of the evaluation in force at the head (None while none is final)."""
        inquiry, sla = table("inquiry"), table("sla_evaluation")
        ev = sla.alias("evaluation")
        latest = (
            select(func.max(sla.c.chain_seq))
            .where(
                sla.c.site == inquiry.c.site,
                sla.c.subject_kind == "inquiry",
                sla.c.subject_id == inquiry.c.inquiry_id,
                sla.c.chain_seq <= scope.head,
            )
            .scalar_subquery()
        )
        stmt = (
            select(
                inquiry,
                ev.c.result.label("sla_result"),
                ev.c.revision.label("sla_revision"),
                ev.c.chain_seq.label("sla_chain_seq"),
                ev.c.record_hash.label("sla_record_hash"),
            )
            .select_from(inquiry.outerjoin(ev, ev.c.chain_seq == latest))
            .where(*inquiry_conditions(inquiry, InquiryFilter(scope.site, scope.start, scope.end)))
            .order_by(inquiry.c.received_at, inquiry.c.id)
        )
        for row in stream(self._session, stmt):
            yield dict(row._mapping)

    def breaches(self, scope: Scope) -> Iterator[dict[str, Any]]:
        """The breaches in force (latest revision per subject and standard, result breached) with
        their subject's key figures (the rows of ``monitor.store.breaches``) and chain position."""
        sla = table("sla_evaluation")
        f = BreachFilter(site=scope.site, start=scope.start, end=scope.end)
        streams = []
        for stmt, at, pk in (call_breaches(f), inquiry_breaches(f)):
            stmt = stmt.add_columns(sla.c.revision, sla.c.supersedes_seq, sla.c.chain_seq, sla.c.record_hash)
            stmt = stmt.where(sla.c.chain_seq <= scope.head).order_by(at, pk)
            streams.append(stream(self._session, stmt))
        for row in heapq.merge(*streams, key=lambda r: (r.at, r.pk)):
            yield dict(row._mapping)

    def gaps(self, scope: Scope) -> list[dict[str, Any]]:
        """Monitoring gaps of the site overlapping the period (any source), oldest first."""
        gap = table("monitoring_gap")
        stmt = (
            select(gap)
            .where(gap.c.site == scope.site, gap.c.end > scope.start, gap.c.start < scope.end)
            .where(gap.c.chain_seq <= scope.head)
            .order_by(gap.c.start, gap.c.source)
        )
        return [dict(r._mapping) for r in self._session.execute(stmt)]

    def policy(self, version: str, site: str) -> dict[str, Any] | None:
        pv = table("policy_version")
        row = self._session.execute(select(pv).where(pv.c.version == version, pv.c.site == site)).first()
        return None if row is None else dict(row._mapping)

    def gap_sites(self) -> list[str]:
        gap = table("monitoring_gap")
        return [str(site) for site in self._session.execute(select(gap.c.site).distinct()).scalars()]
