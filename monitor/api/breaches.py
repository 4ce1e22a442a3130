"""Breaches: every standard in breach (the evaluation in force), with its call's or inquiry's figures."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from monitor.api.deps import AppContext, AuditorRole, ContextDep, SessionDep, site_zone
from monitor.api.filters import BreachFilterDep
from monitor.api.params import (
    CursorQ,
    LimitQ,
)
from monitor.api.schemas import BreachPagePublic, ErrorPublic
from monitor.config import ConfigError
from monitor.service.ports import InvalidCursor
from monitor.service.public import ThresholdFor, breach_item
from monitor.store.breaches import SqlBreachQueries

router = APIRouter(
    prefix="/api/v1",
    tags=["breaches"],
    responses={
        401: {"model": ErrorPublic, "description": "Missing or unknown token"},
        403: {"model": ErrorPublic, "description": "The token's role may not read this"},
    },
)


def thresholds(ctx: AppContext) -> ThresholdFor:
    """Thresholds of the policy in force here, for evaluations stored without one (calls are measured
    in rings and seconds; inquiry evaluations always carry their allowance)."""

    def threshold_for(site: str, version: str, standard: str) -> float | None:
        try:
            policy = ctx.settings.policy_for(site)
        except ConfigError:
            return None
        if policy.version != version:
            return None
        return {"answer_rings": float(policy.answer_within_rings), "hold": policy.max_hold_s}.get(standard)

    return threshold_for


@router.get(
    "/breaches",
    response_model=BreachPagePublic,
    summary="List SLA breaches",
    description="The latest evaluation of each (subject, standard) whose result is breached (a corrected "
    "evaluation replaces what it supersedes), newest subject first, calls and inquiries interleaved. "
    "`from`/`to` select on the subject's start (call arrived, inquiry received). `queue`, `agent` and "
    "`outcome` concern calls only, `mailbox` and `kind` inquiries only. Role: auditor.",
    responses={400: {"model": ErrorPublic, "description": "Malformed cursor"}},
)
def list_breaches(
    ctx: ContextDep,
    session: SessionDep,
    _role: AuditorRole,
    f: BreachFilterDep,
    limit: LimitQ = 100,
    cursor: CursorQ = None,
) -> dict[str, Any]:
    try:
        rows, next_cursor = SqlBreachQueries(session).page(f, limit, cursor)
    except InvalidCursor as exc:
        raise HTTPException(400, f"bad cursor: {exc}") from None
    threshold_for = thresholds(ctx)
    items = [breach_item(r, site_zone(ctx, r["site"]), threshold_for) for r in rows]
    return {"items": items, "next_cursor": next_cursor}
