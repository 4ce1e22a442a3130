"""CONTRACTS section 6 as scraped over HTTP from the running daemon, and no personal data in labels.

The daemon runs in-process (``Daemon``) against the AMI simulator; /metrics is read over HTTP and
parsed with client_python's exposition parser, exactly as Prometheus would see it.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.asterisk.captures import load_jsonl
from adapters.asterisk.simulator import AmiSimulator
from adapters.asterisk.synthetic import TrafficGenerator, TrafficProfile
from monitor.config import MailboxSettings, MonitorSettings, PbxSettings, Settings, SiteSettings
from monitor.runtime import Daemon
from tests.paths import CAPTURES, SHARED

SQ, S, SMK, SS = ("site", "queue"), ("site",), ("site", "mailbox", "kind"), ("site", "source")
CONTRACT: dict[str, tuple[str, tuple[str, ...]]] = {
    "slamon_calls_total": ("counter", (*SQ, "outcome")),
    "slamon_sla_evaluations_total": ("counter", ("site", "standard", "result")),
    "slamon_call_time_to_answer_seconds": ("histogram", SQ),
    "slamon_call_hold_seconds": ("histogram", SQ),
    "slamon_queue_wait_seconds": ("histogram", SQ),
    "slamon_inquiry_first_reply_business_seconds": ("histogram", SMK),
    "slamon_calls_ringing": ("gauge", SQ),
    "slamon_longest_ringing_call_seconds": ("gauge", SQ),
    "slamon_calls_waiting": ("gauge", SQ),
    "slamon_longest_waiting_call_seconds": ("gauge", SQ),
    "slamon_calls_on_hold": ("gauge", S),
    "slamon_longest_current_hold_seconds": ("gauge", S),
    "slamon_inquiries_open": ("gauge", SMK),
    "slamon_oldest_open_inquiry_business_seconds": ("gauge", SMK),
    "slamon_inquiries_at_risk": ("gauge", SMK),
    "slamon_business_open": ("gauge", S),
    "slamon_source_up": ("gauge", SS),
    "slamon_source_last_event_timestamp_seconds": ("gauge", SS),
    "slamon_ami_events_total": ("counter", S),
    "slamon_ami_parse_errors_total": ("counter", S),
}
BOUNDED = {"site", "queue", "mailbox", "kind", "standard", "outcome", "result", "source"}
PHONE = re.compile(r"(?:\+?\d[\s().-]?){7,}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
CHANNEL = re.compile(
    r"(?i)\b(?:SIP|PJSIP|IAX2|DAHDI|Local|Motif|Console|Message)/|-[0-9a-f]{8}\b|^\d{9,}\.\d+$"
)
PERSON = re.compile(r"\b[A-Z][a-z]+ [A-Z][a-z]+\b")


def _contract_section() -> str:
    text = (SHARED / "CONTRACTS.md").read_text(encoding="utf-8")
    return text[text.index("## 6. Metrics") : text.index("## 7.")]


def test_the_table_here_is_contracts_section_6() -> None:
    """Every metric name CONTRACTS section 6 mentions is checked below (and nothing invented)."""
    named = set(re.findall(r"`(slamon_[a-z_]+)", _contract_section()))
    assert named == set(CONTRACT)


def _settings(tmp_path: Path, pbx_port: int, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SLAMON_HMAC_KEY", "metrics-contract-hmac-key-0123")
    monkeypatch.setenv("SLAMON_AMI_SECRET", "contract-secret")
    password = tmp_path / "imap.password"
    password.write_text("unused\n")
    return Settings(
        monitor=MonitorSettings(database_url=f"sqlite:///{tmp_path}/slamon.db", listen="127.0.0.1:0"),
        site=[
            SiteSettings(id="detroit", timezone="America/Detroit"),
            SiteSettings(id="lansing", timezone="America/Detroit", hours={"mon": ["08:00-17:00"]}),
        ],
        pbx=[
            PbxSettings(
                site="detroit", host="127.0.0.1", port=pbx_port, username="monitor", service_numbers=["600"]
            )
        ],
        mailbox=[
            MailboxSettings(
                site="detroit",
                host="127.0.0.1",
                port=9,
                tls="none",
                username="service@dealer.example",
                password_file=password,
            ),
            MailboxSettings(
                site="lansing",
                host="127.0.0.1",
                port=9,
                tls="none",
                username="letters@dealer.example",
                password_file=password,
                kind="written",
                name="letters",
            ),
        ],
    )


async def _scrape(daemon: Daemon) -> str:
    async with httpx.AsyncClient(timeout=5.0) as client:
        r = await client.get(f"http://127.0.0.1:{daemon.port}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return r.text


async def test_every_contract_metric_is_exported_with_its_type_and_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = AmiSimulator(
        load_jsonl(CAPTURES / "c_queue_hold35.jsonl"),
        secret="contract-secret",
        speed=50.0,
        wait_for_clients=1,
    )
    daemon = Daemon(_settings(tmp_path, await sim.start(), monkeypatch))
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(daemon.started.wait(), 30)
        async with asyncio.timeout(30):
            while not daemon.sites[0].service.stats.completed:
                await asyncio.sleep(0.05)
        text = await _scrape(daemon)
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 30)
        await sim.close()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name, (kind, labels) in CONTRACT.items():
        family_name = name.removesuffix("_total") if kind == "counter" else name
        family = families.get(family_name)
        assert family is not None, f"{name} is not exported"
        assert family.type == kind, (name, family.type)
        assert family.samples, f"{name} has no samples"
        for sample in family.samples:
            assert tuple(sorted(k for k in sample.labels if k != "le")) == tuple(sorted(labels)), (
                name,
                sample,
            )
            expected_suffixes = ("_bucket", "_count", "_sum") if kind == "histogram" else ("",)
            assert sample.name in {name + s for s in expected_suffixes}, sample.name
    for family in families.values():  # everything beyond the contract keeps the prefix and label rules
        assert family.name.startswith("slamon_"), family.name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} <= BOUNDED, sample
    value = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    # the configured mailboxes exist with zero samples until the inquiry service feeds them
    assert (
        value["slamon_inquiries_open", (("kind", "written"), ("mailbox", "letters"), ("site", "lansing"))]
        == 0
    )
    assert (
        value[
            "slamon_inquiries_at_risk",
            (("kind", "internet_inquiry"), ("mailbox", "service"), ("site", "detroit")),
        ]
        == 0
    )
    assert (
        value["slamon_calls_total", (("outcome", "answered"), ("queue", "service"), ("site", "detroit"))] == 1
    )
    assert (
        value[
            "slamon_sla_evaluations_total",
            (("result", "breached"), ("site", "detroit"), ("standard", "hold")),
        ]
        == 1
    )
    assert (
        value["slamon_call_hold_seconds_bucket", (("le", "30.0"), ("queue", "service"), ("site", "detroit"))]
        == 0
    )
    assert value["slamon_source_up", (("site", "detroit"), ("source", "ami"))] == 1
    assert value["slamon_business_open", (("site", "lansing"),)] in (0.0, 1.0)
    assert value["slamon_sla_threshold_seconds", (("site", "detroit"), ("standard", "answer_rings"))] == 18.0


async def test_no_personal_data_or_channel_ids_in_labels_during_a_demo_like_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Synthetic dealership traffic (queue and direct calls, transfers, holds, voicemail, outbound and
    internal calls) at 20x speed for about 20 s; every label of every scrape is checked."""
    traffic = TrafficGenerator(TrafficProfile(calls_per_hour=720), seed=5, start=time.time() + 0.5)
    sim = AmiSimulator(traffic.calls(), secret="contract-secret", speed=20.0, wait_for_clients=1)
    daemon = Daemon(_settings(tmp_path, await sim.start(), monkeypatch))
    task = asyncio.create_task(daemon.run())
    labels: set[tuple[str, str]] = set()
    outcomes: set[str] = set()  # outcomes actually counted, not just initialised at 0
    scrapes = 0
    try:
        await asyncio.wait_for(daemon.started.wait(), 30)
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            for family in text_string_to_metric_families(await _scrape(daemon)):
                for sample in family.samples:
                    labels.update((k, v) for k, v in sample.labels.items() if k != "le")
                    if sample.name == "slamon_calls_total" and sample.value > 0:
                        outcomes.add(sample.labels["outcome"])
            scrapes += 1
            await asyncio.sleep(0.5)
        completed = daemon.sites[0].service.stats.completed
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 30)
        await sim.close()
    assert scrapes >= 20 and completed >= 30, (scrapes, completed)
    assert outcomes >= {"answered", "abandoned", "voicemail"}, outcomes  # the run was varied
    for name, value in sorted(labels):
        assert name in BOUNDED, name
        for what, pattern in (("phone number", PHONE), ("email address", EMAIL), ("channel id", CHANNEL)):
            assert not pattern.search(value), f"{name}={value!r} looks like a {what}"
        assert not PERSON.search(value), f"{name}={value!r} looks like a person's name"
    assert {v for k, v in labels if k == "mailbox"} == {"service", "letters"}
