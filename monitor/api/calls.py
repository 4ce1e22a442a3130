"""Calls: measured customer calls from the store, and the live ones from memory."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, HTTPException

from monitor.api.deps import AuditorRole, ContextDep, SessionDep, WallboardRole
from monitor.api.filters import CallFilterDep
from monitor.api.params import (
    CursorQ,
    IdPath,
    LimitQ,
    SiteQ,
)
from monitor.api.schemas import CallDetailPublic, CallPagePublic, ErrorPublic
from monitor.service.ports import InvalidCursor
from monitor.store.queries import SqlCallQueries
from monitor.store.repository import SqlCallRepository

router = APIRouter(
    prefix="/api/v1",
    tags=["calls"],
    responses={401: {"model": ErrorPublic, "description": "Missing or unknown token"}},
)
_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorPublic, "description": "The token's role may not read this"}
}


@router.get(
    "/calls",
    response_model=CallPagePublic,
    summary="List calls",
    description="Stored customer calls, newest first, one keyset page at a time. Filters combine with AND; "
    "`from`/`to` select on the arrival time. Role: auditor.",
    responses={**_FORBIDDEN, 400: {"model": ErrorPublic, "description": "Malformed cursor"}},
)
def list_calls(
    ctx: ContextDep,
    session: SessionDep,
    _role: AuditorRole,
    f: CallFilterDep,
    limit: LimitQ = 100,
    cursor: CursorQ = None,
) -> dict[str, Any]:
    try:
        page = SqlCallQueries(session).page(f, limit, cursor)
    except InvalidCursor as exc:
        raise HTTPException(400, f"bad cursor: {exc}") from None
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/calls/live",
    summary="Calls in progress",
    description="Calls ringing, queued or connected right now, from memory. Role: wallboard.",
    responses=_FORBIDDEN,
)
def live_calls(ctx: ContextDep, _role: WallboardRole) -> dict[str, Any]:
    now = ctx.clock()
    return {"at": now, "items": ctx.live(now)}


@router.get(
    "/calls/{call_id}",
    response_model=CallDetailPublic,
    summary="One call with its evidence",
    description="The call record and the AMI events its figures were computed from, each with its "
    "SHA-256. Call ids are unique per site: give `site` when several sites may share one. Role: auditor.",
    responses={**_FORBIDDEN, 404: {"model": ErrorPublic, "description": "No such call"}},
)
def get_call(call_id: IdPath, session: SessionDep, _role: AuditorRole, site: SiteQ = None) -> dict[str, Any]:
    repo = SqlCallRepository(session)
    sites = [site] if site else repo.sites_with(call_id)
    for candidate in sites:
        found = repo.get(candidate, call_id)
        if found is not None:
            record, evidence = found
            return {
                "call": record,
                "evidence": [
                    {
                        "t": e.t,
                        "kind": e.kind,
                        "sha256": hashlib.sha256(e.raw.encode()).hexdigest(),
                        "raw": e.raw,
                    }
                    for e in evidence
                ],
            }
    raise HTTPException(404, "no such call")
