"""The Grafana dashboards as files: generated, parameterised, and naming only slamon's series.

Whether each query runs is proven against a real Prometheus in tests/e2e/test_alerting.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from types import ModuleType

import pytest
from prometheus_client import generate_latest

from monitor.metrics import IdleMailbox, SiteThresholds, SlamonMetrics
from tests.e2e.prometheus import DASHBOARDS, RULES, exported_names, metric_names, panel_queries


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slamon_dashboards", DASHBOARDS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["wallboard.json", "service-manager.json", "health.json"])
def test_committed_json_is_what_the_generator_writes(name: str) -> None:
    gen = _generator()
    assert (DASHBOARDS / name).read_text(encoding="utf-8") == gen.render(gen.DASHBOARDS[name])


@pytest.mark.parametrize("name", ["wallboard.json", "service-manager.json", "health.json"])
def test_datasource_and_site_are_variables(name: str) -> None:
    board = json.loads((DASHBOARDS / name).read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["site"]["type"] == "query" and variables["site"]["includeAll"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            assert panel["datasource"]["uid"] == target["datasource"]["uid"] == "${datasource}"
            if "slamon_process" not in target["expr"] and "slamon:scrape" not in target["expr"]:
                assert '$site"' in target["expr"], (name, panel["title"])


def test_queries_name_only_slamon_series_and_recorded_rules() -> None:
    """Static twin of the end-to-end check: names from a SlamonMetrics exposition or rules.yml."""
    metrics = SlamonMetrics([SiteThresholds("detroit")])
    metrics.add_mailbox(IdleMailbox("detroit", "service", "internet_inquiry"))
    metrics.add_source(_Source())
    exported = exported_names(generate_latest(metrics.registry).decode())
    records = set(re.findall(r"^\s*- record: (\S+)$", RULES.read_text(), re.MULTILINE))
    for q in panel_queries():
        unknown = metric_names(q.expr) - exported - records
        assert not unknown, (q.dashboard, q.panel, unknown)


@dataclass
class _Source:
    site: str = "detroit"
    source: str = "ami"
    up: bool = True
    last_event_at: float | None = 1.0
    events_total: int = 1
    parse_errors: int = 0


def test_metric_names_extraction() -> None:
    expr = (
        'sum by (site, queue) (increase(slamon_calls_total{site=~"$site",outcome=~"a|b"}[$__range]))'
        " / on (site) group_left () slamon:calls:increase1h > 0.1 and time() - slamon_x offset 5m"
        ' or histogram_quantile(0.9, rate(slamon_h_bucket{le="18.0"}[1h])) * 1e3'
    )
    assert metric_names(expr) == {
        "slamon_calls_total",
        "slamon:calls:increase1h",
        "slamon_x",
        "slamon_h_bucket",
    }
