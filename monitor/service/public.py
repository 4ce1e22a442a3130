"""The public shapes of stored records: API items and export rows.

One place decides what leaves the store, so the API, the streamed exports and ``slamon export`` show
the same thing: instants of inquiries and breaches in the site's local offset (CONTRACTS section 5/8),
call records exactly as measured (section 4), and never a clear number or address (only the masked
forms the store holds; keys and message identifiers only as hashes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from monitor.domain.calendar import BusinessCalendar
from monitor.views import iso

CALL_CSV_COLUMNS = (
    "call_id",
    "site",
    "direction",
    "caller",
    "dialed",
    "queue",
    "arrived_at",
    "arrived_at_local",
    "answered_at",
    "ended_at",
    "outcome",
    "answered_by",
    "time_to_answer_s",
    "rings_to_answer",
    "queue_wait_s",
    "hold_total_s",
    "hold_max_s",
    "talk_s",
    "sla_answer_rings",
    "sla_hold",
    "sla_abandon",
    "policy_version",
    "approximate",
    "closed_reason",
)

INQUIRY_CSV_COLUMNS = (
    "inquiry_id",
    "site",
    "mailbox",
    "kind",
    "customer",
    "received_at",
    "first_human_reply_at",
    "reply_via",
    "business_seconds_to_first_human_reply",
    "allowance_business_s",
    "deadline_at",
    "status",
    "at_risk",
    "auto_replies",
    "requested_contact",
    "policy_version",
    "evaluated_at",
    "evidence_messages",
)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest() if text else ""


def call_sla(row: Mapping[Any, Any]) -> dict[str, str]:
    """The call's recorded SLA results: the result columns when the row has them, else the record."""
    if "sla_answer_rings" in row:
        return {k: row[f"sla_{k}"] or "" for k in ("answer_rings", "hold", "abandon") if f"sla_{k}" in row}
    sla: dict[str, str] = json.loads(row["record_json"]).get("sla", {})
    return sla


def call_csv_row(row: Mapping[Any, Any], zone: ZoneInfo) -> list[Any]:
    """A ``call`` table row as a CSV line (epoch seconds as stored, plus the local arrival time)."""
    sla = call_sla(row)
    return [
        row["call_id"],
        row["site"],
        row["direction"],
        row["caller_masked"],
        row["dialed"],
        row["queue"],
        row["arrived_at"],
        iso(row["arrived_at"], zone),
        row["answered_at"],
        row["ended_at"],
        row["outcome"],
        row["answered_by"],
        row["time_to_answer_s"],
        row["rings_to_answer"],
        row["queue_wait_s"],
        row["hold_total_s"],
        row["hold_max_s"],
        row["talk_s"],
        sla.get("answer_rings", ""),
        sla.get("hold", ""),
        sla.get("abandon", ""),
        row["policy_version"],
        bool(row["approximate"]),
        row["closed_reason"],
    ]


def inquiry_item(
    row: Mapping[Any, Any], zone: ZoneInfo, calendar: BusinessCalendar | None = None
) -> dict[str, Any]:
    """The inquiry item of CONTRACTS section 5 from a stored ``inquiry`` row, as ``slamon report
    inquiries`` prints it. ``business_seconds_elapsed`` needs the site's calendar (None without)."""
    replied = row["business_seconds_to_first_human_reply"]
    elapsed: float | None = replied
    if elapsed is None and calendar is not None:
        elapsed = calendar.business_seconds(row["received_at"], row["evaluated_at"])
    return {
        "inquiry_id": row["inquiry_id"],
        "site": row["site"],
        "mailbox": row["mailbox"],
        "kind": row["kind"],
        "customer": row["customer_masked"],
        "received_at": iso(row["received_at"], zone),
        "first_human_reply_at": iso(row["first_human_reply_at"], zone),
        "reply_via": row["reply_via"],
        "business_seconds_to_first_human_reply": replied,
        "business_seconds_elapsed": elapsed,
        "allowance_business_s": row["allowance_s"],
        "deadline_at": iso(row["deadline_at"], zone),
        "status": row["status"],
        "at_risk": bool(row["at_risk"]),
        "auto_replies": row["auto_replies"],
        "requested_contact": row["requested_contact"],
        "policy_version": row["policy_version"],
        "evaluated_at": iso(row["evaluated_at"], zone),
        "evidence": [_inquiry_evidence(e, zone) for e in json.loads(row["evidence_json"])],
    }


def _inquiry_evidence(e: Mapping[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    headers = str(e.get("headers") or "")
    return {
        "role": e["role"],
        "at": iso(e["at"], zone),
        "direction": e["direction"],
        "class": e["cls"],
        "kind": e["kind"],
        "reasons": list(e.get("reasons") or ()),
        "folder": e.get("folder", ""),
        "uid": e.get("uid", 0),
        "message_key_sha256": sha256(str(e.get("message_key") or "")),
        "headers": headers,
        "headers_sha256": sha256(headers),
    }


def inquiry_csv_row(item: Mapping[str, Any]) -> list[Any]:
    """An inquiry item (:func:`inquiry_item`) as a CSV line; evidence as the count of messages."""
    return [len(item["evidence"]) if c == "evidence_messages" else item[c] for c in INQUIRY_CSV_COLUMNS]


UNITS = {
    "answer_rings": "rings",
    "hold": "s",
    "abandon": "s",
    "first_reply": "business_s",
    "acknowledge": "business_s",
}

BREACH_CSV_COLUMNS = (
    "subject_kind",
    "subject_id",
    "site",
    "standard",
    "result",
    "measured",
    "threshold",
    "unit",
    "policy_version",
    "at",
    "evaluated_at",
    "caller_or_customer",
    "queue",
    "answered_by",
    "outcome",
    "time_to_answer_s",
    "rings_to_answer",
    "queue_wait_s",
    "hold_max_s",
    "waited_s",
    "mailbox",
    "inquiry_kind",
    "first_human_reply_at",
    "business_seconds_to_first_human_reply",
    "allowance_business_s",
    "deadline_at",
    "inquiry_status",
)

ThresholdFor = Callable[[str, str, str], float | None]
"""``(site, policy_version, standard) -> threshold`` when the policy is known, else None."""


def breach_item(
    row: Mapping[str, Any], zone: ZoneInfo, threshold_for: ThresholdFor | None = None
) -> dict[str, Any]:
    """A breach (the evaluation in force, ``breached``) with its subject's key figures."""
    threshold = row["threshold"]
    if threshold is None and threshold_for is not None:
        threshold = threshold_for(row["site"], row["policy_version"], row["standard"])
    item: dict[str, Any] = {
        "subject_kind": row["subject_kind"],
        "subject_id": row["subject_id"],
        "site": row["site"],
        "standard": row["standard"],
        "result": row["result"],
        "measured": row["measured"],
        "threshold": threshold,
        "unit": UNITS.get(row["standard"]),
        "policy_version": row["policy_version"],
        "at": iso(row["at"], zone),
        "evaluated_at": iso(row["evaluated_at"], zone),
        "call": None,
        "inquiry": None,
    }
    if row["subject_kind"] == "call":
        item["call"] = {
            "caller": row["caller_masked"],
            "queue": row["queue"],
            "answered_by": row["answered_by"],
            "outcome": row["outcome"],
            "direction": row["direction"],
            "arrived_at": iso(row["arrived_at"], zone),
            "answered_at": iso(row["answered_at"], zone),
            "ended_at": iso(row["ended_at"], zone),
            "time_to_answer_s": row["time_to_answer_s"],
            "rings_to_answer": row["rings_to_answer"],
            "queue_wait_s": row["queue_wait_s"],
            "hold_max_s": row["hold_max_s"],
            "waited_s": round(row["ended_at"] - row["arrived_at"], 3) if row["answered_at"] is None else None,
        }
    else:
        item["inquiry"] = {
            "mailbox": row["mailbox"],
            "kind": row["kind"],
            "customer": row["customer_masked"],
            "received_at": iso(row["received_at"], zone),
            "first_human_reply_at": iso(row["first_human_reply_at"], zone),
            "reply_via": row["reply_via"],
            "business_seconds_to_first_human_reply": row["business_seconds_to_first_human_reply"],
            "allowance_business_s": row["allowance_s"],
            "deadline_at": iso(row["deadline_at"], zone),
            "status": row["status"],
        }
    return item


def breach_csv_row(item: Mapping[str, Any]) -> list[Any]:
    call, inquiry = item["call"] or {}, item["inquiry"] or {}
    flat = {
        **{k: item[k] for k in BREACH_CSV_COLUMNS[:11]},
        "caller_or_customer": call.get("caller") or inquiry.get("customer"),
        **{k: call.get(k) for k in ("queue", "answered_by", "outcome", "time_to_answer_s")},
        **{k: call.get(k) for k in ("rings_to_answer", "queue_wait_s", "hold_max_s", "waited_s")},
        "mailbox": inquiry.get("mailbox"),
        "inquiry_kind": inquiry.get("kind"),
        "first_human_reply_at": inquiry.get("first_human_reply_at"),
        "business_seconds_to_first_human_reply": inquiry.get("business_seconds_to_first_human_reply"),
        "allowance_business_s": inquiry.get("allowance_business_s"),
        "deadline_at": inquiry.get("deadline_at"),
        "inquiry_status": inquiry.get("status"),
    }
    return [flat[c] for c in BREACH_CSV_COLUMNS]
