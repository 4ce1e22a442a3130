"""The deploy/ files as Prometheus 2.42 and Alertmanager 0.25 themselves read them (SERVICES.md 4).

promtool and amtool run as subprocesses; the rule structure (for, severity, annotations) is read back
from a real Prometheus' /api/v1/rules rather than parsed by hand, so what is checked is what
Prometheus loaded.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.prometheus import ALERTMANAGER_CONFIG, RULES, alertmanager_test_config
from tests.paths import REPO
from tests.services import free_port, require

pytestmark = pytest.mark.service

PROM = REPO / "deploy" / "prometheus"
RULE_TESTS = [PROM / "rules_test.yml", PROM / "rules_test_hours.yml"]
DOCS = REPO / "docs" / "alerts.md"
SEVERITIES = {"page", "critical", "warning", "none"}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO)


def _alert_names() -> list[str]:
    return re.findall(r"^\s*- alert: (\w+)$", RULES.read_text(), re.MULTILINE)


def test_promtool_check_rules() -> None:
    promtool = require("promtool", "prometheus")
    result = _run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"SUCCESS: \d+ rules found", result.stdout)


def test_promtool_check_rules_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The check has teeth: the same file with one expression broken fails."""
    promtool = require("promtool", "prometheus")
    broken = tmp_path / "rules.yml"
    broken.write_text(RULES.read_text().replace("expr: vector(1)", "expr: sum by (site (vector(1))", 1))
    result = _run(promtool, "check", "rules", str(broken))
    assert result.returncode == 1 and "parse error" in result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    promtool = require("promtool", "prometheus")
    result = _run(promtool, "test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases: dict[str, set[str]] = {}
    for path in RULE_TESTS:
        for name, exp in re.findall(r"alertname: (\w+)\n\s+exp_alerts:(.*)", path.read_text()):
            cases.setdefault(name, set()).add("quiet" if exp.strip() == "[]" else "fires")
    for name in _alert_names():
        assert cases.get(name) == {"quiet", "fires"}, f"{name}: {cases.get(name)}"


def test_promtool_check_example_config() -> None:
    promtool = require("promtool", "prometheus")
    result = _run(promtool, "check", "config", str(PROM / "prometheus.example.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_check_config(tmp_path: Path) -> None:
    amtool = require("amtool", "prometheus-alertmanager")
    result = _run(amtool, "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
    test_copy = tmp_path / "alertmanager.yml"  # what the end-to-end test runs
    test_copy.write_text(alertmanager_test_config(ALERTMANAGER_CONFIG.read_text(), "http://127.0.0.1:9"))
    result = _run(amtool, "check-config", str(test_copy))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=page", "site=detroit"], "oncall-detroit"),
        (["severity=page", "site=lansing"], "oncall"),
        (["severity=critical", "site=detroit", "source=ami"], "it-ops"),
        (["severity=warning", "site=detroit"], "service-managers"),
        (["alertname=SlamonWatchdog", "severity=none"], "deadmans-switch"),
    ],
)
def test_amtool_routes_by_severity_and_site(labels: list[str], receiver: str) -> None:
    amtool = require("amtool", "prometheus-alertmanager")
    result = _run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receiver


async def test_rules_as_loaded_by_prometheus(tmp_path: Path) -> None:
    """Every alert has for, a known severity, summary/description with values and a runbook_url whose
    anchor is a heading of docs/alerts.md; paging alerts are gated on business hours."""
    prometheus = require("prometheus", "prometheus")
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(f"rule_files:\n  - {RULES}\n")
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        rules = await _loaded_rules(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    anchors = {h.lower() for h in re.findall(r"^### (\w+)$", DOCS.read_text(), re.MULTILINE)}
    alerts = [r for r in rules if r["type"] == "alerting"]
    assert sorted(r["name"] for r in alerts) == sorted(_alert_names())
    for rule in alerts:
        name, labels, notes = rule["name"], rule["labels"], rule["annotations"]
        assert rule["duration"] > 0, f"{name}: no for:"
        assert labels.get("severity") in SEVERITIES, name
        assert {"summary", "description", "runbook_url"} <= notes.keys(), name
        text = notes["summary"] + notes["description"]
        if name not in ("SlamonWatchdog", "SlamonTargetAbsent"):  # nothing to quantify but an instance
            assert "$value" in text or "| query" in text, f"{name}: no values in the annotations"
        anchor = notes["runbook_url"].rpartition("#")[2]
        assert notes["runbook_url"].endswith("/docs/alerts.md#" + anchor) and anchor == name.lower(), name
        assert anchor in anchors, f"{name}: no runbook entry in docs/alerts.md"
        if labels["severity"] in ("page", "warning"):
            assert "slamon_business_open" in rule["query"], f"{name} is not gated on business hours"
        if "source" in labels:  # SLA alerts stop while their feed is down
            assert f'slamon_source_up{{source="{labels["source"]}"}}' in rule["query"], name
    records = {r["name"] for r in rules if r["type"] == "recording"}
    assert {"slamon:sla_met:ratio_1h", "slamon:calls_abandoned:ratio_1h"} <= records


async def _loaded_rules(prom_url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=2.0) as client:
        for _ in range(150):
            try:
                r = await client.get(f"{prom_url}/api/v1/rules")
                groups = r.json()["data"]["groups"]
                if groups:
                    return [rule for g in groups for rule in g["rules"]]
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("Prometheus did not load the rules")
