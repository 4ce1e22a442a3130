"""Inquiries by email: each one's latest evaluation with the messages it came from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException

from monitor.api.deps import AppContext, AuditorRole, ContextDep, SessionDep, site_zone
from monitor.api.filters import InquiryFilterDep
from monitor.api.params import (
    CursorQ,
    IdPath,
    LimitQ,
    SiteQ,
)
from monitor.api.schemas import ErrorPublic, InquiryPagePublic, InquiryPublic
from monitor.domain.calendar import BusinessCalendar
from monitor.service.ports import InvalidCursor
from monitor.service.public import inquiry_item
from monitor.store.queries import SqlInquiryQueries

router = APIRouter(
    prefix="/api/v1",
    tags=["inquiries"],
    responses={
        401: {"model": ErrorPublic, "description": "Missing or unknown token"},
        403: {"model": ErrorPublic, "description": "The token's role may not read this"},
    },
)


def site_calendars(ctx: AppContext) -> Callable[[str], BusinessCalendar | None]:
    """Site -> its business calendar (built once per site per use; None for unknown sites)."""
    built: dict[str, BusinessCalendar | None] = {}

    def get(site: str) -> BusinessCalendar | None:
        if site not in built:
            found = next((s for s in ctx.settings.site if s.id == site), None)
            built[site] = found.calendar() if found is not None else None
        return built[site]

    return get


def public_inquiries(ctx: AppContext, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    calendar = site_calendars(ctx)
    return [inquiry_item(r, site_zone(ctx, r["site"]), calendar(r["site"])) for r in rows]


@router.get(
    "/inquiries",
    response_model=InquiryPagePublic,
    summary="List inquiries",
    description="Inquiries by email, newest first, one keyset page at a time, each as last evaluated "
    "(status and at_risk as of evaluated_at). `from`/`to` select on the received time. Role: auditor.",
    responses={400: {"model": ErrorPublic, "description": "Malformed cursor"}},
)
def list_inquiries(
    ctx: ContextDep,
    session: SessionDep,
    _role: AuditorRole,
    f: InquiryFilterDep,
    limit: LimitQ = 100,
    cursor: CursorQ = None,
) -> dict[str, Any]:
    try:
        rows, next_cursor = SqlInquiryQueries(session).page(f, limit, cursor)
    except InvalidCursor as exc:
        raise HTTPException(400, f"bad cursor: {exc}") from None
    return {"items": public_inquiries(ctx, rows), "next_cursor": next_cursor}


@router.get(
    "/inquiries/{inquiry_id}",
    response_model=InquiryPublic,
    summary="One inquiry with its evidence",
    description="The inquiry and the messages (headers masked, identities as SHA-256) and calls its "
    "figures came from. Role: auditor.",
    responses={404: {"model": ErrorPublic, "description": "No such inquiry"}},
)
def get_inquiry(
    inquiry_id: IdPath, ctx: ContextDep, session: SessionDep, _role: AuditorRole, site: SiteQ = None
) -> dict[str, Any]:
    row = SqlInquiryQueries(session).get(inquiry_id, site)
    if row is None:
        raise HTTPException(404, "no such inquiry")
    return public_inquiries(ctx, [row])[0]
