"""GET /api/v1/calls and /api/v1/calls/{call_id} over a real store (SQLite and PostgreSQL): every
filter, keyset pages walked to the last one, evidence with hashes, masking, clean rejections."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from monitor.domain.calls import CallRecord
from tests.integration.api_store import CALLER, DETROIT, ApiStore, auth, local, store

__all__ = ["store"]
pytestmark = pytest.mark.service


def expected(s: ApiStore, **match: Any) -> list[str]:
    """Call ids newest first among the store's calls whose attributes equal ``match``."""

    def ok(r: CallRecord) -> bool:
        return all(getattr(r, k) == v for k, v in match.items())

    return [r.call_id for r in sorted(s.calls, key=lambda r: r.arrived_at, reverse=True) if ok(r)]


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["call_id"] for i in items]


def test_pages_walk_every_call_once_newest_first(store: ApiStore) -> None:
    for limit in (1, 3, 100):
        assert ids(store.walk("/api/v1/calls", limit)) == expected(store)
    assert len(expected(store)) == 17
    page = store.get("/api/v1/calls", limit=1000)
    assert page["next_cursor"] is None and ids(page["items"]) == expected(store)


@pytest.mark.parametrize(
    ("param", "value", "attribute"),
    [
        ("site", "leeds", "site"),
        ("site", "detroit", "site"),
        ("queue", "parts", "queue"),
        ("queue", "service", "queue"),
        ("agent", "202", "answered_by"),
        ("agent", "301", "answered_by"),
        ("outcome", "abandoned", "outcome"),
        ("outcome", "voicemail", "outcome"),
        ("outcome", "missed", "outcome"),
        ("direction", "outbound", "direction"),
        ("direction", "inbound", "direction"),
    ],
)
def test_each_filter_walked_to_the_last_page(store: ApiStore, param: str, value: str, attribute: str) -> None:
    want = expected(store, **{attribute: value})
    assert want, f"the test store has no call with {attribute}={value}"
    assert ids(store.walk("/api/v1/calls", 2, **{param: value})) == want


def test_filters_combine_and_the_period_is_half_open_in_the_site_zone(store: ApiStore) -> None:
    got = store.walk("/api/v1/calls", 2, site="detroit", queue="parts", outcome="abandoned")
    assert ids(got) == ["s2.short"]
    # Naive instants are the site's local time: 2026-12-01 local midnight is 05:00 UTC.
    december = ids(store.walk("/api/v1/calls", 2, site="detroit", **{"from": "2026-12-01"}))
    assert december == ["s4.out", "s3.missed", "s2.short"]
    exact = local("2026-12-01T10:00:00")
    assert ids(store.walk("/api/v1/calls", 5, **{"from": exact, "to": exact + 1})) == ["s2.short"]
    assert ids(store.walk("/api/v1/calls", 5, **{"from": exact + 1, "to": exact + 3600})) == []
    with_offset = store.walk("/api/v1/calls", 50, **{"to": "2026-11-24T01:00:00-05:00"})
    assert {i["call_id"] for i in with_offset} == {
        r.call_id for r in store.calls if r.arrived_at < local("2026-11-24T01:00:00", DETROIT)
    }


def test_items_are_the_contract_record_with_the_caller_masked(store: ApiStore) -> None:
    items = store.walk("/api/v1/calls", 100)
    by_id = {r.call_id: r for r in store.calls}
    for item in items:
        record = by_id[item["call_id"]]
        assert item["caller"] == record.caller and "*" in item["caller"]
        assert item["sla"] == record.sla and item["outcome"] == record.outcome
        assert set(item) >= {
            "legs",
            "holds",
            "transfers",
            "time_to_answer_s",
            "rings_to_answer",
            "queue_wait_s",
        }
    text = str(items)
    assert "5550177" not in text and "4960123" not in text and CALLER not in text


def test_detail_has_evidence_with_hashes(store: ApiStore) -> None:
    first = expected(store, site="detroit", queue="service")[0]
    detail = store.get(f"/api/v1/calls/{first}")
    assert detail["call"]["call_id"] == first
    assert detail["evidence"]
    for e in detail["evidence"]:
        assert e["sha256"] == hashlib.sha256(e["raw"].encode()).hexdigest()
    assert store.get(f"/api/v1/calls/{first}", site="detroit")["call"]["call_id"] == first
    assert "555010" not in str(detail) and "5550113" not in str(detail)
    headers = auth(store.tokens["auditor"])
    assert store.api.get("/api/v1/calls/nope", headers=headers).status_code == 404
    assert (
        store.api.get(f"/api/v1/calls/{first}", params={"site": "leeds"}, headers=headers).status_code == 404
    )


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"cursor": "garbage"}, 400),
        ({"cursor": "x" * 300}, 422),
        ({"limit": 0}, 422),
        ({"limit": 1001}, 422),
        ({"limit": 10**30}, 422),
        ({"site": "s" * 65}, 422),
        ({"queue": "q\x00"}, 422),
        ({"outcome": "lost"}, 422),
        ({"direction": "sideways"}, 422),
        ({"from": "2026-12-02", "to": "2026-12-01"}, 422),
        ({"from": "not a date"}, 422),
        ({"from": "0001-01-01T00:00:00", "site": "leeds"}, 200),
    ],
)
def test_bad_requests_are_rejected_cleanly(store: ApiStore, params: dict[str, Any], status: int) -> None:
    response = store.api.get("/api/v1/calls", params=params, headers=auth(store.tokens["auditor"]))
    assert response.status_code == status, response.text
    if status == 422:
        assert isinstance(response.json()["detail"], list)


def test_a_cursor_from_another_listing_order_is_refused(store: ApiStore) -> None:
    from monitor.store.repository import encode_cursor

    ascending = encode_cursor(1795498998.93, 1, newest_first=False)
    response = store.api.get(
        "/api/v1/calls", params={"cursor": ascending}, headers=auth(store.tokens["auditor"])
    )
    assert response.status_code == 400
