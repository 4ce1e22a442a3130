"""Request dependencies: the app context, database sessions and bearer-token roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from monitor.config import Settings
from monitor.service.wallboard import Wallboard
from monitor.tokens import Role, role_of


@dataclass
class AppContext:
    """What the routes may see. Built by the composition root, never at import time."""

    engine: Engine
    tokens: dict[str, Role]
    metrics_registry: Any
    # Site time zones (report buckets, ISO instants) and reporting thresholds; unknown sites are UTC.
    settings: Settings = field(default_factory=Settings)
    live: Callable[[float], list[dict[str, Any]]] = field(default=lambda now: [])
    ready: Callable[[], tuple[bool, dict[str, Any]]] = field(default=lambda: (True, {}))
    clock: Callable[[], float] = field(default=lambda: __import__("time").time())
    wallboard: Wallboard | None = None


def site_zone(ctx: AppContext, site: str | None) -> ZoneInfo:
    """The site's IANA zone; UTC for no site or a site that is not configured."""
    found = next((s for s in ctx.settings.site if s.id == site), None) if site else None
    return ZoneInfo(found.timezone if found is not None else "UTC")


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    with Session(ctx.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
_bearer = HTTPBearer(auto_error=False)


def require_role(*roles: Role) -> Callable[..., Role]:
    allowed = set(roles) | {"admin"}

    def check(
        ctx: ContextDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Role:
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "bearer token required", {"WWW-Authenticate": "Bearer"}
            )
        role = role_of(creds.credentials, ctx.tokens)
        if role is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown token", {"WWW-Authenticate": "Bearer"})
        if role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {role!r} may not read this")
        return role

    return check


WallboardRole = Annotated[Role, Depends(require_role("wallboard", "auditor"))]
AuditorRole = Annotated[Role, Depends(require_role("auditor"))]
