"""The end of ``make bench``: one line per headline figure of every benchmark, with its goal and
whether it was met, then a one-line summary (the last line, CONTRACTS section 7).

Every benchmark prints ``name=value`` lines; ``make bench`` keeps each run's output under
``var/bench/`` and this script reads them back, so the lines show measured values only (a benchmark
that did not run or printed no figure is reported as not measured, never filled in).
"""

from __future__ import annotations

import datetime
import operator
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    key: str  # the name the benchmark prints
    label: str
    fmt: str  # format of the value, with its unit
    goal: tuple[str, float] | None  # (">=" | "<=" | "==", bound); None: measured, no goal set
    why: str = ""  # where the goal comes from, when it is not in the benchmark itself


OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, "==": operator.eq}

FIGURES: dict[str, list[Figure]] = {
    "ami_ingest": [
        Figure("parser_events_per_s", "AMI parser", "{:,.0f} events/s", (">=", 250_000)),
        Figure("pipeline_events_per_s", "AMI pipeline (parse, track, store)", "{:,.0f} events/s", None),
        Figure("pipeline_vs_pyst2", "pipeline vs pyst2 0.5.1", "{:,.0f}x", (">=", 200)),
        Figure(
            "rss_growth_mb_per_million_events", "AMI pipeline RSS growth", "{:.1f} MB/M events", ("<=", 1.0)
        ),
    ],
    "imap_sync": [
        Figure("imap_first_sync_messages_per_s", "IMAP first sync (headers)", "{:,.0f} msg/s", (">=", 2000)),
        Figure(
            "imap_first_sync_pipeline_messages_per_s",
            "IMAP first sync, whole mail pipeline",
            "{:,.0f} msg/s",
            (">=", 2000),
        ),
        Figure("imap_idle_append_to_visible_s", "IDLE APPEND to visible (median)", "{:.2f} s", ("<=", 2.0)),
    ],
    "store_write": [Figure("calls_per_s", "store write (SQLite, chained)", "{:,.0f} calls/s", None)],
    "api": [
        Figure("api_summary_month_day_p95_ms", "API month summary p95", "{:.0f} ms", ("<=", 100)),
        Figure("api_calls_page_p95_ms", "API calls page p95", "{:.1f} ms", ("<=", 50)),
        Figure("api_calls_page_deep_p95_ms", "API calls page 900k deep p95", "{:.1f} ms", ("<=", 50)),
        Figure("api_export_rss_second_half_growth_mb", "API CSV export RSS growth", "{:.1f} MB", ("<=", 5)),
    ],
    "load": [
        Figure("events_per_s", "load: AMI events sustained (20 PBXs)", "{:,.0f} events/s", None),
        Figure("concurrent_calls_mean", "load: calls in progress (steady)", "{:.0f}", None),
        Figure("lag_p99_s", "load: event-to-gauge lag p99", "{:.3f} s", ("<=", 1.0)),
        Figure("calls_lost", "load: calls lost", "{:.0f}", ("==", 0)),
        Figure("calls_duplicated", "load: calls double-counted", "{:.0f}", ("==", 0)),
        Figure("calls_mismatched", "load: calls with wrong figures", "{:.0f}", ("==", 0)),
        Figure(
            "rss_slope_mb_per_10k_calls", "load: daemon RSS slope after warm-up", "{:.1f} MB/10k", ("<=", 5.0)
        ),
    ],
}


def read(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            name, sep, value = line.partition("=")
            if sep and name and " " not in name:
                out[name.strip()] = value.strip()
    return out


def _first(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def machine() -> str:
    """What the figures were measured on (the README quotes this line)."""
    mem_kb = _first("/proc/meminfo", "MemTotal:").split()[0]
    ram = f"{int(mem_kb) / 1024**2:.1f} GiB RAM" if mem_kb.isdigit() else "? RAM"
    try:
        out = subprocess.run(
            ["/usr/lib/postgresql/15/bin/postgres", "--version"], capture_output=True, text=True, timeout=10
        ).stdout  # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        pg = out.split(") ", 1)[1].split()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        pg = "?"
    try:
        debian = Path("/etc/debian_version").read_text().strip()
    except OSError:
        debian = "?"
    return (
        f"machine: {os.cpu_count()} cores ({_first('/proc/cpuinfo', 'model name')}), {ram}, Debian {debian}, "
        f"Python {platform.python_version()}, PostgreSQL {pg}, {datetime.date.today().isoformat()}"
    )


def number(value: str) -> float | None:
    try:
        return float(value.rstrip("x"))  # ami_ingest prints the pyst2 ratio as "74x"
    except ValueError:
        return None


def main(directory: str) -> int:
    met = missed = 0
    missed_names: list[str] = []
    print(machine())
    for bench, figures in FIGURES.items():
        measured = read(Path(directory) / f"{bench}.txt")
        for fig in figures:
            raw = measured.get(fig.key)
            value = None if raw is None else number(raw)
            shown = "not measured" if value is None else fig.fmt.format(value)
            if fig.goal is None:
                verdict, goal = "(no goal set)", ""
            else:
                op, bound = fig.goal
                goal = f"goal {op} {fig.fmt.format(bound)}" + (f" ({fig.why})" if fig.why else "")
                ok = value is not None and OPS[op](value, bound)
                verdict = "met" if ok else "MISSED"
                met, missed = met + ok, missed + (not ok)
                if not ok:
                    missed_names.append(f"{fig.label} {shown}")
            print(f"{bench:<11} {fig.label:<38} {shown:>20}  {goal:<34} {verdict}".rstrip())
    tail = f"; missed: {', '.join(missed_names)}" if missed_names else ""
    print(f"bench summary: {met} of {met + missed} goals met{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "var/bench"))
