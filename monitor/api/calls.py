"""Calls: measured customer calls from the store, and the live ones from memory."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from monitor.api.deps import AuditorRole, ContextDep, SessionDep, WallboardRole
from monitor.store.repository import SqlCallRepository

router = APIRouter(prefix="/api/v1", tags=["calls"])


class CallPagePublic(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


class EvidencePublic(BaseModel):
    t: float
    kind: str
    sha256: str
    raw: str


class CallDetailPublic(BaseModel):
    call: dict[str, Any]
    evidence: list[EvidencePublic]


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


@router.get("/calls", response_model=CallPagePublic)
def list_calls(
    session: SessionDep,
    _role: AuditorRole,
    site: str | None = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> CallPagePublic:
    try:
        page = SqlCallRepository(session).list(
            site, _epoch(from_), _epoch(to), limit, cursor, newest_first=True
        )
    except ValueError as exc:
        raise HTTPException(400, f"bad cursor: {exc}") from None
    return CallPagePublic(items=page.items, next_cursor=page.next_cursor)


@router.get("/calls/live")
def live_calls(ctx: ContextDep, _role: WallboardRole) -> dict[str, Any]:
    now = ctx.clock()
    return {"at": now, "items": ctx.live(now)}


@router.get("/calls/{call_id}", response_model=CallDetailPublic)
def get_call(
    call_id: str, session: SessionDep, _role: AuditorRole, site: str | None = None
) -> CallDetailPublic:
    repo = SqlCallRepository(session)
    sites = [site] if site else repo.sites_with(call_id)
    for candidate in sites:
        found = repo.get(candidate, call_id)
        if found is not None:
            record, evidence = found
            return CallDetailPublic(
                call=record,
                evidence=[
                    EvidencePublic(
                        t=e.t, kind=e.kind, sha256=hashlib.sha256(e.raw.encode()).hexdigest(), raw=e.raw
                    )
                    for e in evidence
                ],
            )
    raise HTTPException(404, "no such call")
