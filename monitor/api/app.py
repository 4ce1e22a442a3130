"""The FastAPI application factory (no app is built at import time)."""

from __future__ import annotations

from fastapi import FastAPI

from monitor.api import breaches, calls, exports, health, inquiries, summary, wallboard
from monitor.api.deps import AppContext
from monitor.api.limits import RequestLimits


def create_app(ctx: AppContext) -> FastAPI:
    app = FastAPI(
        title="slamon",
        version="0.1.0",
        description="Service-level monitor for dealership service desks: calls, inquiries, SLA evidence.",
    )
    app.state.ctx = ctx
    limits = ctx.settings.api
    app.add_middleware(
        RequestLimits,
        max_body_bytes=limits.max_body_bytes,
        max_url_bytes=limits.max_url_bytes,
        max_header_bytes=limits.max_header_bytes,
    )
    app.include_router(health.router)
    app.include_router(calls.router)
    app.include_router(inquiries.router)
    app.include_router(breaches.router)
    app.include_router(summary.router)
    app.include_router(exports.router)
    app.include_router(wallboard.router)
    return app
