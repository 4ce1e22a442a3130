"""The last line of ``make bench``: one summary line built from the figures each benchmark printed.

Every benchmark prints ``name=value`` lines; ``make bench`` keeps each run's output under
``var/bench/`` and this script reads them back, so the summary shows measured values only (a
benchmark that did not run or printed no figure is reported as missing, never filled in).
"""

from __future__ import annotations

import sys
from pathlib import Path

FIGURES = {
    "ami_ingest": [
        ("parser_events_per_s", "parser {:,.0f} ev/s"),
        ("pipeline_events_per_s", "pipeline {:,.0f} ev/s"),
        ("pyst2_events_per_s", "pyst2 {:,.0f} ev/s"),
        ("rss_growth_mb_per_million_events", "RSS +{:.1f} MB/M ev"),
    ],
    "imap_sync": [
        ("imap_first_sync_messages_per_s", "IMAP sync {:,.0f} msg/s"),
        ("imap_first_sync_pipeline_messages_per_s", "mail pipeline {:,.0f} msg/s"),
        ("imap_idle_append_to_visible_s", "IDLE {:.2f} s"),
    ],
    "store_write": [("calls_per_s", "store {:,.0f} calls/s")],
    "api": [
        ("api_summary_month_day_p95_ms", "summary p95 {:.0f} ms"),
        ("api_calls_page_p95_ms", "calls page p95 {:.0f} ms"),
        ("api_calls_page_deep_p95_ms", "deep page p95 {:.0f} ms"),
        ("api_export_rss_second_half_growth_mb", "export RSS +{:.1f} MB"),
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


def main(directory: str) -> None:
    parts: list[str] = []
    for bench, wanted in FIGURES.items():
        figures = read(Path(directory) / f"{bench}.txt")
        if not figures:
            parts.append(f"{bench}: no figures")
            continue
        for key, fmt in wanted:
            value = figures.get(key)
            if value is None:
                parts.append(f"{key} missing")
                continue
            try:
                parts.append(fmt.format(float(value)))
            except ValueError:
                parts.append(fmt.format(value))
    print("bench summary: " + "; ".join(parts))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "var/bench")
