"""GET /api/v1/inquiries and /api/v1/inquiries/{inquiry_id} (SQLite and PostgreSQL): the contract's
inquiry item with local offsets, every filter, pages to the last one, evidence with hashes."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.domain.inquiries import InquiryView
from monitor.service.reports import ReportedInquiry
from monitor.views import inquiry_item
from tests.integration.api_store import DETROIT, ApiStore, auth, local, store

__all__ = ["store"]
pytestmark = pytest.mark.service


def expected(s: ApiStore, **match: Any) -> list[str]:
    def ok(v: InquiryView) -> bool:
        return all(getattr(v, k) == value for k, value in match.items())

    newest = sorted(s.inquiries, key=lambda v: v.received_at, reverse=True)
    return [v.inquiry_id for v in newest if ok(v)]


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["inquiry_id"] for i in items]


def test_pages_walk_every_inquiry_once(store: ApiStore) -> None:
    assert len(store.inquiries) == 5
    for limit in (1, 2, 100):
        assert ids(store.walk("/api/v1/inquiries", limit)) == expected(store)


@pytest.mark.parametrize(
    ("param", "value", "attribute", "count"),
    [
        ("site", "detroit", "site", 5),
        ("site", "leeds", "site", 0),
        ("mailbox", "letters", "mailbox", 1),
        ("mailbox", "service", "mailbox", 4),
        ("kind", "written", "kind", 1),
        ("kind", "internet_inquiry", "kind", 4),
        ("status", "met", "status", 1),
        ("status", "breached", "status", 2),
        ("status", "open", "status", 2),
        ("at_risk", True, "at_risk", 3),
        ("at_risk", False, "at_risk", 2),
    ],
)
def test_each_filter(store: ApiStore, param: str, value: Any, attribute: str, count: int) -> None:
    want = expected(store, **{attribute: value})
    assert len(want) == count
    assert ids(store.walk("/api/v1/inquiries", 1, **{param: str(value).lower()})) == want


def test_period_filter_on_received_time_in_local_time(store: ApiStore) -> None:
    got = ids(
        store.walk("/api/v1/inquiries", 2, site="detroit", **{"from": "2026-11-25", "to": "2026-11-26"})
    )
    assert got == [v.inquiry_id for v in sorted(store.inquiries, key=lambda v: -v.received_at)][:2]
    since = local("2026-11-24T10:00:00")
    got = ids(store.walk("/api/v1/inquiries", 2, **{"from": since, "to": since + 1}))
    assert len(got) == 1 and got[0] == expected(store, received_at=since)[0]


def test_items_match_the_report_and_evidence_is_hashed_and_masked(store: ApiStore) -> None:
    items = {i["inquiry_id"]: i for i in store.walk("/api/v1/inquiries", 100)}
    for view in store.inquiries:
        item = items[view.inquiry_id]
        reported = inquiry_item(ReportedInquiry(view, DETROIT).view, DETROIT)
        for key in (
            "site",
            "mailbox",
            "kind",
            "customer",
            "received_at",
            "first_human_reply_at",
            "business_seconds_to_first_human_reply",
            "business_seconds_elapsed",
            "allowance_business_s",
            "deadline_at",
            "status",
            "at_risk",
            "auto_replies",
            "policy_version",
            "evaluated_at",
        ):
            assert item[key] == reported[key], key
        assert [e["message_key_sha256"] for e in item["evidence"]] == [
            e["message_key_sha256"] for e in reported["evidence"]
        ]
        assert item["received_at"].endswith("-05:00")
    met = next(i for i in items.values() if i["status"] == "met")
    assert met["auto_replies"] == 1 and met["business_seconds_to_first_human_reply"] == 3000
    text = str(items)
    for name in ("ann@", "bob@", "cid@", "dee@", "eve@"):
        assert name not in text


def test_detail_and_not_found(store: ApiStore) -> None:
    some = store.inquiries[0]
    detail = store.get(f"/api/v1/inquiries/{some.inquiry_id}")
    assert detail["inquiry_id"] == some.inquiry_id and detail["evidence"]
    assert store.get(f"/api/v1/inquiries/{some.inquiry_id}", site="detroit")["site"] == "detroit"
    headers = auth(store.tokens["auditor"])
    assert store.api.get("/api/v1/inquiries/none", headers=headers).status_code == 404
    path = f"/api/v1/inquiries/{some.inquiry_id}"
    assert store.api.get(path, params={"site": "leeds"}, headers=headers).status_code == 404


@pytest.mark.parametrize(
    "params",
    [{"status": "closed"}, {"kind": "fax"}, {"at_risk": "maybe"}, {"limit": 5000}, {"mailbox": "m" * 200}],
)
def test_bad_filters_are_422(store: ApiStore, params: dict[str, Any]) -> None:
    response = store.api.get("/api/v1/inquiries", params=params, headers=auth(store.tokens["auditor"]))
    assert response.status_code == 422
