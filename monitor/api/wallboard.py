"""The wallboard: the page (``/wallboard``, static, no data in it) and its data, one snapshot or a
server-sent event stream of them.

``EventSource`` cannot send an ``Authorization`` header, so these two endpoints (and only these)
also take the token as the ``access_token`` query parameter. Every role may read the wallboard.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sse_starlette import EventSourceResponse, ServerSentEvent

from monitor.api.deps import AppContext, ContextDep
from monitor.api.schemas import ErrorPublic
from monitor.service.wallboard import Wallboard, change_key
from monitor.tokens import Role, role_of

router = APIRouter(tags=["wallboard"])
STATIC = Path(__file__).resolve().parent / "static"
READERS: frozenset[str] = frozenset({"wallboard", "auditor", "admin"})
PUSH_EVERY_S = 1.0
CHECK_EVERY_S = 0.25  # how soon a change (a new call, one more ring, a source down) reaches the board
RETRY_MS = 3000
# The page loads only its own script and style and talks only to this server.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_bearer = HTTPBearer(auto_error=False)


def wallboard_reader(
    ctx: ContextDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: Annotated[
        str | None, Query(description="The bearer token, for clients that cannot send headers (EventSource)")
    ] = None,
) -> Role:
    token: str | None = None
    if creds is not None and creds.scheme.lower() == "bearer":
        token = creds.credentials
    elif access_token:
        token = access_token
    if token is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "bearer token required", {"WWW-Authenticate": "Bearer"}
        )
    role = role_of(token, ctx.tokens)
    if role is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown token", {"WWW-Authenticate": "Bearer"})
    if role not in READERS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {role!r} may not read the wallboard")
    return role


ReaderDep = Annotated[Role, Depends(wallboard_reader)]


def _board(ctx: ContextDep) -> Wallboard:
    if ctx.wallboard is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the wallboard is not running here")
    return ctx.wallboard


def _site(board: Wallboard, site: str | None) -> str:
    sites = board.site_ids()
    if not sites:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no site is configured")
    if site is None:
        return sites[0]
    if site not in sites:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown site {site!r}")
    return site


SiteQuery = Annotated[str | None, Query(description="A configured site id (default: the first one)")]


_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorPublic, "description": "Missing or unknown token (header or access_token)"},
    403: {"model": ErrorPublic, "description": "The token's role may not read the wallboard"},
    404: {"model": ErrorPublic, "description": "Unknown site"},
    503: {"model": ErrorPublic, "description": "No live wallboard in this process (not the daemon)"},
}


@router.get("/api/v1/wallboard/snapshot", responses=_RESPONSES)
async def snapshot(ctx: ContextDep, _role: ReaderDep, site: SiteQuery = None) -> JSONResponse:
    """The wallboard's figures for one site now. Async on purpose: live call state is read on the
    event loop, which is the only place it changes."""
    board = _board(ctx)
    data = await board.snapshot(_site(board, site), ctx.clock())
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


@router.get("/api/v1/wallboard/stream", responses=_RESPONSES)
async def stream(ctx: ContextDep, _role: ReaderDep, site: SiteQuery = None) -> EventSourceResponse:
    """``text/event-stream`` of ``snapshot`` events: one every second, and within
    ``CHECK_EVERY_S`` of a change in counts, rings, colour levels or source health."""
    board = _board(ctx)
    chosen = _site(board, site)
    return EventSourceResponse(_events(ctx, board, chosen), ping=15)


async def _events(ctx: AppContext, board: Wallboard, site: str) -> AsyncIterator[ServerSentEvent]:
    # sse-starlette listens for the client going away and cancels this generator then.
    loop = asyncio.get_running_loop()
    last_key: str | None = None
    last_sent = -math.inf
    while not board.closing:
        data = await board.snapshot(site, ctx.clock())
        key = change_key(data)
        if key != last_key or loop.time() - last_sent >= PUSH_EVERY_S:
            yield ServerSentEvent(json.dumps(data, separators=(",", ":")), event="snapshot", retry=RETRY_MS)
            last_key, last_sent = key, loop.time()
        await asyncio.sleep(CHECK_EVERY_S)


@router.get("/wallboard", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "wallboard.html", media_type="text/html", headers=PAGE_HEADERS)


@router.get("/wallboard/wallboard.js", include_in_schema=False)
def script() -> FileResponse:
    return FileResponse(STATIC / "wallboard.js", media_type="text/javascript", headers=PAGE_HEADERS)


@router.get("/wallboard/wallboard.css", include_in_schema=False)
def style() -> FileResponse:
    return FileResponse(STATIC / "wallboard.css", media_type="text/css", headers=PAGE_HEADERS)
