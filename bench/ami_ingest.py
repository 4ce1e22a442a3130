"""AMI ingest benchmark (CONTRACTS section 7): one generated stream, measured five ways in one run.

- raw_read_events_per_s: a plain socket draining the stream from a local TCP server (the ceiling);
- parser_events_per_s: ``AmiParser.feed`` on the same bytes in 64 KiB chunks (CPU only);
- pipeline_events_per_s: parse + translate + call tracking + store (SQLite, batches of 500) in-process;
- client_tcp_events_per_s: slamon's asyncio ``AmiClient`` over TCP feeding the same pipeline;
- pyst2_events_per_s: pyst2 0.5.1 reading a prefix of the same stream from a socket (it is too slow
  for the whole stream; the figure is a rate, so the prefix size does not flatter it);
- rss_growth_mb_per_million_events: resident memory added by a second million events through the
  pipeline after a first million warmed it up (steady-state growth, i.e. leaks).

The TCP server runs in a separate process so it does not compete with the reader for the GIL.
Prints ``name=value`` lines; the last line is a one-line summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.asterisk.client import AmiClient
from adapters.asterisk.framing import AmiMessage, AmiParser
from adapters.asterisk.pipeline import AmiCallPipeline
from adapters.asterisk.synthetic import generate_stream
from monitor.bootstrap import call_service
from monitor.config import Settings, open_24_7_site
from monitor.domain.calls import CompletedCall
from monitor.service.writer import write_batch
from monitor.store.engine import make_engine, upgrade

CHUNK = 65536
BANNER = b"Asterisk Call Manager/9.0.0\r\n"
LOGIN_OK = b"Response: Success\r\nActionID: %s\r\nMessage: Authentication accepted\r\n\r\n"


def _serve(port_queue: mp.Queue[int], payload: bytes, login: bool, connections: int) -> None:
    """Minimal AMI server: banner, accept any Login, then the whole stream, then close."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port_queue.put(srv.getsockname()[1])
    for _ in range(connections):
        conn, _ = srv.accept()
        conn.sendall(BANNER)
        if login:
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += conn.recv(4096)
            action_id = b""
            for line in buf.split(b"\r\n"):
                if line.lower().startswith(b"actionid:"):
                    action_id = line.split(b":", 1)[1].strip()
            conn.sendall(LOGIN_OK % action_id)
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        # Wait for the client to close so nothing is cut short.
        conn.settimeout(120)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass
        conn.close()
    srv.close()


class Server:
    def __init__(self, payload: bytes, *, login: bool, connections: int = 1) -> None:
        ctx = mp.get_context("fork")
        queue: mp.Queue[int] = ctx.Queue()
        self.proc = ctx.Process(target=_serve, args=(queue, payload, login, connections), daemon=True)
        self.proc.start()
        self.port = queue.get(timeout=30)

    def stop(self) -> None:
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.kill()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def bench_raw_read(stream: bytes, messages: int) -> float:
    server = Server(stream, login=False)
    sock = socket.create_connection(("127.0.0.1", server.port))
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    total = 0
    start = time.perf_counter()
    while True:
        n = sock.recv_into(view)
        if not n:
            break
        total += n
    elapsed = time.perf_counter() - start
    sock.close()
    server.stop()
    assert total == len(stream) + len(BANNER)
    return messages / elapsed


def bench_parser(stream: bytes) -> tuple[float, int]:
    parser = AmiParser(expect_banner=False)
    start = time.perf_counter()
    kept = 0
    for offset in range(0, len(stream), CHUNK):
        kept += len(parser.feed(stream[offset : offset + CHUNK]))
    elapsed = time.perf_counter() - start
    seen = parser.messages + parser.skipped
    assert parser.parse_errors == 0
    return seen / elapsed, seen


class Pipeline:
    """The production call path with a synchronous store sink writing batches of 500."""

    def __init__(self, db_url: str) -> None:
        settings = Settings(site=[open_24_7_site("bench")])
        self.engine = make_engine(db_url)
        upgrade(self.engine)
        self.pending: list[CompletedCall] = []
        self.stored = 0
        self.service = call_service(settings, settings.site[0], b"bench-key-0123456789abcdef", [self._sink])
        self.pipeline = AmiCallPipeline(self.service)

    def _sink(self, completed: CompletedCall) -> None:
        self.pending.append(completed)
        if len(self.pending) >= 500:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.stored += write_batch(self.engine, self.pending).calls_written
            self.pending = []

    def feed(self, stream: bytes, t0: float) -> int:
        parser = AmiParser(expect_banner=False)
        on_message = self.pipeline.on_message
        for offset in range(0, len(stream), CHUNK):
            for message in parser.feed(stream[offset : offset + CHUNK]):
                on_message(message, t0)
        self.flush()
        return parser.messages + parser.skipped


def bench_pipeline(stream: bytes, more: bytes) -> tuple[float, int, float, int, float, float]:
    """Rate on ``stream``; then memory growth while ``more`` (the continuation of the same traffic,
    new call ids) goes through the warmed-up pipeline: steady-state growth, i.e. what leaks."""
    with tempfile.TemporaryDirectory() as tmp:
        pipe = Pipeline(f"sqlite:///{tmp}/bench.db")
        start = time.perf_counter()
        seen = pipe.feed(stream, 0.0)
        elapsed = time.perf_counter() - start
        rss_before = rss_mb()
        seen_more = pipe.feed(more, 0.0)
        rss_after = rss_mb()
        growth = rss_after - rss_before
        calls = pipe.stored
        live = len(pipe.service.tracker.live_calls)
        pipe.engine.dispose()
    return seen / elapsed, calls, growth * 1_000_000 / seen_more, live, rss_before, rss_after


def bench_client(stream: bytes, messages: int) -> float:
    server = Server(stream, login=True)
    with tempfile.TemporaryDirectory() as tmp:
        pipe = Pipeline(f"sqlite:///{tmp}/client.db")
        done = asyncio.Event()
        count = 0

        def on_message(message: AmiMessage, received_at: float) -> None:
            nonlocal count
            pipe.pipeline.on_message(message, received_at)

        async def main() -> float:
            client = AmiClient(
                "127.0.0.1",
                server.port,
                "bench",
                "x",
                on_message=on_message,
                ping_interval=60.0,
                on_state=lambda up: done.set() if not up else None,
            )
            start = time.perf_counter()
            task = asyncio.create_task(client.run())
            await asyncio.wait_for(done.wait(), 600)
            elapsed = time.perf_counter() - start
            await client.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            nonlocal count
            count = client.events_total
            return elapsed

        elapsed = asyncio.run(main())
        pipe.flush()
        pipe.engine.dispose()
    server.stop()
    return count / elapsed


def bench_pyst2(stream: bytes, limit_s: float) -> tuple[float, int]:
    from asterisk.manager import Manager  # pyst2 0.5.1

    received = 0
    last = threading.Event()
    expected = stream.count(b"\r\n\r\n")

    def on_event(event: object, manager: object) -> None:
        nonlocal received
        received += 1
        if received >= expected:
            last.set()

    server = Server(stream, login=True)
    manager = Manager()
    manager.register_event("*", on_event)
    manager.connect("127.0.0.1", server.port)
    manager.login("bench", "x")
    start = time.perf_counter()  # the stream follows the login reply at once
    last.wait(timeout=limit_s)
    elapsed = time.perf_counter() - start
    count = received
    try:
        manager._running.clear()  # pyst2 has no timeout-bounded close; stop its threads
        manager._sock.close()
    except Exception:
        pass
    server.proc.kill()
    return count / elapsed, count


def prefix(stream: bytes, messages: int) -> bytes:
    end = 0
    find = stream.index
    for _ in range(messages):
        end = find(b"\r\n\r\n", end) + 4
    return stream[:end]


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--pyst2-events", type=int, default=20_000)
    ap.add_argument("--pyst2-limit-s", type=float, default=60.0)
    args = ap.parse_args()
    both = generate_stream(2 * args.events, seed=1)
    stream = prefix(both, args.events)
    more = both[len(stream) :]
    del both
    messages = stream.count(b"\r\n\r\n")
    print(f"stream_events={messages}")
    print(f"stream_mb={len(stream) / 1e6:.1f}")
    print(f"cpu_count={os.cpu_count()}")
    raw = bench_raw_read(stream, messages)
    print(f"raw_read_events_per_s={raw:.0f}")
    parser, _ = bench_parser(stream)
    print(f"parser_events_per_s={parser:.0f}")
    print(f"parser_share_of_raw_read={parser / raw:.3f}")
    pipeline, calls, growth, live, rss_before, rss_after = bench_pipeline(stream, more)
    print(f"pipeline_events_per_s={pipeline:.0f}")
    print(f"pipeline_calls_stored={calls}")
    print(f"pipeline_live_calls_at_end={live}")
    print(f"rss_mb_after_first_pass={rss_before:.1f}")
    print(f"rss_mb_after_second_pass={rss_after:.1f}")
    print(f"rss_growth_mb_per_million_events={growth:.1f}")
    client = bench_client(stream, messages)
    print(f"client_tcp_events_per_s={client:.0f}")
    pyst2, pyst2_count = bench_pyst2(prefix(stream, args.pyst2_events), args.pyst2_limit_s)
    print(f"pyst2_events_received={pyst2_count}")
    print(f"pyst2_events_per_s={pyst2:.0f}")
    print(f"pipeline_vs_pyst2={pipeline / pyst2:.0f}x")
    print(
        f"summary: raw {raw:,.0f}/s, parser {parser:,.0f}/s ({parser / raw:.0%} of raw), "
        f"pipeline {pipeline:,.0f}/s, client over TCP {client:,.0f}/s, "
        f"pyst2 {pyst2:,.0f}/s (pipeline {pipeline / pyst2:,.0f}x pyst2), "
        f"RSS growth {growth:.1f} MB per million events"
    )


if __name__ == "__main__":
    main()
