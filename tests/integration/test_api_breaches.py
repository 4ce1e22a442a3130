"""GET /api/v1/breaches (SQLite and PostgreSQL): the breached evaluations in force with their
subject's figures, every filter, pages to the last one, calls and inquiries interleaved by time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from monitor.domain.calls import CallRecord
from monitor.store.mail_repository import SqlInquiryRepository
from monitor.store.tables import table
from tests.integration.api_store import ApiStore, auth, build, local, store

__all__ = ["store"]
pytestmark = pytest.mark.service

Key = tuple[str, str]  # (subject_id, standard)


def call_breaches(s: ApiStore, **match: Any) -> set[Key]:
    def ok(r: CallRecord) -> bool:
        return all(getattr(r, k) == v for k, v in match.items())

    return {(r.call_id, std) for r in s.calls if ok(r) for std, res in r.sla.items() if res == "breached"}


def inquiry_breaches(s: ApiStore, **match: Any) -> set[Key]:
    return {
        (v.inquiry_id, "acknowledge" if v.kind == "written" else "first_reply")
        for v in s.inquiries
        if v.status == "breached" and all(getattr(v, k) == value for k, value in match.items())
    }


def keys(items: list[dict[str, Any]]) -> list[Key]:
    return [(i["subject_id"], i["standard"]) for i in items]


def walk(s: ApiStore, limit: int = 2, **params: Any) -> list[dict[str, Any]]:
    items = s.walk("/api/v1/breaches", limit, **params)
    assert len(keys(items)) == len(set(keys(items))), "a breach listed twice"
    ats = [i["at"] for i in items]
    assert [local_ts(a) for a in ats] == sorted((local_ts(a) for a in ats), reverse=True)
    return items


def local_ts(iso_text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso_text).timestamp()


def test_every_breach_once_newest_first_to_the_last_page(store: ApiStore) -> None:
    want = call_breaches(store) | inquiry_breaches(store)
    assert len(want) >= 10
    for limit in (1, 3, 1000):
        assert set(keys(walk(store, limit))) == want


@pytest.mark.parametrize(
    ("params", "calls", "inquiries"),
    [
        ({"site": "leeds"}, {"site": "leeds"}, None),
        ({"site": "detroit"}, {"site": "detroit"}, {"site": "detroit"}),
        ({"subject": "call"}, {}, None),
        ({"subject": "inquiry"}, None, {}),
        ({"queue": "service"}, {"queue": "service"}, None),
        ({"queue": "parts"}, {"queue": "parts"}, None),
        ({"agent": "202"}, {"answered_by": "202"}, None),
        ({"outcome": "abandoned"}, {"outcome": "abandoned"}, None),
        ({"outcome": "missed"}, {"outcome": "missed"}, None),
        ({"mailbox": "letters"}, None, {"mailbox": "letters"}),
        ({"kind": "internet_inquiry"}, None, {"kind": "internet_inquiry"}),
    ],
)
def test_filters(
    store: ApiStore, params: dict[str, Any], calls: dict[str, Any] | None, inquiries: dict[str, Any] | None
) -> None:
    want = (call_breaches(store, **calls) if calls is not None else set()) | (
        inquiry_breaches(store, **inquiries) if inquiries is not None else set()
    )
    assert want, params
    assert set(keys(walk(store, **params))) == want


@pytest.mark.parametrize("standard", ["answer_rings", "hold", "abandon", "first_reply", "acknowledge"])
def test_standard_filter(store: ApiStore, standard: str) -> None:
    want = {k for k in call_breaches(store) | inquiry_breaches(store) if k[1] == standard}
    assert want
    items = walk(store, standard=standard)
    assert set(keys(items)) == want and {i["standard"] for i in items} == {standard}


def test_period_on_the_subject_start(store: ApiStore) -> None:
    december = set(keys(walk(store, 2, site="detroit", **{"from": "2026-12-01", "to": "2026-12-02"})))
    assert december == call_breaches(store, call_id="s2.short") | call_breaches(store, call_id="s3.missed")
    letter = set(keys(walk(store, 2, to=local("2026-11-21T00:00:00"))))
    assert letter == inquiry_breaches(store, mailbox="letters")


def test_items_carry_the_subject_figures(store: ApiStore) -> None:
    items = {(i["subject_id"], i["standard"]): i for i in walk(store, 100)}
    late = next(r for r in store.calls if r.sla["answer_rings"] == "breached" and r.outcome == "answered")
    item = items[(late.call_id, "answer_rings")]
    assert item["subject_kind"] == "call" and item["inquiry"] is None and item["unit"] == "rings"
    assert item["call"]["rings_to_answer"] == late.rings_to_answer and item["threshold"] == 3
    assert item["call"]["answered_by"] == late.answered_by and "*" in item["call"]["caller"]
    assert item["at"].endswith("-05:00")
    missed = items[("s3.missed", "answer_rings")]
    assert missed["call"]["waited_s"] == 20.0 and missed["call"]["answered_at"] is None
    letter = next(v for v in store.inquiries if v.mailbox == "letters")
    item = items[(letter.inquiry_id, "acknowledge")]
    assert item["call"] is None and item["unit"] == "business_s"
    assert item["inquiry"]["customer"] == "e***@example.com" and item["inquiry"]["status"] == "breached"
    assert item["threshold"] == letter.allowance_s and item["measured"] > letter.allowance_s
    assert "eve@" not in str(items) and "5550177" not in str(items)


@pytest.mark.parametrize("params", [{"standard": "speed"}, {"subject": "fax"}, {"cursor": "%%%"}])
def test_bad_parameters(store: ApiStore, params: dict[str, Any]) -> None:
    response = store.api.get("/api/v1/breaches", params=params, headers=auth(store.tokens["auditor"]))
    assert response.status_code in (400, 422)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiStore]:
    """A store of its own (the test appends corrections)."""
    url = (
        f"sqlite:///{tmp_path}/own.db"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    built = build(url, tmp_path)
    yield built
    built.engine.dispose()


def test_a_corrected_evaluation_replaces_what_it_supersedes(fresh: ApiStore) -> None:
    """q2 was breached; a phone reply matched later corrects it to met (a new revision superseding
    the first): it is no longer a breach, while the superseded row stays in the chain."""
    breached = [v for v in fresh.inquiries if v.status == "breached"]
    q2 = next(v for v in breached if v.mailbox == "service")
    letter = next(v for v in breached if v.mailbox == "letters")
    corrected = replace(
        q2,
        status="met",
        at_risk=False,
        first_human_reply_at=q2.received_at + 600.0,
        reply_via="phone",
        business_seconds_to_first_human_reply=600.0,
        business_seconds_elapsed=600.0,
    )
    with Session(fresh.engine) as session, session.begin():
        SqlInquiryRepository(session).save_many([corrected])
    ev = table("sla_evaluation")
    with Session(fresh.engine) as session:
        revisions = session.execute(
            select(ev.c.revision, ev.c.result, ev.c.supersedes_seq.is_not(None)).where(
                ev.c.subject_kind == "inquiry", ev.c.subject_id == q2.inquiry_id
            )
        ).all()
    assert sorted(tuple(r) for r in revisions) == [(0, "breached", False), (1, "met", True)]
    assert keys(walk(fresh, 1, subject="inquiry")) == [(letter.inquiry_id, "acknowledge")]
    response = fresh.api.get("/api/v1/export/breaches.jsonl", headers=auth(fresh.tokens["auditor"]))
    exported = [i for i in map(json.loads, response.text.splitlines()) if i["subject_kind"] == "inquiry"]
    assert [(i["subject_id"], i["standard"]) for i in exported] == [(letter.inquiry_id, "acknowledge")]
    summary = fresh.get("/api/v1/sla/summary", group_by="mailbox", site="detroit", **{"from": "2026-11-01"})
    service = next(g for g in summary["groups"] if g["key"] == "service")
    assert service["inquiries"]["met"] == 2 and service["inquiries"]["breached"] == 0
