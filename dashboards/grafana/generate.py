# ruff: noqa: E501  (PromQL reads better on one line)
"""Writes the slamon Grafana dashboards (wallboard, service manager, health) as JSON.

The JSON files next to this script are what Grafana loads (provisioning/dashboards/slamon.yml); this
script is their source: edit it and run ``python dashboards/grafana/generate.py``. A test checks the
committed JSON matches it, and the end-to-end alerting test runs every panel query against a real
Prometheus that scraped slamon.

Every query uses only slamon's metrics and the recording rules of deploy/prometheus/rules.yml, the
datasource and the sites are template variables.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DS = {"type": "prometheus", "uid": "${datasource}"}
S = 'site=~"$site"'

Panel = dict[str, Any]


def _var_datasource() -> dict[str, Any]:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
    }


def _var_query(name: str, label: str, query: str, *, multi: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-var"},
        "includeAll": True,
        "allValue": ".*",
        "multi": multi,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "refresh": 2,
        "sort": 1,
        "hide": 0,
    }


def _var_custom(name: str, label: str, value: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "custom",
        "query": value,
        "current": {"selected": True, "text": value, "value": value},
        "options": [{"selected": True, "text": value, "value": value}],
        "description": description,
        "hide": 0,
    }


SITE = _var_query("site", "Site", "label_values(slamon_business_open, site)")
QUEUE = _var_query("queue", "Queue", 'label_values(slamon_calls_total{site=~"$site"}, queue)')
MAILBOX = _var_query("mailbox", "Mailbox", 'label_values(slamon_inquiries_open{site=~"$site"}, mailbox)')


class Layout:
    """Places panels left to right on Grafana's 24-column grid."""

    def __init__(self) -> None:
        self.x = self.y = self.row_h = 0
        self.next_id = 1

    def place(self, panel: Panel, w: int, h: int) -> Panel:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        panel["id"] = self.next_id
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel

    def row(self, title: str) -> Panel:
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel = {"type": "row", "title": title, "collapsed": False, "panels": []}
        panel["gridPos"] = {"x": 0, "y": self.y, "w": 24, "h": 1}
        panel["id"] = self.next_id
        self.next_id += 1
        self.y += 1
        return panel


def _target(
    expr: str, legend: str = "", *, instant: bool = False, fmt: str = "time_series"
) -> dict[str, Any]:
    target: dict[str, Any] = {"refId": "A", "datasource": DS, "expr": expr, "format": fmt}
    if legend:
        target["legendFormat"] = legend
    if instant:
        target["instant"], target["range"] = True, False
    return target


def _steps(*steps: tuple[str, float | None]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def stat(
    title: str,
    expr: str,
    *,
    unit: str = "none",
    steps: tuple[tuple[str, float | None], ...] = (("green", None),),
    mappings: list[dict[str, Any]] | None = None,
    description: str = "",
    decimals: int | None = 0,
) -> Panel:
    defaults: dict[str, Any] = {"unit": unit, "thresholds": _steps(*steps), "color": {"mode": "thresholds"}}
    if decimals is not None:
        defaults["decimals"] = decimals
    if mappings:
        defaults["mappings"] = mappings
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [_target(expr, instant=True)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "center",
            "textMode": "value",
        },
    }


def timeseries(
    title: str,
    targets: list[tuple[str, str]],
    *,
    unit: str = "none",
    description: str = "",
    stack: bool = False,
    bars: bool = False,
) -> Panel:
    custom: dict[str, Any] = {"drawStyle": "bars" if bars else "line", "fillOpacity": 60 if bars else 10}
    if stack:
        custom["stacking"] = {"mode": "normal", "group": "A"}
    panel_targets = []
    for i, (expr, legend) in enumerate(targets):
        t = _target(expr, legend)
        t["refId"] = chr(ord("A") + i)
        panel_targets.append(t)
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": panel_targets,
        "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]}
        },
    }


def heatmap(title: str, expr: str, *, description: str = "", unit: str = "s", buckets: bool = True) -> Panel:
    return {
        "type": "heatmap",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [
            _target(
                expr, "{{le}}" if buckets else "{{standard}}", fmt="heatmap" if buckets else "time_series"
            )
        ],
        "options": {
            "calculate": False,
            "yAxis": {"unit": unit if buckets else "none"},
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
            "tooltip": {"show": True, "yHistogram": False},
        },
        "fieldConfig": {"defaults": {}, "overrides": []},
    }


def bargauge(title: str, expr: str, *, description: str = "") -> Panel:
    return {
        "type": "bargauge",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [_target(expr, "{{le}}", instant=True, fmt="heatmap")],
        "fieldConfig": {"defaults": {"unit": "none", "decimals": 0}, "overrides": []},
        "options": {"orientation": "vertical", "displayMode": "gradient", "showUnfilled": True},
    }


def table(title: str, expr: str, *, description: str = "") -> Panel:
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [_target(expr, instant=True, fmt="table")],
        "fieldConfig": {"defaults": {}, "overrides": []},
        "transformations": [{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
        "options": {"showHeader": True},
    }


def text(title: str, content: str) -> Panel:
    return {"type": "text", "title": title, "options": {"mode": "markdown", "content": content}}


def dashboard(
    uid: str,
    title: str,
    panels: list[Panel],
    variables: list[dict[str, Any]],
    *,
    time_from: str,
    refresh: str,
    description: str,
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["slamon"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 38,
        "version": 1,
        "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": [_var_datasource(), *variables]},
        "annotations": {"list": []},
        "links": [
            {"title": "slamon dashboards", "type": "dashboards", "tags": ["slamon"], "asDropdown": True}
        ],
        "panels": panels,
    }


_OPEN = [
    {
        "type": "value",
        "options": {"0": {"text": "CLOSED", "color": "blue"}, "1": {"text": "OPEN", "color": "green"}},
    }
]
_UP = [
    {
        "type": "value",
        "options": {"0": {"text": "DOWN", "color": "red"}, "1": {"text": "UP", "color": "green"}},
    }
]


def wallboard() -> dict[str, Any]:
    g = Layout()
    rate_today = (
        f'sum(increase(slamon_sla_evaluations_total{{{S},standard="answer_rings",result="met"}}[$__range]))'
        f' / sum(increase(slamon_sla_evaluations_total{{{S},standard="answer_rings"}}[$__range]))'
    )
    panels = [
        g.row("Phones, now"),
        g.place(
            stat(
                "Waiting for a person",
                f"sum(slamon_calls_ringing{{{S}}})",
                steps=(("green", None), ("orange", 1), ("red", 3)),
                description="Callers not yet answered by a person: in a queue or while desk phones ring.",
            ),
            4,
            6,
        ),
        g.place(
            stat(
                "In the queue",
                f"sum(slamon_calls_waiting{{{S}}})",
                steps=(("green", None), ("orange", 1), ("red", 3)),
            ),
            4,
            6,
        ),
        g.place(
            stat(
                "Longest wait",
                f"max(slamon_longest_ringing_call_seconds{{{S}}})",
                unit="s",
                steps=(("green", None), ("orange", 12), ("red", 18)),
                description="Since the caller arrived; red past three US rings (18 s).",
            ),
            4,
            6,
        ),
        g.place(
            stat(
                "Rings",
                f"max(slamon_longest_ringing_call_rings{{{S}}})",
                steps=(("green", None), ("orange", 3), ("red", 4)),
                description="Ring cycles of the longest current wait (the site's cadence).",
            ),
            3,
            6,
        ),
        g.place(
            stat(
                "On hold",
                f"sum(slamon_calls_on_hold{{{S}}})",
                steps=(("green", None), ("orange", 1)),
            ),
            4,
            6,
        ),
        g.place(
            stat(
                "Longest hold",
                f"max(slamon_longest_current_hold_seconds{{{S}}})",
                unit="s",
                steps=(("green", None), ("orange", 20), ("red", 30)),
            ),
            5,
            6,
        ),
        g.row("Phones, today"),
        g.place(
            stat(
                "Answered within 3 rings",
                rate_today,
                unit="percentunit",
                decimals=1,
                steps=(("red", None), ("orange", 0.8), ("green", 0.9)),
                description="Calls answered by a person within the standard, among those held to it, "
                "since midnight (dashboard time range).",
            ),
            6,
            6,
        ),
        g.place(
            stat(
                "Customer calls",
                f'round(sum(increase(slamon_calls_total{{{S},outcome!~"after_hours|failed"}}[$__range])))',
            ),
            6,
            6,
        ),
        g.place(
            stat(
                "Abandoned",
                f'round(sum(increase(slamon_calls_total{{{S},outcome=~"abandoned|missed"}}[$__range])))',
                steps=(("green", None), ("orange", 1), ("red", 5)),
                description="Callers who hung up before a person answered (in a queue or while phones rang).",
            ),
            6,
            6,
        ),
        g.place(
            stat(
                "Holds over 30 s",
                f'round(sum(increase(slamon_sla_evaluations_total{{{S},standard="hold",result="breached"}}[$__range])))',
                steps=(("green", None), ("red", 1)),
            ),
            6,
            6,
        ),
        g.row("Email"),
        g.place(
            stat(
                "Inquiries waiting for a reply",
                f"sum(slamon_inquiries_open{{{S}}})",
                steps=(("green", None), ("orange", 5)),
            ),
            6,
            6,
        ),
        g.place(
            stat(
                "At risk",
                f"sum(slamon_inquiries_at_risk{{{S}}})",
                steps=(("green", None), ("red", 1)),
                description="Less than a quarter of the allowance left (or none).",
            ),
            6,
            6,
        ),
        g.place(
            stat(
                "Oldest unanswered (business time)",
                f"max(slamon_oldest_open_inquiry_business_seconds{{{S}}})",
                unit="s",
                steps=(("green", None), ("orange", 2700), ("red", 3600)),
            ),
            6,
            6,
        ),
        g.place(
            stat(
                "Pages firing",
                f'sum(slamon:alerts:firing{{severity="page",{S}}}) or vector(0)',
                steps=(("green", None), ("red", 1)),
            ),
            6,
            6,
        ),
        g.row("Status"),
        g.place(stat("Open for business", f"min(slamon_business_open{{{S}}})", mappings=_OPEN), 6, 4),
        g.place(stat("Phone system link", f'min(slamon_source_up{{{S},source="ami"}})', mappings=_UP), 6, 4),
        g.place(stat("Mailbox link", f'min(slamon_source_up{{{S},source="imap"}})', mappings=_UP), 6, 4),
        g.place(
            table(
                "Waiting per queue",
                f"sum by (site, queue) (slamon_calls_ringing{{{S}}}) > 0",
            ),
            6,
            4,
        ),
    ]
    return dashboard(
        "slamon-wallboard",
        "slamon — service desk wallboard",
        panels,
        [SITE],
        time_from="now/d",
        refresh="5s",
        description="Big numbers for the service desk: callers waiting now, holds, today's service level, email.",
    )


def service_manager() -> dict[str, Any]:
    g = Layout()
    answer_le = _var_custom(
        "answer_le",
        "Answer threshold bucket",
        "18.0",
        "le bucket of slamon_call_time_to_answer_seconds equal to the answer standard (3 rings x cycle)",
    )
    per_queue_within = (
        f'sum by (site, queue) (increase(slamon_call_time_to_answer_seconds_bucket{{{S},queue=~"$queue",le="$answer_le"}}[1h]))'
        f' / sum by (site, queue) (increase(slamon_call_time_to_answer_seconds_count{{{S},queue=~"$queue"}}[1h]))'
    )
    panels = [
        g.row("Service level trends"),
        g.place(
            timeseries(
                "Answered within the standard (last hour, rolling)",
                [(f'slamon:sla_met:ratio_1h{{{S},standard="answer_rings"}}', "{{site}}")],
                unit="percentunit",
            ),
            12,
            8,
        ),
        g.place(
            timeseries(
                "Holds within max_hold_s (last hour, rolling)",
                [(f'slamon:sla_met:ratio_1h{{{S},standard="hold"}}', "{{site}}")],
                unit="percentunit",
            ),
            12,
            8,
        ),
        g.place(
            timeseries(
                "Calls per hour by outcome",
                [(f"sum by (outcome) (slamon:calls:increase1h{{{S}}})", "{{outcome}}")],
                stack=True,
            ),
            12,
            8,
        ),
        g.place(
            timeseries(
                "Abandon rate (last hour, rolling)",
                [(f"slamon:calls_abandoned:ratio_1h{{{S}}}", "{{site}}")],
                unit="percentunit",
            ),
            12,
            8,
        ),
        g.row("Per queue"),
        g.place(
            timeseries(
                "Calls per hour by queue",
                [
                    (
                        f'sum by (site, queue) (slamon:calls:increase1h{{{S},queue=~"$queue"}})',
                        "{{site}} {{queue}}",
                    )
                ],
            ),
            8,
            8,
        ),
        g.place(
            timeseries(
                "Time to answer, 90th percentile by queue",
                [(f'slamon:call_time_to_answer_seconds:p90_1h{{{S},queue=~"$queue"}}', "{{site}} {{queue}}")],
                unit="s",
            ),
            8,
            8,
        ),
        g.place(
            timeseries(
                "Answered calls within the standard by queue",
                [(per_queue_within, "{{site}} {{queue}}")],
                unit="percentunit",
                description="Among answered calls, from the histogram bucket at the standard ($answer_le s).",
            ),
            8,
            8,
        ),
        g.place(
            text(
                "Per advisor",
                "Advisor figures are kept out of Prometheus on purpose (labels never name a person or an "
                "extension). Use the API: `GET /api/v1/sla/summary?site=...&group_by=agent` (auditor "
                "token), or the exports.",
            ),
            24,
            3,
        ),
        g.row("Breaches and distributions"),
        g.place(
            heatmap(
                "Breaches by hour of the week",
                f'sum by (standard) (increase(slamon_sla_evaluations_total{{{S},result="breached"}}[1h]))',
                description="Each cell: breaches of one standard in that hour. Set the time range to a week.",
                buckets=False,
            ),
            24,
            8,
        ),
        g.place(
            heatmap(
                "Hold length distribution",
                f"sum by (le) (increase(slamon_call_hold_seconds_bucket{{{S}}}[$__rate_interval]))",
            ),
            12,
            8,
        ),
        g.place(
            bargauge(
                "Holds by length (time range)",
                f"sum by (le) (increase(slamon_call_hold_seconds_bucket{{{S}}}[$__range]))",
            ),
            12,
            8,
        ),
        g.place(
            bargauge(
                "Time to answer (time range)",
                f"sum by (le) (increase(slamon_call_time_to_answer_seconds_bucket{{{S}}}[$__range]))",
            ),
            12,
            8,
        ),
        g.place(
            bargauge(
                "Queue wait (time range)",
                f'sum by (le) (increase(slamon_queue_wait_seconds_bucket{{{S},queue=~"$queue"}}[$__range]))',
            ),
            12,
            8,
        ),
        g.row("Email"),
        g.place(
            bargauge(
                "First human reply, business time (time range)",
                f'sum by (le) (increase(slamon_inquiry_first_reply_business_seconds_bucket{{{S},mailbox=~"$mailbox"}}[$__range]))',
                description="Business seconds from arrival to the first human reply; the clock runs only in opening hours.",
            ),
            12,
            8,
        ),
        g.place(
            timeseries(
                "First reply, 90th percentile in business time",
                [
                    (
                        "histogram_quantile(0.9, sum by (kind, le) (rate("
                        f'slamon_inquiry_first_reply_business_seconds_bucket{{{S},mailbox=~"$mailbox"}}[6h])))',
                        "{{kind}}",
                    )
                ],
                unit="s",
            ),
            12,
            8,
        ),
        g.place(
            timeseries(
                "Email standards met (last hour, rolling)",
                [
                    (
                        f'slamon:sla_met:ratio_1h{{{S},standard=~"first_reply|acknowledge"}}',
                        "{{site}} {{standard}}",
                    )
                ],
                unit="percentunit",
            ),
            12,
            8,
        ),
        g.place(
            timeseries(
                "Unanswered inquiries",
                [
                    (f'sum by (kind) (slamon_inquiries_open{{{S},mailbox=~"$mailbox"}})', "open {{kind}}"),
                    (
                        f'sum by (kind) (slamon_inquiries_at_risk{{{S},mailbox=~"$mailbox"}})',
                        "at risk {{kind}}",
                    ),
                ],
            ),
            12,
            8,
        ),
    ]
    return dashboard(
        "slamon-service-manager",
        "slamon — service manager",
        panels,
        [SITE, QUEUE, MAILBOX, answer_le],
        time_from="now-7d",
        refresh="1m",
        description="Trends per site and queue, breaches by hour of week, hold and first-reply distributions.",
    )


def health() -> dict[str, Any]:
    g = Layout()
    panels = [
        g.row("Sources"),
        g.place(
            timeseries("Source connected", [(f"slamon_source_up{{{S}}}", "{{site}} {{source}}")]),
            12,
            7,
        ),
        g.place(
            timeseries(
                "Seconds since the last event",
                [(f"time() - slamon_source_last_event_timestamp_seconds{{{S}}}", "{{site}} {{source}}")],
                unit="s",
            ),
            12,
            7,
        ),
        g.place(
            timeseries(
                "AMI events per second",
                [(f"rate(slamon_ami_events_total{{{S}}}[$__rate_interval])", "{{site}}")],
                unit="ops",
            ),
            12,
            7,
        ),
        g.place(
            timeseries(
                "AMI parse errors per hour",
                [(f"increase(slamon_ami_parse_errors_total{{{S}}}[1h])", "{{site}}")],
            ),
            12,
            7,
        ),
        g.place(timeseries("Open for business", [(f"slamon_business_open{{{S}}}", "{{site}}")]), 12, 6),
        g.place(
            table("Alerts firing", f'slamon:alerts:firing{{{S}}} or slamon:alerts:firing{{site=""}}'), 12, 6
        ),
        g.row("slamon process and scrape"),
        g.place(stat("Scrape up", "min(slamon:scrape:up)", mappings=_UP), 4, 5),
        g.place(
            stat("Scrape duration", "max(slamon:scrape:duration_seconds)", unit="s", decimals=3),
            4,
            5,
        ),
        g.place(
            stat("Uptime", "time() - max(slamon_process_start_time_seconds)", unit="s", decimals=None),
            4,
            5,
        ),
        g.place(
            timeseries(
                "Resident memory",
                [("slamon_process_resident_memory_bytes", "{{instance}}")],
                unit="bytes",
            ),
            6,
            5,
        ),
        g.place(
            timeseries(
                "CPU",
                [("rate(slamon_process_cpu_seconds_total[$__rate_interval])", "{{instance}}")],
                unit="percentunit",
            ),
            6,
            5,
        ),
    ]
    return dashboard(
        "slamon-health",
        "slamon — health",
        panels,
        [SITE],
        time_from="now-6h",
        refresh="30s",
        description="Is slamon seeing everything? Source links, event flow, parse errors, scrape and process.",
    )


DASHBOARDS = {"wallboard.json": wallboard, "service-manager.json": service_manager, "health.json": health}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    for name, build in DASHBOARDS.items():
        (HERE / name).write_text(render(build), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
