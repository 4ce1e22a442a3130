"""Load benchmark: a dealer group's busy hour, compressed, through the real daemon into PostgreSQL.

Twenty simulated PBXs (``bench/load_pbx.py``: AmiSimulator over TCP, synthetic traffic with ground
truth) run in a child process; the real ``Daemon`` (20 [[site]]/[[pbx]] entries, store writer, metrics,
API) runs in this process against a throwaway PostgreSQL. Default traffic: 500 calls per site at 500
calls per simulated hour (10,000 calls/h over the group), calls ~72 s long, so ~200 in progress at
once; played ``--speed`` times faster than real time (the daemon's clock runs at the same speed, so
every figure it computes is in simulated seconds).

Figures (``name=value`` lines, CONTRACTS section 7):
- ``events_per_s``: AMI events the daemon received per wall second while traffic played.
- ``lag_p50_s``/``lag_p99_s``/``lag_max_s``: for every event that reaches the call tracker, the wall
  clock when ``AmiCallPipeline.on_message`` returned (the tracker has applied it; live gauges are
  computed at scrape time from the tracker, so any scrape from then on shows it) minus the wall clock
  at which the PBX side handed it to its socket (``X-Sent`` header). Log-spaced histogram (5 %
  bins, upper edge reported), so memory stays constant.
- ``concurrent_calls_mean``: calls in progress in the tracker, mean over the middle of the run
  (20-80 % of the played time: after the ramp-up, before the last arrivals).
- ``rss_*``: this process (the daemon) sampled every 2 s. Warm-up = the first 20 % of the played wall
  time (~12 simulated minutes, ten call lengths: live state and connection pools at steady size).
  Flat = least-squares slope of RSS against calls completed after warm-up <= 5 MB per 10k calls
  (0.5 KB per call: a leaked record with its evidence is ~5 KB). Not zero because the tracker
  deliberately remembers the last 50,000 closed call ids per site (~150 B each, bounded) so a late
  event never opens a call twice; that alone is ~1.5 MB per 10k calls until the bound is reached.
- ``calls_lost``/``calls_duplicated``/``calls_mismatched``: the ``call`` table against the
  generators' ground truth, per site: ids, direction, outcome, answered_by, time to answer (0.01 s).
Exit 1 when acceptance fails: any lost, duplicated or mismatched call, lag p99 > 1 s, RSS not flat.
``BENCH_LOAD_QUICK=1`` (or ``--calls-per-site``/``--speed``) runs a short development version.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import multiprocessing as mp
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from load_pbx import SECRET, SENT_HEADER, PbxResult, Truth, pbx_main, sim_clock
from sqlalchemy import text

from adapters.asterisk.framing import AmiMessage
from adapters.asterisk.pipeline import AmiCallPipeline
from monitor.config import MonitorSettings, PbxSettings, Settings, open_24_7_site
from monitor.runtime import Daemon
from monitor.store.engine import make_engine
from tests.services import throwaway_postgres

LAG_GOAL_S = 1.0
RSS_SLOPE_GOAL_MB_PER_10K = 5.0
WARMUP_SHARE = 0.2


class LagHistogram:
    """Log-spaced bins from 10 us to ~1000 s, 5 % wide: constant memory whatever the event count."""

    LOW, RATIO, BINS = 1e-5, 1.05, 400

    def __init__(self) -> None:
        self.counts = [0] * (self.BINS + 1)
        self.total = 0
        self.max = 0.0
        self._log_ratio = math.log(self.RATIO)

    def add(self, seconds: float) -> None:
        self.total += 1
        if seconds > self.max:
            self.max = seconds
        i = 0 if seconds <= self.LOW else int(math.log(seconds / self.LOW) / self._log_ratio) + 1
        self.counts[min(i, self.BINS)] += 1

    def quantile(self, q: float) -> float:
        """Upper edge of the bin holding the q-quantile (pessimistic by at most one bin, 5 %)."""
        rank, seen = q * self.total, 0
        for i, n in enumerate(self.counts):
            seen += n
            if n and seen >= rank:
                return min(self.LOW * self.RATIO**i, self.max)
        return self.max


def install_lag_probe(hist: LagHistogram) -> None:
    """Wrap the pipeline's entry point, before the daemon builds its sources (they bind it then)."""
    original = AmiCallPipeline.on_message
    wall = time.time

    def on_message(self: AmiCallPipeline, message: AmiMessage, received_at: float) -> None:
        original(self, message, received_at)
        sent = message.headers.get(SENT_HEADER)
        if sent is not None:
            hist.add(wall() - float(sent))

    AmiCallPipeline.on_message = on_message  # type: ignore[method-assign]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else float("nan")


async def scrape(port: int) -> tuple[float, str]:
    """GET /metrics as Prometheus would (its own TCP connection); returns (seconds, body)."""
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
    body = await reader.read()
    writer.close()
    return time.perf_counter() - start, body.decode(errors="replace")


def metric_sum(body: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(name + "{"))


class Stage:
    def __init__(self, args: argparse.Namespace, url: str) -> None:
        self.args, self.url = args, url
        self.t0 = float(int(time.time()))
        self.w0 = mp.get_context("fork").Value("d", 0.0, lock=False)
        self.hist = LagHistogram()
        self.samples: list[tuple[float, int, float, int]] = []  # wall, calls completed, RSS MB, live
        self.scrapes: list[float] = []
        self.figures: dict[str, Any] = {}

    def settings(self, ports: list[int]) -> Settings:
        ids = [f"site{i:02d}" for i in range(len(ports))]
        return Settings(
            monitor=MonitorSettings(database_url=self.url, listen="127.0.0.1:0"),
            site=[open_24_7_site(s) for s in ids],
            pbx=[
                PbxSettings(site=s, host="127.0.0.1", port=p, username="monitor")
                for s, p in zip(ids, ports, strict=True)
            ],
        )

    async def run(self, ports: list[int], conn: Any) -> PbxResult:
        a = self.args
        daemon = Daemon(self.settings(ports), clock=sim_clock(self.t0, self.w0, a.speed))
        task = asyncio.create_task(daemon.run())
        await daemon.started.wait()
        async with asyncio.timeout(60):
            while not all(s.source.up for s in daemon.sites):
                await asyncio.sleep(0.05)
        self.w0.value = time.time() + 0.5  # both processes' clocks start; the PBXs start playing
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(self._sample(daemon, stop_sampling))
        expected_wall = a.calls_per_site / a.calls_per_hour * 3600 / a.speed
        result: PbxResult | None = None
        async with asyncio.timeout(expected_wall * 2 + 120):
            while result is None:
                await asyncio.sleep(0.2)
                if conn.poll():
                    result = conn.recv()
            while any(s.service.tracker.live_calls for s in daemon.sites):
                await asyncio.sleep(0.2)
        stop_sampling.set()
        await sampler
        assert daemon.port is not None
        _, body = await scrape(daemon.port)
        self.figures["metrics_inbound_calls"] = int(metric_sum(body, "slamon_calls_total"))
        self.figures["calls_emitted"] = sum(s.service.stats.completed for s in daemon.sites)
        self.figures["events_received"] = sum(s.source.events_total for s in daemon.sites)
        self.figures["reconnects"] = sum(s.source.client.reconnects for s in daemon.sites)
        daemon.stop.set()
        await asyncio.wait_for(task, 120)
        return result

    async def _sample(self, daemon: Daemon, stop: asyncio.Event) -> None:
        tick = 0
        while not stop.is_set():
            done = sum(s.service.stats.completed for s in daemon.sites)
            live = sum(len(s.service.tracker.live_calls) for s in daemon.sites)
            self.samples.append((time.time(), done, rss_mb(), live))
            if tick % 3 == 0 and daemon.port is not None:  # a Prometheus scrape every 6 s
                seconds, _ = await scrape(daemon.port)
                self.scrapes.append(seconds)
            tick += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)


def verify(url: str, result: PbxResult) -> tuple[int, int, int, int, list[str]]:
    """(expected, lost, duplicated, mismatched, examples) from the stored calls."""
    engine = make_engine(url)
    with engine.connect() as db:
        rows = db.execute(
            text(
                "SELECT site, call_id, direction, outcome, answered_by, time_to_answer_s, approximate "
                "FROM call"
            )
        ).all()
    engine.dispose()
    seen = Counter((r.site, r.call_id) for r in rows)
    stored = {(r.site, r.call_id): r for r in rows}
    expected: dict[tuple[str, str], Truth] = {}
    for i, calls in enumerate(result.truth):
        for t in calls:
            expected[(f"site{i:02d}", t.call_id)] = t
    lost = sum(1 for key in expected if key not in stored)
    duplicated = sum(n - 1 for n in seen.values()) + sum(1 for key in stored if key not in expected)
    mismatched, examples = 0, list[str]()
    for key, t in expected.items():
        r = stored.get(key)
        if r is None:
            continue
        if t.direction != "inbound":
            tta_ok = True  # time to answer is a customer-call figure (outbound ones are not compared)
        elif t.time_to_answer_s is None:
            tta_ok = r.time_to_answer_s is None
        else:
            tta_ok = r.time_to_answer_s is not None and abs(r.time_to_answer_s - t.time_to_answer_s) <= 0.01
        answered_by_ok = t.direction != "inbound" or r.answered_by == t.answered_by
        if (
            (r.direction, r.outcome) != (t.direction, t.outcome)
            or not answered_by_ok
            or not tta_ok
            or r.approximate
        ):
            mismatched += 1
            if len(examples) < 5:
                examples.append(f"{key}: stored {tuple(r)} expected {t}")
    return len(expected), lost, duplicated, mismatched, examples


def report(stage: Stage, result: PbxResult, check: tuple[int, int, int, int, list[str]]) -> bool:
    a, f, hist = stage.args, stage.figures, stage.hist
    expected, lost, duplicated, mismatched, examples = check
    played = max(result.last_sent - result.first_sent, 1e-9)
    warm_end = result.first_sent + WARMUP_SHARE * played
    steady = [s for s in stage.samples if warm_end <= s[0] <= result.first_sent + 0.8 * played]
    after = [s for s in stage.samples if s[0] >= warm_end]
    rss_slope = slope([(s[1], s[2]) for s in after]) * 10_000
    inbound = sum(1 for calls in result.truth for t in calls if t.direction == "inbound")
    p50, p99 = hist.quantile(0.5), hist.quantile(0.99)
    scrapes = sorted(stage.scrapes)
    lines: dict[str, object] = {
        "sites": a.sites,
        "calls_generated": expected,
        "calls_per_sim_hour": f"{a.sites * a.calls_per_hour:.0f}",
        "speed_factor": f"{a.speed:g}",
        "sim_span_s": f"{result.last_event_t - stage.t0:.0f}",
        "wall_play_s": f"{played:.1f}",
        "concurrent_calls_mean": f"{sum(s[3] for s in steady) / max(len(steady), 1):.0f}",
        "concurrent_calls_max": max((s[3] for s in stage.samples), default=0),
        "events_sent": result.messages_sent,
        "events_received": f["events_received"],
        "events_per_s": f"{f['events_received'] / played:.0f}",
        "tracker_events": hist.total,
        "lag_p50_s": f"{p50:.4f}",
        "lag_p99_s": f"{p99:.4f}",
        "lag_max_s": f"{hist.max:.3f}",
        "pbx_late_events_over_100ms": result.late.late_over_100ms,
        "pbx_late_max_s": f"{result.late.max_s:.3f}",
        "scrape_p99_s": f"{scrapes[int(0.99 * (len(scrapes) - 1))]:.3f}" if scrapes else "nan",
        "rss_mb_warmup_end": f"{after[0][2]:.1f}" if after else "nan",
        "rss_mb_end": f"{stage.samples[-1][2]:.1f}" if stage.samples else "nan",
        "rss_slope_mb_per_10k_calls": f"{rss_slope:.2f}",
        "calls_emitted": f["calls_emitted"],
        "calls_lost": lost,
        "calls_duplicated": duplicated,
        "calls_mismatched": mismatched,
        "metrics_inbound_calls_total": f["metrics_inbound_calls"],
        "inbound_calls_expected": inbound,
        "ami_reconnects": f["reconnects"],
    }
    for name, value in lines.items():
        print(f"{name}={value}")
    for line in examples:
        print(f"mismatch: {line}", file=sys.stderr)
    counted_once = lost == duplicated == mismatched == 0 and f["calls_emitted"] == expected
    counted_once = counted_once and f["metrics_inbound_calls"] == inbound
    flat = rss_slope <= RSS_SLOPE_GOAL_MB_PER_10K
    ok = counted_once and p99 <= LAG_GOAL_S and flat
    print(f"load_acceptance={'met' if ok else 'missed'}")
    print(
        f"summary: {expected:,} calls over {a.sites} sites at {a.speed:g}x "
        f"({f['events_received'] / played:,.0f} events/s, ~{lines['concurrent_calls_mean']} calls in "
        f"progress): lag p50 {p50 * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms (goal <= {LAG_GOAL_S:g} s); lost {lost}, duplicated {duplicated}, "
        f"mismatched {mismatched}; RSS {lines['rss_mb_warmup_end']} -> {lines['rss_mb_end']} MB "
        f"({rss_slope:+.2f} MB per 10k calls, goal <= {RSS_SLOPE_GOAL_MB_PER_10K:g})"
    )
    return ok


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quick = os.environ.get("BENCH_LOAD_QUICK") == "1"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=20)
    ap.add_argument("--calls-per-site", type=int, default=60 if quick else 500)
    ap.add_argument("--calls-per-hour", type=float, default=500.0, help="per site, simulated")
    ap.add_argument("--speed", type=float, default=15.0, help="simulated seconds per wall second")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("SLAMON_HMAC_KEY", "load-bench-hmac-key-0123456789abcdef")
    os.environ["SLAMON_AMI_SECRET"] = SECRET
    hist = LagHistogram()
    install_lag_probe(hist)
    with throwaway_postgres() as url:
        stage = Stage(args, url)
        stage.hist = hist
        ctx = mp.get_context("fork")
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=pbx_main,
            args=(
                args.sites,
                args.calls_per_site,
                args.calls_per_hour,
                args.speed,
                stage.t0,
                stage.w0,
                child,
                args.seed,
            ),
            daemon=True,
        )
        proc.start()
        try:
            ports = parent.recv()
            result = asyncio.run(stage.run(ports, parent))
            parent.send("stop")
            proc.join(30)
            ok = report(stage, result, verify(url, result))
        finally:
            if proc.is_alive():
                proc.kill()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
