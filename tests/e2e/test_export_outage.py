"""An export of a period with a real AMI outage: the daemon watches the simulator over TCP, the
connection is dropped mid-call, and the export's manifest states the monitoring gap."""

from __future__ import annotations

import asyncio
import csv
import hashlib
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlmodel import Session

from adapters.asterisk.captures import load_jsonl
from adapters.asterisk.simulator import AmiSimulator
from monitor.runtime import Daemon
from monitor.service.audit_export import export_period
from monitor.store.chain_verify import verify_chain
from monitor.store.engine import make_engine
from monitor.store.tables import table
from tests.e2e.test_daemon_captures import daemon_settings, wait_until
from tests.paths import CAPTURES


async def test_export_of_a_period_with_an_ami_outage_lists_the_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = load_jsonl(CAPTURES / "c_queue_hold35.jsonl")  # 51 s call with a 35 s hold
    sim = AmiSimulator(items, secret="sim-secret", speed=10.0, wait_for_clients=1)
    port = await sim.start()
    settings = daemon_settings(tmp_path, port, monkeypatch)
    daemon = Daemon(settings)
    task = asyncio.create_task(daemon.run())
    try:
        await daemon.started.wait()
        tracker = daemon.sites[0].service.tracker
        await wait_until(lambda: len(tracker.live_calls) == 1, 20, "call seen")
        await asyncio.sleep(2.0)  # into the call
        sim.drop_connections()  # the outage
        await wait_until(lambda: daemon.sites[0].source.client.reconnects >= 1, 20, "reconnected")
        await wait_until(lambda: sim.finished.is_set(), 30, "capture played")
        await wait_until(lambda: not tracker.live_calls, 20, "call closed")
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 30)
        await sim.close()

    engine = make_engine(settings.monitor.database_url)
    today = datetime.now(ZoneInfo("America/Detroit")).date()
    out = tmp_path / "export"
    manifest = await asyncio.to_thread(
        export_period, engine, settings, today - timedelta(days=1), today + timedelta(days=1), out
    )
    with Session(engine) as s:
        [stored] = s.execute(select(table("monitoring_gap"))).mappings().all()
        report = verify_chain(s)
    engine.dispose()

    [gap] = manifest["monitoring_gaps"]
    assert (gap["site"], gap["source"]) == ("detroit", "ami")
    assert 0 < gap["duration_s"] < 10 and gap["start_epoch"] == stored["start"]
    assert (gap["chain_seq"], gap["record_hash"]) == (stored["chain_seq"], stored["record_hash"])
    assert report.intact and manifest["evidence_chain"]["head_seq"] == report.head.seq
    [policy] = manifest["policy_versions"]  # registered by the daemon when it started
    assert policy["source"] == "evidence chain" and policy["thresholds"]["hold"] == {"max_s": 30.0}
    with (out / "calls.csv").open(newline="") as fh:
        [call] = [r for r in csv.DictReader(fh) if r["direction"] == "inbound"]
    assert call["approximate"] == "True"  # part of the call happened during the gap: said on the record
    assert call["caller"].endswith("****")
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == entry["sha256"]
