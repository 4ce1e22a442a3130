"""GET /api/v1/export/{calls|inquiries|breaches}.{csv|jsonl} (SQLite and PostgreSQL): streamed files
whose content is the listings' content, oldest first, filters applied, personal data masked."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from monitor.service.public import BREACH_CSV_COLUMNS, CALL_CSV_COLUMNS, INQUIRY_CSV_COLUMNS
from tests.integration.api_store import ApiStore, auth, store

__all__ = ["store"]
pytestmark = pytest.mark.service
CLEAR = ("5550177", "4960123", "ann@", "bob@", "cid@", "dee@", "eve@")


def download(s: ApiStore, name: str, **params: Any) -> tuple[str, str]:
    with s.api.stream("GET", f"/api/v1/export/{name}", params=params, headers=auth(s.tokens["auditor"])) as r:
        assert r.status_code == 200, r.read()
        body = "".join(r.iter_text())
        assert r.headers["content-disposition"] == f'attachment; filename="{name}"'
        media = r.headers["content-type"]
    for clear in CLEAR:
        assert clear not in body, (name, clear)
    return media, body


def rows(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def lines(body: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines()]


def test_calls_jsonl_is_every_record_oldest_first(store: ApiStore) -> None:
    media, body = download(store, "calls.jsonl")
    assert media == "application/x-ndjson"
    listed = list(reversed(store.walk("/api/v1/calls", 100)))
    assert lines(body) == listed


def test_calls_csv_columns_and_values(store: ApiStore) -> None:
    media, body = download(store, "calls.csv")
    assert media.startswith("text/csv")
    assert body.splitlines()[0].split(",") == list(CALL_CSV_COLUMNS)
    got = rows(body)
    by_id = {r.call_id: r for r in store.calls}
    assert [g["call_id"] for g in got] == [r.call_id for r in sorted(store.calls, key=lambda r: r.arrived_at)]
    for g in got:
        r = by_id[g["call_id"]]
        assert g["caller"] == r.caller and g["outcome"] == r.outcome and g["site"] == r.site
        assert float(g["arrived_at"]) == r.arrived_at
        assert (g["sla_answer_rings"], g["sla_hold"], g["sla_abandon"]) == (
            r.sla["answer_rings"],
            r.sla["hold"],
            r.sla["abandon"],
        )
        assert g["answered_by"] == (r.answered_by or "")
    leeds = next(g for g in got if g["site"] == "leeds")
    assert leeds["arrived_at_local"].endswith("+00:00")


def test_call_filters_apply_to_exports(store: ApiStore) -> None:
    _, body = download(store, "calls.csv", site="detroit", queue="parts", outcome="abandoned")
    assert [g["call_id"] for g in rows(body)] == ["s2.short"]
    _, body = download(store, "calls.jsonl", direction="outbound", **{"from": "2026-12-01"})
    assert [item["call_id"] for item in lines(body)] == ["s4.out"]
    _, body = download(store, "calls.csv", agent="nobody")
    assert body.splitlines() == [",".join(CALL_CSV_COLUMNS)]


def test_inquiries_export(store: ApiStore) -> None:
    _, body = download(store, "inquiries.jsonl")
    assert lines(body) == list(reversed(store.walk("/api/v1/inquiries", 100)))
    _, body = download(store, "inquiries.csv", status="breached")
    got = rows(body)
    assert list(got[0]) == list(INQUIRY_CSV_COLUMNS)
    assert {g["inquiry_id"] for g in got} == {v.inquiry_id for v in store.inquiries if v.status == "breached"}
    assert all(int(g["evidence_messages"]) >= 1 for g in got)
    _, body = download(store, "inquiries.csv", mailbox="letters", kind="written", at_risk="true")
    assert len(rows(body)) == 1


def test_breaches_export(store: ApiStore) -> None:
    _, body = download(store, "breaches.jsonl")
    assert lines(body) == list(reversed(store.walk("/api/v1/breaches", 100)))
    _, body = download(store, "breaches.csv", standard="hold")
    got = rows(body)
    assert list(got[0]) == list(BREACH_CSV_COLUMNS)
    assert {(g["subject_id"], g["standard"]) for g in got} == {
        (r.call_id, "hold") for r in store.calls if r.sla["hold"] == "breached"
    }
    _, body = download(store, "breaches.csv", subject="inquiry")
    assert {g["subject_kind"] for g in rows(body)} == {"inquiry"}
    assert all(g["caller_or_customer"].endswith("@example.com") for g in rows(body))


@pytest.mark.parametrize("path", ["calls.xml", "people.csv", "calls.csv?outcome=lost", "calls"])
def test_unknown_exports_and_bad_filters(store: ApiStore, path: str) -> None:
    response = store.api.get(f"/api/v1/export/{path}", headers=auth(store.tokens["auditor"]))
    assert response.status_code in (404, 422)
