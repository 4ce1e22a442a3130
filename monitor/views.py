"""Plain-text renderings of call records for the terminal (replay tables, the demo board)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from monitor.domain.calls import CallRecord
from monitor.domain.inquiries import InquiryView

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


def iso(ts: float | None, zone: ZoneInfo) -> str | None:
    """An instant as ISO 8601 in the site's local offset (CONTRACTS section 5/8)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, zone).isoformat()


def inquiry_item(view: InquiryView, zone: ZoneInfo) -> dict[str, Any]:
    """The inquiry item of CONTRACTS section 5 (plus ``customer`` masked and a few documented extras)."""
    return {
        "inquiry_id": view.inquiry_id,
        "site": view.site,
        "mailbox": view.mailbox,
        "kind": view.kind,
        "customer": view.customer_masked,
        "received_at": iso(view.received_at, zone),
        "first_human_reply_at": iso(view.first_human_reply_at, zone),
        "reply_via": view.reply_via,
        "business_seconds_to_first_human_reply": view.business_seconds_to_first_human_reply,
        "business_seconds_elapsed": view.business_seconds_elapsed,
        "allowance_business_s": view.allowance_s,
        "deadline_at": view.deadline_at.astimezone(zone).isoformat(),
        "status": view.status,
        "at_risk": view.at_risk,
        "auto_replies": view.auto_replies,
        "requested_contact": view.requested_contact,
        "policy_version": view.policy_version,
        "evaluated_at": iso(view.evaluated_at, zone),
        "evidence": [
            {
                "role": e.role,
                "at": iso(e.at, zone),
                "direction": e.direction,
                "class": e.cls,
                "kind": e.kind,
                "reasons": list(e.reasons),
                "folder": e.folder,
                "uid": e.uid,
                "message_key_sha256": _sha256(e.message_key),
                "headers": e.headers,
            }
            for e in view.evidence
        ],
    }


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest() if text else ""
