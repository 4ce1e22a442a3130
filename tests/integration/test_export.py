"""``slamon export`` over a real store (SQLite and PostgreSQL): the real captures replayed through the
pipeline, a monitoring gap, inquiries evaluated and corrected; files checked against the manifest,
the captures' known figures and the evidence chain."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from adapters.asterisk.pipeline import AmiCallPipeline
from adapters.asterisk.replay import replay_file
from monitor.bootstrap import call_service
from monitor.cli import app
from monitor.config import MonitorSettings, Settings, open_24_7_site
from monitor.domain.calls import CompletedCall
from monitor.domain.events import MonitoringGap
from monitor.service.audit_export import export_period
from monitor.service.policies import call_thresholds, register_policies
from monitor.service.public import BREACH_CSV_COLUMNS, CALL_CSV_COLUMNS, INQUIRY_CSV_COLUMNS
from monitor.service.summary import SiteRules, SummaryRequest, sla_summary
from monitor.service.writer import write_batch
from monitor.store.chain_verify import verify_chain
from monitor.store.engine import make_engine, upgrade
from monitor.store.tables import table
from tests.integration.audit_cases import inquiry_view, save
from tests.integration.store_cases import realistic_call
from tests.paths import CAPTURES

KEY = b"export-test-key-0123456789"
LA = "America/Los_Angeles"  # the captures ran 05:42-05:54 UTC on 2026-11-24: the evening before in LA
FROM, TO = "2026-11-23", "2026-11-23"
GAP_IN = MonitoringGap("ami", "detroit", 1795499100.0, 1795499160.5, "connection lost")
GAP_OUT = MonitoringGap("ami", "detroit", 1795599100.0, 1795599110.0, "connection lost")  # Nov 25


def settings(url: str, zone: str = LA) -> Settings:
    site = open_24_7_site("detroit").model_copy(update={"timezone": zone})
    return Settings(monitor=MonitorSettings(database_url=url), site=[site])


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/export.db"
    return str(request.getfixturevalue("postgres_url"))


def populate(url: str) -> tuple[Engine, dict[str, str]]:
    """The store, and capture name -> call id of its inbound call."""
    upgrade(url)
    engine = make_engine(url)
    s = settings(url)
    register_policies(engine, s, 1795400000.0)
    done: list[CompletedCall] = []
    ids: dict[str, str] = {}
    service = call_service(s, s.site[0], KEY, [done.append])
    for path in sorted(CAPTURES.glob("*.jsonl")):
        before = len(done)
        replay_file(path, AmiCallPipeline(service))
        inbound = [c.record.call_id for c in done[before:] if c.record.direction == "inbound"]
        if len(inbound) == 1:
            ids[path.stem] = inbound[0]
    write_batch(engine, [*done, GAP_IN, GAP_OUT], thresholds_for=call_thresholds(s))
    met = inquiry_view(status="met", reply_at=1795498998.93 + 1800, measured=1800.0)
    late = replace(inquiry_view(status="breached", reply_at=None, elapsed=3700.0), inquiry_id="inq-2")
    save(engine, met)
    save(engine, late)
    save(
        engine,
        replace(
            late, first_human_reply_at=1795498998.93 + 9000, business_seconds_to_first_human_reply=5400.0
        ),
    )
    return engine, ids


def export(engine: Engine, url: str, out: Path, **kwargs: Any) -> dict[str, Any]:
    first, last = kwargs.pop("first", FROM), kwargs.pop("last", TO)
    s = kwargs.pop("settings", None) or settings(url)
    return export_period(engine, s, date.fromisoformat(first), date.fromisoformat(last), out, **kwargs)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_manifest_checksums_and_counts_match_the_files(url: str, tmp_path: Path) -> None:
    engine, _ = populate(url)
    manifest = export(engine, url, tmp_path / "out")
    for name in ("calls.csv", "inquiries.csv", "breaches.csv"):
        data = (tmp_path / "out" / name).read_bytes()
        entry = manifest["files"][name]
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert entry["bytes"] == len(data) and entry["rows"] == data.count(b"\n") - 1, name
    assert json.loads((tmp_path / "out" / "manifest.json").read_text()) == manifest
    assert manifest["counts"]["calls"] == 10 and manifest["counts"]["inquiries"] == 2
    with Session(engine) as s:
        report = verify_chain(s)
    assert report.intact
    assert (manifest["evidence_chain"]["head_seq"], manifest["evidence_chain"]["head_hash"]) == (
        report.head.seq,
        report.head.hash,
    )
    engine.dispose()


def test_calls_csv_rows_for_known_calls(url: str, tmp_path: Path) -> None:
    engine, ids = populate(url)
    export(engine, url, tmp_path / "out")
    calls = {r["call_id"]: r for r in rows(tmp_path / "out" / "calls.csv")}
    with (tmp_path / "out" / "calls.csv").open() as fh:
        assert next(csv.reader(fh)) == [*CALL_CSV_COLUMNS, "chain_seq", "record_hash"]
    hold = calls[ids["c_queue_hold35"]]
    assert (hold["outcome"], hold["answered_by"], hold["queue"], hold["caller"]) == (
        "answered",
        "201",
        "service",
        "+1313555****",
    )
    assert float(hold["hold_max_s"]) == pytest.approx(35.0, abs=0.1)
    assert (hold["sla_answer_rings"], hold["sla_hold"], hold["sla_abandon"]) == ("met", "breached", "n/a")
    assert hold["arrived_at_local"].startswith("2026-11-23T21:") and hold["arrived_at_local"].endswith(
        "-08:00"
    )
    abandon = calls[ids["d_queue_abandon20"]]
    assert (abandon["outcome"], abandon["sla_answer_rings"], abandon["sla_abandon"]) == (
        "abandoned",
        "breached",
        "breached",
    )
    assert abandon["answered_at"] == "" and float(abandon["queue_wait_s"]) == pytest.approx(20.0, abs=0.5)
    rollover = calls[ids["e_queue_ringnoanswer_rollover"]]
    assert (rollover["answered_by"], rollover["rings_to_answer"], rollover["sla_answer_rings"]) == (
        "202",
        "5",
        "breached",
    )
    with Session(engine) as s:
        call = table("call")
        stored = {
            r.call_id: r for r in s.execute(select(call.c.call_id, call.c.chain_seq, call.c.record_hash))
        }
    for call_id, row in calls.items():
        assert (int(row["chain_seq"]), row["record_hash"]) == (
            stored[call_id].chain_seq,
            stored[call_id].record_hash,
        )
    engine.dispose()


def test_breaches_are_the_evaluations_in_force_with_their_figures(url: str, tmp_path: Path) -> None:
    engine, ids = populate(url)
    manifest = export(engine, url, tmp_path / "out")
    breaches = rows(tmp_path / "out" / "breaches.csv")
    with (tmp_path / "out" / "breaches.csv").open() as fh:
        assert next(csv.reader(fh)) == [
            *BREACH_CSV_COLUMNS,
            "revision",
            "supersedes_seq",
            "chain_seq",
            "record_hash",
        ]
    found = {(b["subject_id"], b["standard"]): b for b in breaches}
    hold = found[(ids["c_queue_hold35"], "hold")]
    assert (hold["unit"], float(hold["threshold"]), hold["caller_or_customer"]) == ("s", 30.0, "+1313555****")
    assert float(hold["measured"]) == pytest.approx(35.0, abs=0.1) and hold["revision"] == "0"
    assert (ids["d_queue_abandon20"], "answer_rings") in found
    # inq-2 was breached, then its late reply was found: one breach, the correction (revision 1).
    inquiry = found[("inq-2", "first_reply")]
    assert (inquiry["revision"], inquiry["measured"], inquiry["caller_or_customer"]) == (
        "1",
        "5400.0",
        "j***@example.com",
    )
    assert inquiry["supersedes_seq"] != "" and int(inquiry["chain_seq"]) > int(inquiry["supersedes_seq"])
    assert ("inq-1", "first_reply") not in found  # met
    assert all(b["result"] == "breached" for b in breaches)
    assert manifest["counts"]["breaches"] == len(breaches)
    assert sum(manifest["counts"]["breaches_by_standard"].values()) == len(breaches)
    inquiries = {r["inquiry_id"]: r for r in rows(tmp_path / "out" / "inquiries.csv")}
    assert list(rows(tmp_path / "out" / "inquiries.csv")[0])[: len(INQUIRY_CSV_COLUMNS)] == list(
        INQUIRY_CSV_COLUMNS
    )
    assert (inquiries["inq-2"]["sla_result"], inquiries["inq-2"]["sla_revision"]) == ("breached", "1")
    assert inquiries["inq-2"]["sla_chain_seq"] == inquiry["chain_seq"]
    engine.dispose()


def test_gaps_policies_and_service_level_in_the_manifest(url: str, tmp_path: Path) -> None:
    engine, _ = populate(url)
    manifest = export(engine, url, tmp_path / "out")
    [gap] = manifest["monitoring_gaps"]  # GAP_OUT (two days later) is not in the period
    assert (gap["site"], gap["source"], gap["reason"], gap["duration_s"]) == (
        "detroit",
        "ami",
        "connection lost",
        60.5,
    )
    assert (
        gap["start"] == "2026-11-23T21:45:00-08:00" and gap["chain_seq"] > 0 and len(gap["record_hash"]) == 64
    )
    policies = {p["version"]: p for p in manifest["policy_versions"]}
    policy = policies[settings(url).policy_for("detroit").version]  # the calls': registered at start
    # The inquiries here name a version that was never registered nor configured: said so.
    assert (
        policies["2026-11-25.1"]["source"].startswith("unknown")
        and policies["2026-11-25.1"]["policy"] is None
    )
    assert policy["source"] == "evidence chain" and policy["thresholds"]["answer_rings"] == {
        "rings": 3,
        "ring_cycle_s": 6.0,
        "seconds": 18.0,
    }
    assert policy["thresholds"]["hold"] == {"max_s": 30.0}
    level = manifest["service_level"]
    assert "answered_within_threshold / (answered + abandoned" in level["formula"]
    [site] = level["sites"]
    c = site["components"]
    assert (
        c["offered"] == 10
        and c["answered"] + c["abandoned"] + c["missed"] + c["voicemail"] + c["after_hours"] <= 10
    )
    denominator = c["answered"] + c["abandoned"] + c["missed"] - c["short_abandoned"]
    assert site["service_level"] == round(c["answered_within_threshold"] / denominator, 4)
    # The same components as the API's summary of the same period (every call here is in hours).
    period = manifest["period"]["sites"][0]
    with Session(engine) as s:
        rules = SiteRules(zone=lambda _s: ZoneInfo(LA), short_abandon_s=lambda _s: 5.0)
        summary = sla_summary(
            s, SummaryRequest("detroit", period["from_epoch"], period["to_exclusive_epoch"], "queue"), rules
        )
    assert {k: v for k, v in c.items() if k != "answered_after_hours"} == summary["sites"][0]["totals"][
        "calls"
    ]
    engine.dispose()


def test_dates_are_local_dates_of_each_site(url: str, tmp_path: Path) -> None:
    engine, _ = populate(url)
    assert export(engine, url, tmp_path / "a", first="2026-11-24", last="2026-11-24")["counts"]["calls"] == 0
    utc = settings(url, "UTC")
    assert (
        export(engine, url, tmp_path / "b", first="2026-11-24", last="2026-11-24", settings=utc)["counts"][
            "calls"
        ]
        == 10
    )
    unconfigured = Settings(monitor=MonitorSettings(database_url=url))  # stored site, no config: UTC
    manifest = export(
        engine, url, tmp_path / "c", first="2026-11-23", last="2026-11-23", settings=unconfigured
    )
    assert manifest["counts"]["calls"] == 0 and manifest["period"]["sites"][0]["timezone"] == "UTC"
    assert manifest["period"]["sites"][0]["configured"] is False
    engine.dispose()


def test_no_clear_number_or_address_in_any_file(url: str, tmp_path: Path) -> None:
    engine, _ = populate(url)
    export(engine, url, tmp_path / "out")
    numbers = set()
    for path in CAPTURES.glob("*.jsonl"):
        numbers |= set(re.findall(r"CallerIDNum: \+?(\d{7,})", path.read_text()))
    assert numbers
    for path in (tmp_path / "out").iterdir():
        body = path.read_text()
        for number in numbers:
            assert number[-7:] not in body, (path.name, number)
        assert "jane@" not in body and "customer_key" not in body and "k" * 64 not in body
    engine.dispose()


def _peak_mb(engine: Engine, url: str, out: Path) -> float:
    tracemalloc.start()
    try:
        export(engine, url, out, first="2026-11-23", last="2026-12-31")
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def test_export_memory_does_not_grow_with_the_period(url: str, tmp_path: Path) -> None:
    upgrade(url)
    engine = make_engine(url)

    def calls(n: int, offset: int) -> Iterator[CompletedCall]:
        for i in range(n):
            yield realistic_call(f"{offset + i}.0", arrived_at=1795498998.93 + 60 * (offset + i))

    write_batch(engine, list(calls(200, 0)))
    small = _peak_mb(engine, url, tmp_path / "small")
    for k in range(1, 6):
        write_batch(engine, list(calls(600, 200 * k * 10)))
    large = _peak_mb(engine, url, tmp_path / "large")
    assert rows(tmp_path / "large" / "calls.csv").__len__() == 3200
    # 16 times the rows (~2 kB each): held in memory they would add ~6 MB.
    assert large < small + 2.0, (small, large)
    engine.dispose()


def test_cli_export_then_verify_against_the_manifest_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    engine, ids = populate(url)
    config = tmp_path / "slamon.toml"
    config.write_text(
        f'[monitor]\ndatabase_url = "{url}"\n\n[[site]]\nid = "detroit"\ntimezone = "{LA}"\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    out = tmp_path / "export"
    result = runner.invoke(
        app, ["export", "--from", FROM, "--to", TO, "--out", str(out), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert "10 calls, 2 inquiries" in result.output and "1 monitoring gaps" in result.output
    head = json.loads((out / "manifest.json").read_text())["evidence_chain"]
    expect = f"{head['head_seq']}:{head['head_hash']}"
    result = runner.invoke(app, ["audit", "verify", "--config", str(config), "--expect", expect])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"evidence chain intact: {head['head_seq']} records")
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE \"call\" SET outcome = 'answered' WHERE call_id = :c"),
            {"c": ids["d_queue_abandon20"]},
        )
    result = runner.invoke(app, ["audit", "verify", "--config", str(config)])
    assert result.exit_code == 1
    assert (
        f"call(site=detroit, call_id={ids['d_queue_abandon20']})" in result.output
        and "content edited" in result.output
    )
    result = runner.invoke(
        app,
        ["export", "--from", "2026-11-30", "--to", "2026-11-01", "--out", str(out), "--config", str(config)],
    )
    assert result.exit_code == 2 and "before --from" in result.output
    engine.dispose()
