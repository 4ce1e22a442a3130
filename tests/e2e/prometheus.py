"""A throwaway Prometheus + Alertmanager + webhook receiver on loopback (SERVICES.md section 4).

Prometheus 2.42 and Alertmanager 0.25 from the Debian packages, in a ``mktemp -d`` directory, on free
loopback ports, Alertmanager without gossip (``--cluster.listen-address=``). Prometheus hands targets
to its managers at most every 5 s, so :meth:`PrometheusStack.start` waits until the slamon target is
``up`` and the Alertmanager is active before returning. Every HTTP call is async: the tests run the
AMI simulator on the same event loop and must never block it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.paths import REPO
from tests.services import free_port, require

RULES = REPO / "deploy" / "prometheus" / "rules.yml"
ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
DASHBOARDS = REPO / "dashboards" / "grafana"


# -- webhook receiver --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Notification:
    at: float  # time.time() when the POST arrived
    path: str
    body: dict[str, Any]

    def alerts(self, alertname: str) -> list[dict[str, Any]]:
        return [a for a in self.body.get("alerts", []) if a.get("labels", {}).get("alertname") == alertname]


class WebhookReceiver:
    """Alertmanager's webhook target: records every POST with its arrival time (stdlib, own thread)."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with receiver._lock:
                    receiver.notifications.append(Notification(at, self.path, body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def first(self, alertname: str, status: str) -> tuple[Notification, dict[str, Any]] | None:
        """The first notification carrying ``alertname`` in ``status`` (firing | resolved)."""
        with self._lock:
            for n in self.notifications:
                for alert in n.alerts(alertname):
                    if alert.get("status") == status:
                        return n, alert
        return None


# -- configuration -----------------------------------------------------------------------------------
_URL = re.compile(r"^(\s*(?:-\s+)?url:\s+)https?://[^/\s]+", re.MULTILINE)
_TIMER = re.compile(r"^(\s*(?:group_wait|group_interval):\s+)\S+", re.MULTILINE)


def alertmanager_test_config(source: str, hook_base: str, timers: str = "1s") -> str:
    """The project's Alertmanager config with webhook hosts pointed at the test's receiver (paths kept,
    so the receiver is visible in the path) and group_wait/group_interval shortened. Nothing else
    changes: :func:`changed_lines` proves it."""
    return _TIMER.sub(rf"\g<1>{timers}", _URL.sub(rf"\g<1>{hook_base}", source))


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(), after.splitlines()
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


def prometheus_config(rules: Path, slamon: str, alertmanager: str, interval: str = "1s") -> str:
    return (
        f"global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n"
        f"rule_files:\n  - {rules}\n"
        "alerting:\n  alertmanagers:\n    - static_configs:\n"
        f"        - targets: ['{alertmanager}']\n"
        "scrape_configs:\n  - job_name: slamon\n    static_configs:\n"
        f"      - targets: ['{slamon}']\n"
    )


# -- the stack ---------------------------------------------------------------------------------------
@dataclass
class PrometheusStack:
    slamon_target: str  # host:port of slamon's /metrics
    alertmanager_config: str  # text
    rules: Path = RULES
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="slamon-prom-")))
    prom_port: int = field(default_factory=free_port)
    am_port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started_at: float = 0.0

    @property
    def prom_url(self) -> str:
        return f"http://127.0.0.1:{self.prom_port}"

    @property
    def am_url(self) -> str:
        return f"http://127.0.0.1:{self.am_port}"

    async def start(self, timeout: float = 40.0) -> None:
        prometheus = require("prometheus", "prometheus")
        alertmanager = require("prometheus-alertmanager", "prometheus-alertmanager")
        (self.tmp / "alertmanager.yml").write_text(self.alertmanager_config)
        (self.tmp / "prometheus.yml").write_text(
            prometheus_config(self.rules, self.slamon_target, f"127.0.0.1:{self.am_port}")
        )
        self.started_at = time.time()
        self._spawn(
            "alertmanager",
            [
                alertmanager,
                f"--config.file={self.tmp / 'alertmanager.yml'}",
                f"--storage.path={self.tmp / 'am'}",
                f"--web.listen-address=127.0.0.1:{self.am_port}",
                "--cluster.listen-address=",
            ],
        )
        self._spawn(
            "prometheus",
            [
                prometheus,
                f"--config.file={self.tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.prom_port}",
            ],
        )
        async with httpx.AsyncClient(timeout=2.0) as client:
            await self._until(client, f"{self.am_url}/-/ready", lambda r: r.status_code == 200, timeout)
            await self._until(client, f"{self.prom_url}/-/ready", lambda r: r.status_code == 200, timeout)
            await self._until(
                client,
                f"{self.prom_url}/api/v1/targets",
                lambda r: any(t["health"] == "up" for t in r.json()["data"]["activeTargets"]),
                timeout,
            )
            await self._until(
                client,
                f"{self.prom_url}/api/v1/alertmanagers",
                lambda r: bool(r.json()["data"]["activeAlertmanagers"]),
                timeout,
            )

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.tmp / f"{name}.log").open("wb")
        self.procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp))
        log.close()

    async def _until(self, client: httpx.AsyncClient, url: str, ok: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args!r} exited {proc.returncode}:\n{self.logs()}")
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                if ok(await client.get(url)):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} not ready after {timeout} s:\n{self.logs()}")
            await asyncio.sleep(0.2)

    def logs(self, tail: int = 3000) -> str:
        out = []
        for name in ("alertmanager", "prometheus"):
            path = self.tmp / f"{name}.log"
            if path.exists():
                out.append(f"--- {name} ---\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(out)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- API -----------------------------------------------------------------------------------------
    async def api(self, client: httpx.AsyncClient, path: str, **params: str) -> tuple[int, dict[str, Any]]:
        r = await client.get(f"{self.prom_url}{path}", params=params)
        return r.status_code, r.json()

    async def alerts(self, client: httpx.AsyncClient) -> list[dict[str, Any]]:
        _, body = await self.api(client, "/api/v1/alerts")
        alerts: list[dict[str, Any]] = body["data"]["alerts"]
        return alerts

    async def rule_names(self, client: httpx.AsyncClient, kind: str) -> set[str]:
        """Names of the loaded rules of ``kind`` (recording | alerting)."""
        _, body = await self.api(client, "/api/v1/rules")
        return {r["name"] for g in body["data"]["groups"] for r in g["rules"] if r["type"] == kind}


@contextlib.contextmanager
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


def exported_names(exposition: str) -> set[str]:
    """Series names a scrape can yield, including families without samples yet (a histogram of a
    mailbox nobody replied from still declares its _bucket/_count/_sum)."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_count", "_sum"),
        "summary": ("_count", "_sum"),
    }
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


# -- dashboards --------------------------------------------------------------------------------------
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$answer_le": "18.0",
}
PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
}


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    expr: str  # as written, with Grafana variables
    instant: bool

    def promql(self, site: str) -> str:
        out = self.expr
        for name, value in GRAFANA_VARIABLES.items():
            out = out.replace(name, value)
        out = out.replace("$site", site).replace("$queue", ".*").replace("$mailbox", ".*")
        assert "$" not in out, f"unknown Grafana variable in {self.dashboard}/{self.panel}: {self.expr}"
        return out


def panel_queries() -> list[PanelQuery]:
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append(PanelQuery(path.name, panel["title"], target["expr"], bool(target.get("instant"))))
    return out


def variable_queries() -> list[tuple[str, str]]:
    """``(dashboard, label_values(...) query)`` of every query variable."""
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        for var in board["templating"]["list"]:
            if var["type"] == "query":
                out.append((path.name, var["query"]["query"]))
    return out


def metric_names(expr: str) -> set[str]:
    """Metric (and recording rule) names an expression selects: identifiers left once strings, label
    matchers, ranges, grouping clauses and function calls are taken out."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        rest = s[m.end() :].lstrip()
        if rest.startswith("(") or m.group().lower() in PROMQL_WORDS:
            continue
        if m.start() > 0 and (s[m.start() - 1].isdigit() or s[m.start() - 1] == "."):
            continue  # exponent or unit of a number (1e3)
        names.add(m.group())
    return names
