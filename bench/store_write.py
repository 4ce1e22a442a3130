"""Store write benchmark: how long ``write_batch`` takes to store N finished calls (with their legs,
holds, transfers, evidence and SLA evaluations, chained into the evidence chain) in batches of 500.

The calls come from the same generated AMI traffic as ``bench/ami_ingest.py``, run through the real
pipeline first (not timed), so the rows are realistic: ~10 evidence events per call.
Prints ``name=value`` lines; the last line is a one-line summary. ``--url`` points it at PostgreSQL.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.asterisk.framing import AmiParser
from adapters.asterisk.pipeline import AmiCallPipeline
from adapters.asterisk.synthetic import generate_stream
from monitor.bootstrap import call_service
from monitor.config import Settings, open_24_7_site
from monitor.domain.calls import CompletedCall
from monitor.service.writer import write_batch
from monitor.store.engine import make_engine, upgrade

BATCH = 500


def completed_calls(n: int) -> list[CompletedCall]:
    """``n`` finished calls: the calls of 300,000 generated events, repeated under new call ids (and
    later times) as often as needed, so memory stays small whatever ``n``."""
    settings = Settings(site=[open_24_7_site("bench")])
    done: list[CompletedCall] = []
    service = call_service(settings, settings.site[0], b"bench-key-0123456789abcdef", [done.append])
    pipeline = AmiCallPipeline(service)
    parser = AmiParser(expect_banner=False)
    stream = generate_stream(300_000, seed=1)
    for offset in range(0, len(stream), 65536):
        for message in parser.feed(stream[offset : offset + 65536]):
            pipeline.on_message(message, 0.0)
    base = list(done)
    out: list[CompletedCall] = []
    for copy in range(-(-n // len(base))):
        for c in base:
            record = replace(
                c.record,
                call_id=f"{c.record.call_id}-{copy}",
                arrived_at=c.record.arrived_at + copy * 86400.0,
            )
            out.append(CompletedCall(record, c.evidence))
    return out[:n]


def bench(url: str, calls: list[CompletedCall]) -> float:
    engine = make_engine(url)
    upgrade(engine)
    start = time.perf_counter()
    for i in range(0, len(calls), BATCH):
        result = write_batch(engine, calls[i : i + BATCH])
        assert result.duplicates == 0
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--url", help="database URL of an EMPTY database (default: a fresh SQLite file)")
    args = ap.parse_args()
    calls = completed_calls(args.calls)
    evidence = sum(len(c.evidence) for c in calls)
    print(f"calls={len(calls)}")
    print(f"evidence_rows={evidence}")
    with tempfile.TemporaryDirectory() as tmp:
        elapsed = bench(args.url or f"sqlite:///{tmp}/bench.db", calls)
    print(f"write_s={elapsed:.2f}")
    print(f"calls_per_s={len(calls) / elapsed:.0f}")
    print(f"summary: {len(calls)} calls ({evidence} evidence rows) written in {elapsed:.2f} s")


if __name__ == "__main__":
    main()
