"""API hardening: request size limits (413/414/400) through TestClient and the real uvicorn server over
a socket, access logs without ?access_token=, and the loopback default with its warning when the API
is bound to a network address."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from starlette.types import Message, Receive, Scope, Send
from typer.testing import CliRunner

from monitor.api.app import create_app
from monitor.api.deps import AppContext
from monitor.api.limits import RequestLimits, mask_access_token, server_config
from monitor.cli import app as cli_app
from monitor.config import ApiSettings, MonitorSettings, Settings, open_24_7_site
from monitor.hosts import is_loopback
from monitor.runtime import Daemon
from monitor.store.engine import make_engine
from monitor.tokens import hash_token

API = ApiSettings(max_body_bytes=1000, max_url_bytes=2000, max_header_bytes=4096)
TOKEN = "slm_security-test-token-0123456789"


def make_app(tmp_path: Path, api: ApiSettings = API) -> tuple[AppContext, TestClient]:
    ctx = AppContext(
        engine=make_engine(f"sqlite:///{tmp_path}/api.db"),
        tokens={hash_token(TOKEN): "admin"},
        metrics_registry=CollectorRegistry(),
        settings=Settings(api=api),
    )
    return ctx, TestClient(create_app(ctx))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    ctx, api = make_app(tmp_path)
    with api:
        yield api
    ctx.engine.dispose()


def test_declared_body_over_the_limit_is_413_with_a_json_error(client: TestClient) -> None:
    response = client.request("GET", "/healthz", content=b"x" * 1001)
    assert response.status_code == 413
    assert response.json() == {"detail": "request body larger than 1000 bytes"}
    assert client.request("GET", "/healthz", content=b"x" * 1000).status_code == 200


def test_streamed_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(11):
            yield b"y" * 100

    response = client.request("GET", "/healthz", content=chunks())
    assert response.status_code == 413 and "1000 bytes" in response.json()["detail"]

    def small() -> Iterator[bytes]:
        yield b"z" * 500

    assert client.request("GET", "/healthz", content=small()).status_code == 200


def test_overlong_url_is_414(client: TestClient) -> None:
    response = client.get("/healthz", params={"q": "a" * 2000})
    assert response.status_code == 414
    assert response.json() == {"detail": "request URL longer than 2000 bytes"}
    assert client.get("/healthz", params={"q": "a" * 1900}).status_code == 200


def test_oversized_headers_are_431(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Pad": "p" * 4100})
    assert response.status_code == 431
    assert response.json() == {"detail": "request headers larger than 4096 bytes"}
    assert client.get("/healthz", headers={"X-Pad": "p" * 3500}).status_code == 200


def test_defaults_are_64k_body_8k_url_16k_headers() -> None:
    api = ApiSettings()
    assert (api.max_body_bytes, api.max_url_bytes, api.max_header_bytes) == (65536, 8192, 16384)


# ---- the real server over a socket -------------------------------------------------------------


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[int]:
    ctx, _ = make_app(tmp_path)
    srv = uvicorn.Server(server_config(create_app(ctx), "127.0.0.1", 0, API, tokens=1))
    task = asyncio.create_task(srv.serve())
    try:
        for _ in range(500):
            if srv.started or task.done():
                break
            await asyncio.sleep(0.02)
        assert srv.started, "uvicorn did not start"
        yield srv.servers[0].sockets[0].getsockname()[1]
    finally:
        srv.should_exit = True
        await asyncio.wait_for(task, 30)
        ctx.engine.dispose()


async def exchange(port: int, request: bytes, body_chunks: Sequence[bytes] = ()) -> tuple[int, bytes]:
    """Send raw bytes (the request, then each body chunk), return (status, body) of the response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        for chunk in body_chunks:
            await asyncio.sleep(0.01)  # separate reads on the server side: a streamed body
            writer.write(chunk)
            await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_real_server_rejects_a_declared_oversized_body(server: int) -> None:
    req = b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\nConnection: close\r\n\r\n"
    status, body = await exchange(server, req)  # refused on the header, before any body byte
    assert status == 413 and json.loads(body) == {"detail": "request body larger than 1000 bytes"}


async def test_real_server_rejects_a_chunked_body_once_it_passes_the_limit(server: int) -> None:
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    chunk = b"190\r\n" + b"c" * 400 + b"\r\n"  # 400 bytes each; the third passes 1000
    # Only what the server reads before refusing: unread bytes would turn its close into a reset.
    status, body = await exchange(server, req, [chunk] * 3)
    assert status == 413 and json.loads(body)["detail"] == "request body larger than 1000 bytes"
    ok_status, ok_body = await exchange(server, req, [chunk, b"0\r\n\r\n"])
    assert ok_status == 200 and json.loads(ok_body) == {"status": "ok"}


async def test_real_server_rejects_an_overlong_url_and_oversized_headers(server: int) -> None:
    long_url = b"GET /healthz?q=" + b"u" * 2500 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    status, body = await exchange(server, long_url)
    assert status == 414 and json.loads(body) == {"detail": "request URL longer than 2000 bytes"}
    # Headers over max_header_bytes (4096 here) that arrive complete: the middleware says 431.
    big_headers = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"h" * 5000 + b"\r\n\r\n"
    status, body = await exchange(server, big_headers)
    assert status == 431 and json.loads(body) == {"detail": "request headers larger than 4096 bytes"}
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 60) for i in range(80))  # ~5.5 KB in small headers
    status, _ = await exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert status == 431
    # A head still arriving past the limit: h11 stops buffering it and uvicorn answers 400.
    status, body = await exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ", [b"h" * 5000])
    assert status == 400 and body == b"Invalid HTTP request received."
    fine = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"h" * 3000 + b"\r\nConnection: close\r\n\r\n"
    assert (await exchange(server, fine))[0] == 200


async def test_real_server_rejects_an_invalid_content_length(server: int) -> None:
    # h11 refuses it first (400); the middleware would too if another server let it through.
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\nConnection: close\r\n\r\n"
    assert (await exchange(server, req))[0] == 400


async def test_access_log_never_shows_access_token(server: int, caplog: pytest.LogCaptureFixture) -> None:
    access = logging.getLogger("uvicorn.access")
    level = access.level
    access.setLevel(logging.INFO)  # as an operator enabling access logs would
    try:
        with caplog.at_level(logging.INFO, logger="uvicorn.access"):
            access.addHandler(caplog.handler)
            try:
                req = (
                    f"GET /api/v1/wallboard/snapshot?site=x&access_token={TOKEN}&a=1 HTTP/1.1\r\n"
                    "Host: x\r\nConnection: close\r\n\r\n"
                ).encode()
                status, _ = await exchange(server, req)
            finally:
                access.removeHandler(caplog.handler)
    finally:
        access.setLevel(level)
    assert status == 503  # authenticated by the query token; no wallboard in this app
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("access_token=***&a=1" in line for line in lines), lines
    assert TOKEN not in caplog.text


def test_mask_access_token() -> None:
    assert mask_access_token("/s?access_token=abc&x=1") == "/s?access_token=***&x=1"
    assert mask_access_token("/s?x=1&ACCESS_TOKEN=abc") == "/s?x=1&ACCESS_TOKEN=***"
    assert mask_access_token("/s?my_access_token=abc") == "/s?my_access_token=abc"


# ---- bind address ------------------------------------------------------------------------------


def test_loopback_is_the_default_everywhere() -> None:
    assert MonitorSettings().listen == "127.0.0.1:8000"
    demo_help = CliRunner().invoke(cli_app, ["demo", "--help"], env={"COLUMNS": "200"})
    assert "127.0.0.1:8000" in demo_help.output
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.1.2.3"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "", "192.168.1.10", "slamon.dealer.lan"):
        assert not is_loopback(host), host


@pytest.mark.parametrize(("listen", "warned"), [("127.0.0.1:0", False), ("0.0.0.0:0", True)])
async def test_daemon_warns_when_the_api_is_exposed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    listen: str,
    warned: bool,
) -> None:
    monkeypatch.setenv("SLAMON_HMAC_KEY", "k" * 32)
    settings = Settings(
        monitor=MonitorSettings(database_url=f"sqlite:///{tmp_path}/d.db", listen=listen),
        site=[open_24_7_site("detroit")],
    )
    caplog.set_level(logging.WARNING, logger="monitor.api.limits")
    daemon = Daemon(settings)
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(daemon.started.wait(), 60)
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 60)
    warnings = [r.getMessage() for r in caplog.records if r.name == "monitor.api.limits"]
    if warned:
        assert len(warnings) == 1
        assert "non-loopback address: it is exposed to the network" in warnings[0]
        assert "needs a bearer token (0 configured)" in warnings[0]
    else:
        assert warnings == []


async def test_middleware_replays_a_body_within_the_limit_and_refuses_a_bad_length() -> None:
    """Straight through the ASGI interface: what the server may hand over, chunk by chunk."""
    seen: list[bytes] = []

    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        seen.append(message["body"])
        assert message["more_body"] is False
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    limits = RequestLimits(echo, max_body_bytes=10, max_url_bytes=100, max_header_bytes=1000)

    async def call(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, bytes]:
        incoming = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]
        sent: list[Message] = []

        async def receive() -> Message:
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {"type": "http", "path": "/x", "raw_path": b"/x", "query_string": b"", "headers": headers}
        await limits(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    chunked = [(b"transfer-encoding", b"chunked")]
    assert await call(chunked, [b"abc", b"defg", b"hij"]) == (200, b"ok")
    assert seen == [b"abcdefghij"]
    assert (await call(chunked, [b"abcdef", b"ghijk"]))[0] == 413
    assert seen == [b"abcdefghij"]  # the app never saw the refused one
    status, body = await call([(b"content-length", b"12abc")], [b""])
    assert status == 400 and json.loads(body) == {"detail": "invalid Content-Length"}
