"""HTTP hardening around the API: request size limits, the uvicorn server settings, masked access logs
and the warning for an API bound to a network address (docs/security.md).

:class:`RequestLimits` is a pure ASGI middleware (no request object, no body parsing): a URL longer
than ``max_url_bytes`` gets 414, headers over ``max_header_bytes`` in all 431, a body larger than
``max_body_bytes`` (declared by Content-Length or counted while it streams in, chunked or not) 413,
each with a JSON ``{"detail": ...}``. A body within the limit is read here and replayed to the app, so
at most ``max_body_bytes`` of it is ever held, whether or not the route reads it.

The header check here is needed besides uvicorn's: h11's ``max_incomplete_event_size`` (set to
``max_header_bytes`` as well) only bounds a request head that is still *incomplete*, so it stops a
client that keeps sending header bytes (uvicorn answers 400) but lets a larger head through when it
arrives complete in one read.
"""

from __future__ import annotations

import json
import logging
import re

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.config import ApiSettings
from monitor.hosts import is_loopback

__all__ = ["RequestLimits", "mask_access_token", "server_config"]

log = logging.getLogger(__name__)

_ACCESS_TOKEN = re.compile(r"(?i)([?&]access_token=)[^&#\s\"']*")


class RequestLimits:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, max_url_bytes: int, max_header_bytes: int
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_url_bytes = max_url_bytes
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        query: bytes = scope.get("query_string", b"")
        if len(path) + len(query) > self.max_url_bytes:
            await _reject(send, 414, f"request URL longer than {self.max_url_bytes} bytes")
            return
        # As on the wire: "name: value\r\n".
        if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > self.max_header_bytes:
            await _reject(send, 431, f"request headers larger than {self.max_header_bytes} bytes")
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _reject(send, 400, "invalid Content-Length")
                return
            if int(declared) > self.max_body_bytes:
                await _reject(send, 413, _too_large(self.max_body_bytes))
                return
        if (declared is None or int(declared) == 0) and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body: bytes = message.get("body", b"")
            size += len(body)
            if size > self.max_body_bytes:
                await _reject(send, 413, _too_large(self.max_body_bytes))
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as the server would

    return replay


def _too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes"


async def _reject(send: Send, status: int, detail: str) -> None:
    payload = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        # The unread rest of the request cannot be told from a next request: end the connection.
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def mask_access_token(text: str) -> str:
    """``...?access_token=***``: a URL as it may be logged (the wallboard's EventSource token)."""
    return _ACCESS_TOKEN.sub(r"\1***", text)


class _MaskAccessToken(logging.Filter):
    """On uvicorn's access logger: its lines carry the path with the query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_access_token(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_access_token(a) if isinstance(a, str) else a for a in record.args)
        return True


def mask_access_logs() -> None:
    """Install the masking filter on uvicorn's access logger (idempotent; kept across its dictConfig)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _MaskAccessToken) for f in logger.filters):
        logger.addFilter(_MaskAccessToken())


def server_config(app: ASGIApp, host: str, port: int, api: ApiSettings, *, tokens: int) -> uvicorn.Config:
    """The uvicorn settings of the daemon's API server, with the header limit; warns when the API is
    reachable from the network."""
    if not is_loopback(host):
        log.warning(
            "API listening on %s:%d, a non-loopback address: it is exposed to the network and every "
            "/api/ request needs a bearer token (%d configured); /healthz, /readyz and /metrics stay open",
            host,
            port,
            tokens,
        )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        # h11 explicitly (not "auto"): its limit below is the one configured and tested.
        http="h11",
        h11_max_incomplete_event_size=api.max_header_bytes,
        server_header=False,
    )
    mask_access_logs()  # after Config(): its logging setup must not come after the filter
    return config
