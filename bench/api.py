"""API benchmark (issue 6): 1,000,000 generated calls in a throwaway PostgreSQL, served by the real
app under uvicorn, measured over HTTP on loopback.

- api_summary_month_day_p95_ms: ``GET /api/v1/sla/summary`` for one month grouped by day, all sites
  (~500,000 calls aggregated); ``..._site_p95_ms`` the same for the busiest site. Goal <= 100 ms.
- api_calls_page_p95_ms: ``GET /api/v1/calls?limit=100`` (first page); ``..._deep_p95_ms`` the same
  with a cursor ~900,000 calls deep; ``..._filtered_p95_ms`` with site+queue+outcome. Goal <= 50 ms.
- The month is summarised from the call rollup (``call_slot``, brought up to date after the load as
  the daemon does every 30 s; ``load_rollup_s``) plus the calls not rolled up yet.
  ``api_summary_month_day_from_calls_*``: the same request before any rollup pass (every call
  counted from ``call``, through the covering index), for comparison.
- api_export_rss_*: the server process's resident memory while it streams the full calls CSV
  (sampled every 50 ms from /proc): at the start, at the peak, and the growth. Goal: flat.

The calls are ``call`` rows shaped like real ones (the record JSON as the tracker writes it, masked
caller, HMAC key, chain columns), spread over September-October 2026 in business hours on four sites
in two zones, with several queues, 40 advisors, realistic outcomes and two policy versions (both
registered). They are bulk-loaded with COPY (not chained: the chain is not what is measured), then
VACUUM ANALYZE, as autovacuum would have done. Each timing is preceded by warm-up requests.
Needs the Debian postgresql-15 package. Prints ``name=value`` lines; the last line is a summary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import psycopg
from sqlalchemy import text

from monitor.config import PolicySettings, Settings, SiteSettings
from monitor.service.summary import roll_up_calls
from monitor.store.chain import CHAINED
from monitor.store.engine import make_engine, upgrade
from monitor.store.repository import encode_cursor
from monitor.tokens import create_token
from tests.services import free_port, throwaway_postgres

CALLS = 1_000_000
REQUESTS = 60
UNROLLED_REQUESTS = 20
WARMUP = 5
SITES = (
    ("detroit", "America/Detroit", 0.4),
    ("toledo", "America/New_York", 0.2),
    ("denver", "America/Denver", 0.2),
    ("boise", "America/Boise", 0.2),
)
QUEUES = ("service", "service", "service", "parts", "parts", "sales", "reception")
START = datetime(2026, 9, 1).timestamp()
DAYS = 61
POLICIES = {
    "2026-09-01.1": {
        "answer_within_rings": 3,
        "max_hold_s": 30.0,
        "first_reply_business_s": 3600.0,
        "acknowledge_business_days": 2.0,
    },
    "2026-10-15.2": {
        "answer_within_rings": 4,
        "max_hold_s": 45.0,
        "first_reply_business_s": 3600.0,
        "acknowledge_business_days": 2.0,
    },
}
SWITCH = datetime(2026, 10, 15, tzinfo=ZoneInfo("America/Detroit")).timestamp()
# The call table's columns in the chain's order (the COPY writes rows shaped like real records).
COLUMNS = (*CHAINED["call"].key, *CHAINED["call"].data, "chain_seq", "prev_hash", "record_hash")


def _outcome(rng: random.Random) -> str:
    r = rng.random()
    for name, share in (
        ("answered", 0.82),
        ("abandoned", 0.08),
        ("missed", 0.03),
        ("voicemail", 0.04),
        ("after_hours", 0.02),
    ):
        if r < share:
            return name
        r -= share
    return "failed"


def call_rows(n: int, seed: int = 7) -> Any:
    """``n`` call rows in arrival order, as the store holds them."""
    rng = random.Random(seed)
    sites = [s for s, _, share in SITES for _ in range(int(share * 10))]
    zones = {s: ZoneInfo(z) for s, z, _ in SITES}
    step = DAYS * 86400.0 / n
    for i in range(n):
        site = sites[i % len(sites)]
        t = START + i * step
        local = datetime.fromtimestamp(t, zones[site])
        # Fold the clock into business hours (07:30-18:00) so figures look like a service desk's.
        seconds = 27000 + (local.hour * 3600 + local.minute * 60 + local.second) * 37800 / 86400
        arrived = round(t - (local.hour * 3600 + local.minute * 60 + local.second) + seconds, 3)
        direction = "inbound" if rng.random() < 0.85 else ("outbound" if rng.random() < 0.8 else "internal")
        outcome = _outcome(rng) if direction == "inbound" else "answered"
        queue = rng.choice(QUEUES) if direction == "inbound" and rng.random() < 0.8 else None
        agent = f"2{rng.randrange(40):02d}"
        version = "2026-09-01.1" if arrived < SWITCH else "2026-10-15.2"
        policy = POLICIES[version]
        answered = outcome == "answered"
        tta = round(rng.lognormvariate(2.2, 0.6), 3) if answered else None
        rings = max(1, int(-(-tta // 6.0))) if tta is not None else None
        waited = round(rng.lognormvariate(2.8, 0.8), 3)
        hold = round(rng.lognormvariate(3.0, 0.7), 3) if answered and rng.random() < 0.2 else 0.0
        talk = round(rng.lognormvariate(5.0, 0.6), 3) if answered else 0.0
        answered_at = round(arrived + tta, 3) if tta is not None else None
        ended = round((answered_at + talk + hold) if answered_at is not None else arrived + waited, 3)
        customer = f"+1313555{i % 10000:04d}"
        caller = customer[:-4] + "****"
        call_id = f"{1790000000 + i // 10}.{i}"
        inbound = direction == "inbound" and outcome not in ("after_hours", "failed")
        sla = {
            "answer_rings": (
                "met" if rings is not None and rings <= policy["answer_within_rings"] else "breached"
            )
            if inbound and (answered or waited > 18)
            else "n/a",
            "hold": ("breached" if hold > policy["max_hold_s"] else "met") if inbound and answered else "n/a",
            "abandon": "breached" if inbound and outcome in ("abandoned", "missed") else "n/a",
        }
        record = {
            "call_id": call_id,
            "site": site,
            "direction": direction,
            "caller": caller,
            "dialed": "600" if direction == "inbound" else caller,
            "queue": queue,
            "arrived_at": arrived,
            "answered_at": answered_at,
            "ended_at": ended,
            "outcome": outcome,
            "answered_by": agent if answered else None,
            "time_to_answer_s": tta,
            "rings_to_answer": rings,
            "queue_wait_s": (tta if answered else waited) if queue else None,
            "legs": [
                {
                    "agent": agent,
                    "ring_s": tta or waited,
                    "reached_ringing": True,
                    "answered": answered,
                    "status": "ANSWER" if answered else "NOANSWER",
                }
            ],
            "holds": [{"start": answered_at + 30.0, "end": answered_at + 30.0 + hold, "s": hold, "by": agent}]
            if hold and answered_at is not None
            else [],
            "hold_total_s": hold,
            "hold_max_s": hold,
            "talk_s": talk,
            "transfers": [],
            "sla": sla,
            "policy_version": version,
            "approximate": False,
            "closed_reason": "hangup",
        }
        text = json.dumps(record, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()
        yield (
            site,
            call_id,
            direction,
            caller,
            hashlib.sha256(customer.encode()).hexdigest(),
            record["dialed"],
            queue,
            arrived,
            answered_at,
            ended,
            outcome,
            record["answered_by"],
            tta,
            rings,
            record["queue_wait_s"],
            hold,
            hold,
            talk,
            version,
            False,
            "hangup",
            text,
            i + 1,
            digest,
            digest,
        )


def load(url: str, n: int) -> dict[str, float]:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    out: dict[str, float] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy(f"COPY call ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in call_rows(n):
                    copy.write_row(row)
            seq = 0
            for version, policy in POLICIES.items():
                for site, _, _ in SITES:
                    seq += 1
                    cur.execute(
                        "INSERT INTO policy_version (version, site, policy_json, created_at, chain_seq,"
                        " prev_hash, record_hash) VALUES (%s, %s, %s, %s, %s, '', '')",
                        (version, site, json.dumps(policy, sort_keys=True), START, seq),
                    )
        out["load_copy_s"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        out["load_vacuum_analyze_s"] = time.perf_counter() - started
        sizes = conn.execute(
            "SELECT pg_table_size('call'), pg_relation_size('ix_call_site_arrived_at_id')"
        ).fetchone()
        assert sizes is not None
        out["table_mb"], out["summary_index_mb"] = sizes[0] / 1e6, sizes[1] / 1e6
    return out


def roll_up(url: str) -> dict[str, float]:
    """What the daemon's housekeeping does every 30 s as calls come in, here in one go."""
    engine = make_engine(url)
    started = time.perf_counter()
    roll_up_calls(engine, bench_settings())
    out: dict[str, float] = {"load_rollup_s": time.perf_counter() - started}
    with engine.connect() as conn:
        out["rollup_rows"] = conn.execute(text("SELECT count(*) FROM call_slot")).scalar_one()
        conn.execute(text("ANALYZE call_slot"))
        conn.commit()
    engine.dispose()
    return out


def bench_settings() -> Settings:
    return Settings(
        site=[SiteSettings(id=s, timezone=z) for s, z, _ in SITES],
        policy=PolicySettings(version="2026-10-15.2", answer_within_rings=4, max_hold_s=45.0),
    )


def serve(url: str, tokens_file: str, port: int) -> None:
    """The child process: the real app under uvicorn (what ``slamon run`` serves)."""
    import uvicorn
    from prometheus_client import CollectorRegistry

    from monitor.api.app import create_app
    from monitor.api.deps import AppContext
    from monitor.tokens import load_tokens

    ctx = AppContext(
        engine=make_engine(url),
        tokens=load_tokens(Path(tokens_file)),
        metrics_registry=CollectorRegistry(),
        settings=bench_settings(),
    )
    uvicorn.run(create_app(ctx), host="127.0.0.1", port=port, log_level="warning", lifespan="off")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(client: httpx.Client, path: str, params: dict[str, Any], requests: int = REQUESTS) -> list[float]:
    for _ in range(WARMUP):
        client.get(path, params=params).raise_for_status()
    out = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, params=params)
        out.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def export_memory(client: httpx.Client, pid: int) -> dict[str, float]:
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(rss_mb(pid))
            time.sleep(0.05)

    start_rss = rss_mb(pid)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    lines = size = 0
    with client.stream("GET", "/api/v1/export/calls.csv", timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    half = samples[len(samples) // 2 :]
    return {
        "api_export_rows": lines - 1,
        "api_export_mb": size / 1e6,
        "api_export_s": elapsed,
        "api_export_rows_per_s": (lines - 1) / elapsed,
        "api_export_rss_start_mb": start_rss,
        "api_export_rss_peak_mb": max(samples),
        "api_export_rss_growth_mb": max(samples) - start_rss,
        "api_export_rss_second_half_growth_mb": max(half) - half[0],
        "api_export_rss_samples": len(samples),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=CALLS)
    ap.add_argument("--serve", nargs=3, metavar=("URL", "TOKENS", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return
    figures: dict[str, float] = {"calls": args.calls, "cpu_count": os.cpu_count() or 0}
    with throwaway_postgres() as url, tempfile.TemporaryDirectory() as tmp:
        figures.update(load(url, args.calls))
        tokens = Path(tmp) / "tokens"
        token = create_token(tokens, "auditor")
        port = free_port()
        server = subprocess.Popen([sys.executable, __file__, "--serve", url, str(tokens), str(port)])
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as client:
                for _ in range(200):
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                month = {"from": "2026-10-01", "to": "2026-11-01", "group_by": "day"}
                summary = client.get("/api/v1/sla/summary", params=month).json()
                figures["api_summary_month_calls"] = summary["totals"]["calls"]["offered"]
                figures["api_summary_month_service_level"] = summary["totals"]["service_level"]
                figures["api_summary_month_policy_versions"] = len(summary["policy_versions"])
                # For comparison: the same month counted from the calls alone (no rollup pass yet).
                unrolled = timed(client, "/api/v1/sla/summary", month, requests=UNROLLED_REQUESTS)
                figures["api_summary_month_day_from_calls_p50_ms"] = statistics.median(unrolled)
                figures["api_summary_month_day_from_calls_p95_ms"] = p95(unrolled)
                figures.update(roll_up(url))
                runs = {
                    "api_summary_month_day": timed(client, "/api/v1/sla/summary", month),
                    "api_summary_month_day_site": timed(
                        client, "/api/v1/sla/summary", {**month, "site": "detroit"}
                    ),
                    "api_summary_month_queue_site": timed(
                        client, "/api/v1/sla/summary", {**month, "site": "detroit", "group_by": "queue"}
                    ),
                    "api_calls_page": timed(client, "/api/v1/calls", {"limit": 100}),
                }
                deep = encode_cursor(START + 86400.0 * 5, int(args.calls * 0.1), newest_first=True)
                runs["api_calls_page_deep"] = timed(client, "/api/v1/calls", {"limit": 100, "cursor": deep})
                runs["api_calls_page_filtered"] = timed(
                    client,
                    "/api/v1/calls",
                    {"limit": 100, "site": "detroit", "queue": "parts", "outcome": "abandoned"},
                )
                for name, values in runs.items():
                    figures[f"{name}_p50_ms"] = statistics.median(values)
                    figures[f"{name}_p95_ms"] = p95(values)
                figures["api_requests_per_timing"] = REQUESTS
                figures.update(export_memory(client, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)
    for name, value in figures.items():
        print(f"{name}={value:.1f}" if isinstance(value, float) else f"{name}={value}")
    summary_ok = figures["api_summary_month_day_p95_ms"] <= 100
    page_ok = max(figures["api_calls_page_p95_ms"], figures["api_calls_page_deep_p95_ms"]) <= 50
    flat = figures["api_export_rss_second_half_growth_mb"] <= 5
    print(
        f"api: summary month p95 {figures['api_summary_month_day_p95_ms']:.0f} ms "
        f"({'<=' if summary_ok else '>'} 100), calls page p95 {figures['api_calls_page_p95_ms']:.0f} ms "
        f"/ deep {figures['api_calls_page_deep_p95_ms']:.0f} ms ({'<=' if page_ok else '>'} 50), "
        f"CSV export of {figures['api_export_rows']:.0f} calls RSS "
        f"{figures['api_export_rss_start_mb']:.0f} -> {figures['api_export_rss_peak_mb']:.0f} MB "
        f"({'flat' if flat else 'growing'})"
    )


if __name__ == "__main__":
    main()
