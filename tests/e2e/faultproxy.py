"""A TCP proxy between the daemon and the AMI simulator that breaks the path the way networks do.

* :meth:`FaultProxy.blackhole` - the current connections stay open but nothing crosses them any more,
  in either direction, and no FIN or RST is ever sent: a half-open path (a NAT or firewall that forgot
  the flow, a cable pulled between two switches). New connections are not affected.
* :meth:`FaultProxy.reset` - the current connections are reset (RST to the daemon).
* :meth:`FaultProxy.hold_new` / :meth:`FaultProxy.release` - new connections are accepted but not
  put through to the PBX until released (the daemon's connect attempt then waits, instead of backing
  off on a refusal by a random amount: the reconnect instant stays under the test's control).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct


class _Link:
    def __init__(self, down: asyncio.StreamWriter) -> None:
        self.down = down  # towards the daemon
        self.up: asyncio.StreamWriter | None = None  # towards the PBX
        self.blackholed = False
        self.tasks: list[asyncio.Task[None]] = []

    def abort(self, rst: bool = False) -> None:
        for writer in (self.down, self.up):
            if writer is None:
                continue
            if rst:
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()


class FaultProxy:
    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self._upstream = (host, upstream_port)
        self._host = host
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._open = asyncio.Event()
        self._open.set()
        self.accepted = 0
        self.port = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, self._host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._open.set()
        for link in list(self._links):
            link.abort()
        tasks = [t for link in self._links for t in link.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- faults -------------------------------------------------------------------------------------
    def blackhole(self) -> int:
        """Silently drop everything on the current connections; returns how many were affected."""
        for link in self._links:
            link.blackholed = True
        return len(self._links)

    def reset(self) -> None:
        for link in list(self._links):
            link.abort(rst=True)

    def hold_new(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    # -- plumbing -----------------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        link = _Link(writer)
        self._links.add(link)
        try:
            await self._open.wait()
            up_reader, link.up = await asyncio.open_connection(*self._upstream)
            link.tasks = [
                asyncio.create_task(self._pump(reader, link.up, link)),
                asyncio.create_task(self._pump(up_reader, writer, link)),
            ]
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        except OSError:
            pass
        finally:
            if not link.blackholed:  # a black hole never closes anything: the far ends learn nothing
                link.abort()
                self._links.discard(link)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, link: _Link) -> None:
        with contextlib.suppress(OSError):
            while data := await src.read(65536):
                if link.blackholed:
                    continue  # swallowed: TCP acknowledged it, the other side never sees it
                dst.write(data)
                await dst.drain()
