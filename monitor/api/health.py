"""Liveness, readiness and the Prometheus endpoint (open: no token, no personal data)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.api.deps import ContextDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(ctx: ContextDep) -> JSONResponse:
    ready, detail = ctx.ready()
    body: dict[str, Any] = {"status": "ready" if ready else "not ready", **detail}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(ctx: ContextDep) -> Response:
    # On the event loop, not in the threadpool: the live gauges read the call tracker, which only
    # the loop mutates, so a scrape never sees a dict changing size under it.
    return Response(generate_latest(ctx.metrics_registry), media_type=CONTENT_TYPE_LATEST)
