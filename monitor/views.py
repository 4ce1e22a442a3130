"""Plain-text renderings of call records for the terminal (replay tables, the demo board)."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.domain.calls import CallRecord

_COLUMNS = (
    "arrived (UTC)",
    "caller",
    "dialed",
    "queue",
    "outcome",
    "by",
    "answer s",
    "rings",
    "wait s",
    "hold max",
    "transfers",
    "answer",
    "hold",
    "abandon",
)


def call_table_header() -> str:
    return _row(_COLUMNS)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def call_table_row(r: CallRecord) -> str:
    arrived = datetime.fromtimestamp(r.arrived_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return _row(
        (
            arrived,
            r.caller or "-",
            r.dialed,
            r.queue or "-",
            r.outcome,
            r.answered_by or "-",
            _fmt(r.time_to_answer_s),
            "-" if r.rings_to_answer is None else str(r.rings_to_answer),
            _fmt(r.queue_wait_s),
            _fmt(r.hold_max_s) if r.holds else "-",
            str(len(r.transfers)),
            r.sla.get("answer_rings", "n/a"),
            r.sla.get("hold", "n/a"),
            r.sla.get("abandon", "n/a"),
        )
    )


_WIDTHS = (19, 14, 6, 8, 11, 5, 8, 5, 7, 8, 9, 8, 8, 8)


def _row(cells: tuple[str, ...]) -> str:
    return "  ".join(c[:w].ljust(w) for c, w in zip(cells, _WIDTHS, strict=True)).rstrip()
