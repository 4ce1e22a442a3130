"""The byte stream under an IMAP session: TCP (optionally TLS) with a timeout on every wait.

:class:`ImapStream` reads whole responses (a line, or lines joined by ``{n}`` literals) and writes
commands; it knows nothing of tags or commands. Errors come out as the adapter's own exceptions with
the peer named, so the reconnect loop can log them as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl

from adapters.imap.errors import (
    ImapConnectionError,
    ImapConnectionLost,
    ImapProtocolError,
    ImapTimeout,
    ImapTlsError,
)
from adapters.imap.wire import RawResponse

__all__ = ["ImapStream", "tls_error"]

STREAM_LIMIT = 1 << 20  # readline chunk; longer lines (a big SEARCH) are gathered piecewise
MAX_LINE = 64 << 20  # refuse a single response line beyond this (a broken or hostile server)
MAX_LITERAL = 64 << 20
_LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}\r\n$")


class ImapStream:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, peer: str, read_timeout: float
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.peer = peer
        self.read_timeout = read_timeout

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        connect_timeout: float,
        read_timeout: float,
    ) -> ImapStream:
        """TCP connect; with ``ssl_context`` the TLS handshake too (IMAPS), both within the timeout."""
        peer = f"{host}:{port}"
        try:
            async with asyncio.timeout(connect_timeout):
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    ssl=ssl_context,
                    server_hostname=host if ssl_context is not None else None,
                    limit=STREAM_LIMIT,
                )
        except TimeoutError:
            msg = f"IMAP connect to {peer} timed out after {connect_timeout:.1f}s"
            raise ImapConnectionError(msg) from None
        except ssl.SSLError as exc:
            raise tls_error(peer, exc) from None
        except OSError as exc:
            raise ImapConnectionError(f"IMAP connect to {peer} failed: {exc.strerror or exc}") from None
        _keepalive(writer)
        return cls(reader, writer, peer=peer, read_timeout=read_timeout)

    async def start_tls(self, ctx: ssl.SSLContext, host: str) -> None:
        """Upgrade after STARTTLS. Refuses if plaintext bytes are already buffered: they were sent
        before TLS and could have been injected by a man in the middle (the CVE-2011-0411 class)."""
        if getattr(self._reader, "_buffer", b""):
            raise ImapProtocolError(f"{self.peer} sent data after STARTTLS before the TLS handshake")
        try:
            await self._writer.start_tls(ctx, server_hostname=host)
        except ssl.SSLError as exc:
            raise tls_error(self.peer, exc) from None
        except OSError as exc:
            raise ImapConnectionLost(f"STARTTLS with {self.peer} failed: {exc}") from None

    async def send(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise ImapConnectionLost(f"session with {self.peer} is closed")
        try:
            self._writer.write(data)
            async with asyncio.timeout(self.read_timeout):
                await self._writer.drain()
        except TimeoutError:
            raise ImapTimeout(f"sending to {self.peer} stalled for {self.read_timeout:.1f}s") from None
        except OSError as exc:
            raise ImapConnectionLost(f"sending to {self.peer} failed: {exc}") from None

    async def read_response(self, first_timeout: float | None = None) -> RawResponse:
        """One response with its literals. ``first_timeout`` bounds the wait for its first line (IDLE);
        everything after it must keep arriving within ``read_timeout``."""
        line = await self._read_line(first_timeout or self.read_timeout)
        resp = RawResponse([])
        while True:
            m = _LITERAL_AT_END.search(line)
            if m is None:
                resp.lines.append(line[:-2])
                return resp
            size = int(m.group(1))
            if size > MAX_LITERAL:
                raise ImapProtocolError(f"{self.peer} announced a {size}-byte literal; refusing")
            resp.lines.append(line[: m.start()] + b"{%d}" % size)
            resp.literals.append(await self._read_exactly(size))
            line = await self._read_line(self.read_timeout)

    async def _read_line(self, timeout: float) -> bytes:
        parts: list[bytes] = []
        total = 0
        try:
            # readuntil() leaves the buffer untouched when cancelled, so a timeout while waiting for
            # the first line of an IDLE notification does not lose bytes.
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        part = await self._reader.readuntil(b"\r\n")
                    except asyncio.LimitOverrunError as exc:
                        part = await self._reader.readexactly(exc.consumed)
                        total += len(part)
                        if total > MAX_LINE:
                            msg = f"{self.peer} sent a line over {MAX_LINE} bytes"
                            raise ImapProtocolError(msg) from None
                        parts.append(part)
                        continue
                    parts.append(part)
                    return b"".join(parts)
        except TimeoutError:
            raise ImapTimeout(f"no data from {self.peer} for {timeout:.1f}s") from None
        except asyncio.IncompleteReadError:
            raise ImapConnectionLost(f"{self.peer} closed the connection") from None
        except OSError as exc:
            raise ImapConnectionLost(f"read from {self.peer} failed: {exc}") from None

    async def _read_exactly(self, size: int) -> bytes:
        try:
            async with asyncio.timeout(self.read_timeout):
                return await self._reader.readexactly(size)
        except TimeoutError:
            raise ImapTimeout(f"literal from {self.peer} stalled for {self.read_timeout:.1f}s") from None
        except asyncio.IncompleteReadError:
            raise ImapConnectionLost(f"{self.peer} closed the connection inside a literal") from None
        except OSError as exc:
            raise ImapConnectionLost(f"read from {self.peer} failed: {exc}") from None

    def abort(self) -> None:
        transport = self._writer.transport
        if not transport.is_closing():
            transport.abort()


def tls_error(peer: str, exc: ssl.SSLError) -> ImapTlsError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ImapTlsError(
            f"TLS certificate of {peer} not trusted: {exc.verify_message or exc.reason} "
            "(set ca_file to the CA that signed the server certificate)"
        )
    return ImapTlsError(f"TLS with {peer} failed: {exc.reason or exc}")


def _keepalive(writer: asyncio.StreamWriter) -> None:
    """TCP keepalives find a half-open connection within ~2 minutes even while we sit in IDLE."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 15)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 4)
