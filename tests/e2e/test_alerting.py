"""Acceptance (issue 5): a caller ringing past three rings and one on hold past 30 s page on-call.

The real daemon (``slamon run`` as a process) measures calls played live by the AMI simulator; a
real Prometheus scrapes it every second with the project's rules file as is; a real Alertmanager,
configured by the project's alertmanager.yml with only the webhook hosts and group timers changed,
delivers to a webhook receiver in this test. The test sees both alerts firing in Prometheus and
arriving at the webhook, then resolving once the calls end, and measures the latencies. Afterwards
every Grafana panel query runs against that Prometheus.

The two calls are real captures made longer (times only): b_queue_ring12_answer's advisor rings for
30 s instead of 12 s, c_queue_hold35's hold lasts 47 s instead of 35 s (its advisor renamed 201 ->
202 so both calls can run at once). The extra seconds leave room for `for: 5s` and group_wait
before the caller is answered or taken off hold.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.asterisk.captures import load_jsonl
from adapters.asterisk.simulator import AmiSimulator
from tests.e2e.prometheus import (
    ALERTMANAGER_CONFIG,
    PrometheusStack,
    alertmanager_test_config,
    changed_lines,
    exported_names,
    metric_names,
    panel_queries,
    variable_queries,
    webhook,
)
from tests.paths import CAPTURES
from tests.services import free_port, require

pytestmark = pytest.mark.service

SLAMON = str(Path(sys.executable).with_name("slamon"))
RING = "SlamonCallRingingPastStandard"
HOLD = "SlamonCallOnHoldTooLong"
ANSWER_STANDARD_S = 18.0  # 3 rings x 6 s (US)
MAX_HOLD_S = 30.0
# Scrape 1 s + evaluation 1 s + `for: 5s` + group_wait 1 s (test timers), plus delivery slack.
WEBHOOK_BUDGET_S = 1.0 + 1.0 + 5.0 + 1.0 + 2.0

Items = list[tuple[float, str]]


# -- the calls ---------------------------------------------------------------------------------------
def _events(items: Items) -> Items:
    return [(t, raw) for t, raw in items if raw.startswith("Event: ") and "FullyBooted" not in raw[:30]]


def _stretched(items: Items, at_s: float, by_s: float) -> Items:
    """Everything from ``at_s`` (seconds into the capture) on happens ``by_s`` later."""
    t0 = items[0][0]
    return [(t + by_s if t - t0 >= at_s else t, raw) for t, raw in items]


def scenario(base: float) -> tuple[Items, dict[str, float]]:
    """Both calls starting at ``base`` (wall clock), and the instants the test measures from."""
    ring = _stretched(_events(load_jsonl(CAPTURES / "b_queue_ring12_answer.jsonl")), 15.0, 18.0)
    hold = _stretched(_events(load_jsonl(CAPTURES / "c_queue_hold35.jsonl")), 47.0, 12.0)
    hold = [(t, re.sub(r"\b201\b", "202", raw)) for t, raw in hold]
    out: Items = []
    marks: dict[str, float] = {}
    for name, items in (("ring", ring), ("hold", hold)):
        t0 = items[0][0]
        rebased = [(base + t - t0, raw) for t, raw in items]
        arrival = next(t for t, raw in rebased if raw.startswith("Event: Newchannel") and "carrier" in raw)
        marks[f"{name}_end_of_call"] = rebased[-1][0]
        if name == "ring":
            marks["ring_cross"] = arrival + ANSWER_STANDARD_S
            marks["ring_answered"] = next(t for t, raw in rebased if raw.startswith("Event: AgentConnect"))
        else:
            hold_start = next(t for t, raw in rebased if raw.startswith("Event: Hold\r\n"))
            marks["hold_cross"] = hold_start + MAX_HOLD_S
            marks["hold_end"] = next(t for t, raw in rebased if raw.startswith("Event: Unhold\r\n"))
        out += rebased
    out.sort(key=lambda item: item[0])
    return out, marks


# -- helpers -----------------------------------------------------------------------------------------
def _gauge(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    m = re.search(rf"^{name}\{{{re.escape(want)}\}} (\S+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else None


async def _until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)


def _config(tmp: Path, port: int, pbx_port: int) -> Path:
    (tmp / "ami.secret").write_text("alert-secret\n")
    config = tmp / "slamon.toml"
    config.write_text(
        f"""
[monitor]
database_url = "sqlite:///{tmp}/slamon.db"
listen = "127.0.0.1:{port}"

[[site]]
id = "detroit"
timezone = "America/Detroit"   # no hours: open 24/7, so the test pages whatever the time

[[pbx]]
site = "detroit"
host = "127.0.0.1"
port = {pbx_port}
username = "monitor"
secret_file = "{tmp}/ami.secret"
service_numbers = ["600"]
"""
    )
    return config


class Watch:
    """Polls /metrics every 100 ms and Prometheus' alerts every 250 ms, noting first crossings."""

    def __init__(self, metrics_url: str, stack: PrometheusStack) -> None:
        self.metrics_url = metrics_url
        self.stack = stack
        self.seen: dict[str, float] = {}
        self.prom_firing: dict[str, dict[str, Any]] = {}
        self.max_ring_rings = 0.0

    async def metrics(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            while not stop.is_set():
                text = (await client.get(self.metrics_url)).text
                at = time.time()
                ring = _gauge(text, "slamon_longest_ringing_call_seconds", site="detroit", queue="service")
                rings = _gauge(text, "slamon_longest_ringing_call_rings", site="detroit", queue="service")
                hold = _gauge(text, "slamon_longest_current_hold_seconds", site="detroit")
                if ring is not None and ring > ANSWER_STANDARD_S:
                    self.seen.setdefault("ring_gauge", at)
                    self.max_ring_rings = max(self.max_ring_rings, rings or 0.0)
                if hold is not None and hold > MAX_HOLD_S:
                    self.seen.setdefault("hold_gauge", at)
                await asyncio.sleep(0.1)

    async def alerts(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            while not stop.is_set():
                for alert in await self.stack.alerts(client):
                    name = alert["labels"]["alertname"]
                    if alert["state"] == "firing" and name not in self.prom_firing:
                        self.prom_firing[name] = {**alert, "seen_at": time.time()}
                await asyncio.sleep(0.25)


# -- the test ----------------------------------------------------------------------------------------
async def test_ringing_and_hold_breaches_page_oncall_then_resolve(tmp_path: Path) -> None:
    require("prometheus", "prometheus")
    require("prometheus-alertmanager", "prometheus-alertmanager")
    go = asyncio.Event()
    marks: dict[str, float] = {}

    async def calls() -> AsyncIterator[tuple[float, str]]:
        await go.wait()
        items, found = scenario(time.time())
        marks.update(found)
        for item in items:
            yield item

    sim = AmiSimulator(calls(), secret="alert-secret", speed=1.0, timestamp_events=True, wait_for_clients=1)
    pbx_port = await sim.start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLAMON_")}
    env["SLAMON_HMAC_KEY"] = "alerting-e2e-hmac-key-0123456789"
    daemon = subprocess.Popen(
        [SLAMON, "run", "--config", str(_config(tmp_path, port, pbx_port))],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    stop = asyncio.Event()
    stack: PrometheusStack | None = None
    try:
        with webhook() as hook:
            am_source = ALERTMANAGER_CONFIG.read_text()
            am_config = alertmanager_test_config(am_source, hook.base_url)
            for before, after in changed_lines(am_source, am_config):  # only hosts and timers differ
                assert re.sub(r"https://[^/\s]+", hook.base_url, before) == after or re.match(
                    r"\s*group_(wait|interval): ", before
                ), (before, after)
            async with httpx.AsyncClient(timeout=2.0) as client:

                async def slamon_up() -> bool:
                    try:
                        text = (await client.get(metrics_url)).text
                    except httpx.HTTPError:
                        return False
                    return _gauge(text, "slamon_source_up", site="detroit", source="ami") == 1.0

                deadline = time.monotonic() + 30
                while not await slamon_up():
                    assert daemon.poll() is None, daemon.communicate()[0]
                    assert time.monotonic() < deadline, "slamon never connected to the simulator"
                    await asyncio.sleep(0.2)
            stack = PrometheusStack(slamon_target=f"127.0.0.1:{port}", alertmanager_config=am_config)
            await stack.start()
            watch = Watch(metrics_url, stack)
            pollers = [asyncio.create_task(watch.metrics(stop)), asyncio.create_task(watch.alerts(stop))]
            go.set()

            await _until(lambda: hook.first(RING, "firing") and hook.first(HOLD, "firing"), 90, "both pages")
            await _until(
                lambda: hook.first(RING, "resolved") and hook.first(HOLD, "resolved"), 40, "both resolved"
            )
            async with httpx.AsyncClient(timeout=5.0) as client:
                await asyncio.wait_for(sim.finished.wait(), 30)  # both calls have hung up
                await _until(lambda: time.time() > marks["hold_end_of_call"] + 2.0, 30, "the last hang-up")
                text = (await client.get(metrics_url)).text
                for name, labels in (
                    ("slamon_calls_ringing", {"site": "detroit", "queue": "service"}),
                    ("slamon_longest_ringing_call_seconds", {"site": "detroit", "queue": "service"}),
                    ("slamon_calls_on_hold", {"site": "detroit"}),
                    ("slamon_longest_current_hold_seconds", {"site": "detroit"}),
                ):
                    assert _gauge(text, name, **labels) == 0.0, name
                assert (
                    _gauge(text, "slamon_calls_total", site="detroit", queue="service", outcome="answered")
                    == 2
                )
                still = [
                    a for a in await stack.alerts(client) if a["labels"]["alertname"].startswith("SlamonCall")
                ]
                assert still == []  # neither firing nor pending
                stop.set()
                await asyncio.gather(*pollers)
                report = _report(marks, watch, hook)
                print(report)
                _check_pages(marks, watch, hook)
                await _check_dashboards(stack, client, metrics_url)
                await _check_no_other_pages(hook)
    finally:
        stop.set()
        if stack is not None:
            stack.stop()
        if daemon.poll() is None:
            daemon.terminate()
        out, _ = daemon.communicate(timeout=30)
        await sim.close()
    assert daemon.returncode == 0, out


def _report(marks: dict[str, float], watch: Watch, hook: Any) -> str:
    lines = ["", "alerting latency (s after the threshold crossing in the simulated call):"]
    for key, name, cross in (("ring", RING, marks["ring_cross"]), ("hold", HOLD, marks["hold_cross"])):
        firing = hook.first(name, "firing")
        resolved = hook.first(name, "resolved")
        prom = watch.prom_firing.get(name, {})
        active_at = _epoch(prom.get("activeAt", "")) - cross
        lines.append(
            f"  {name}: /metrics gauge +{watch.seen[f'{key}_gauge'] - cross:.2f}, "
            f"Prometheus firing seen +{prom.get('seen_at', float('nan')) - cross:.2f} "
            f"(pending from +{active_at:.2f}), webhook +{firing[0].at - cross:.2f} "
            f"(receiver {firing[0].body['receiver']}), resolved at webhook "
            f"+{resolved[0].at - marks[f'{key}_end' if key == 'hold' else 'ring_answered']:.2f} "
            f"after the {'unhold' if key == 'hold' else 'answer'}"
        )
    lines.append(
        "  budget to the webhook: scrape 1 s + evaluation 1 s + for 5 s + group_wait 1 s "
        f"= 8 s (+ delivery); max rings seen on /metrics: {watch.max_ring_rings:.0f}"
    )
    return "\n".join(lines)


def _epoch(iso: str) -> float:
    if not iso:
        return float("nan")
    trimmed = re.sub(r"(\.\d{6})\d*", r"\1", iso).replace("Z", "+00:00")
    return datetime.fromisoformat(trimmed).timestamp()


def _check_pages(marks: dict[str, float], watch: Watch, hook: Any) -> None:
    for key, name, cross in (("ring", RING, marks["ring_cross"]), ("hold", HOLD, marks["hold_cross"])):
        gauge_delay = watch.seen[f"{key}_gauge"] - cross
        assert -0.05 <= gauge_delay <= 1.0, (name, gauge_delay)  # current within 1 s
        note, alert = hook.first(name, "firing")
        assert note.at - cross <= WEBHOOK_BUDGET_S, (name, note.at - cross)
        assert note.body["receiver"] == "oncall-detroit" and note.path == "/hooks/oncall-detroit"
        assert alert["labels"]["severity"] == "page" and alert["labels"]["site"] == "detroit"
        assert alert["annotations"]["runbook_url"].endswith("docs/alerts.md#" + name.lower())
        assert name in watch.prom_firing
        resolved_note, _ = hook.first(name, "resolved")
        assert resolved_note.at > (marks["ring_answered"] if key == "ring" else marks["hold_end"])
    _, ring = hook.first(RING, "firing")
    assert ring["labels"]["queue"] == "service" and ring["labels"]["source"] == "ami"
    assert re.search(r"waiting \d+(\.\d+)?s for a person, [4-9] rings", ring["annotations"]["description"])
    assert watch.max_ring_rings >= 4


async def _check_no_other_pages(hook: Any) -> None:
    pages = {
        a["labels"]["alertname"]
        for n in hook.notifications
        for a in n.body["alerts"]
        if a["labels"].get("severity") == "page"
    }
    assert pages == {RING, HOLD}


async def _check_dashboards(stack: PrometheusStack, client: httpx.AsyncClient, metrics_url: str) -> None:
    """Every panel query of every dashboard runs without error on the Prometheus that scraped slamon,
    and selects only metrics slamon exports or the rules file records."""
    exported = exported_names((await client.get(metrics_url)).text)
    records = await stack.rule_names(client, "recording")
    queries = panel_queries()
    assert len(queries) >= 40
    now = time.time()
    nonempty = 0
    for q in queries:
        promql = q.promql("detroit")
        unknown = metric_names(q.expr) - exported - records
        assert not unknown, f"{q.dashboard} / {q.panel}: {sorted(unknown)} are not slamon metrics"
        status, body = await stack.api(client, "/api/v1/query", query=promql)
        assert status == 200 and body["status"] == "success", (q.dashboard, q.panel, promql, body)
        nonempty += bool(body["data"]["result"])
        if not q.instant:
            status, body = await stack.api(
                client, "/api/v1/query_range", query=promql, start=str(now - 60), end=str(now), step="5"
            )
            assert status == 200 and body["status"] == "success", (q.dashboard, q.panel, promql, body)
    assert nonempty >= len(queries) // 2, f"only {nonempty} of {len(queries)} panels have data"
    for board, query in variable_queries():
        m = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
        assert m, (board, query)
        selector = m.group(1).replace("$site", "detroit")
        assert metric_names(selector) <= exported, (board, query)
        url = f"{stack.prom_url}/api/v1/label/{m.group(2)}/values"
        r = await client.get(url, params={"match[]": selector})
        assert r.status_code == 200 and r.json()["status"] == "success", (board, query, r.text)
        if m.group(2) == "site":
            assert r.json()["data"] == ["detroit"]
