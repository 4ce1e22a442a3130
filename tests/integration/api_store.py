"""A store for the API tests, on SQLite or PostgreSQL: the recorded captures plus hand-made calls,
inquiries, a monitoring gap and a registered policy version, each chosen to exercise one filter,
bucket or formula term. The tests compute what they expect from :class:`ApiStore`'s lists, in
Python, and compare with what the API says.

Sites: ``detroit`` (America/Detroit, open 24/7, mailboxes ``service`` and ``letters``) and ``leeds``
(Europe/London). Captures arrive 2026-11-24 around 00:45 Detroit time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, text
from sqlmodel import Session

from adapters.asterisk.pipeline import AmiCallPipeline
from adapters.asterisk.replay import replay_file
from monitor.api.app import create_app
from monitor.api.deps import AppContext
from monitor.bootstrap import call_service
from monitor.config import MailboxSettings, PolicySettings, Settings, SiteSettings
from monitor.domain.calls import CallRecord, CompletedCall, Evidence, Hold, Leg
from monitor.domain.events import MonitoringGap
from monitor.domain.inquiries import InquiryView
from monitor.domain.mail import MailSeen
from monitor.domain.policy import evaluate_call
from monitor.domain.privacy import key_number, mask_number
from monitor.service.reports import inquiries_at
from monitor.service.summary import roll_up_calls
from monitor.service.writer import write_batch
from monitor.store.engine import make_engine, upgrade
from monitor.store.mail_repository import SqlInquiryRepository, SqlMailRepository
from monitor.store.repository import SqlGapRepository, SqlPolicyRepository
from monitor.tokens import ROLES, create_token, load_tokens
from tests.builders import KEY, OOO, mail
from tests.paths import CAPTURES

DETROIT = ZoneInfo("America/Detroit")
LONDON = ZoneInfo("Europe/London")
CALLER = "+1 313 555 0177"
UK_CALLER = "+44 113 496 0123"
EVALUATED_AT = datetime(2026, 11, 25, 9, 50, tzinfo=DETROIT).timestamp()
UNKNOWN_VERSION = "legacy-0"  # thresholds known nowhere: the recorded evaluation decides
REGISTERED_VERSION = "legacy-4rings"  # thresholds only in the policy_version table


def local(text_: str, zone: ZoneInfo = DETROIT) -> float:
    return datetime.fromisoformat(text_).replace(tzinfo=zone).timestamp()


def settings() -> Settings:
    return Settings(
        site=[
            SiteSettings(id="detroit", timezone="America/Detroit"),
            SiteSettings(
                id="leeds",
                timezone="Europe/London",
                ring_cadence="UK",
                policy=PolicySettings(answer_within_rings=4, short_abandon_s=10.0, version="uk-2026.1"),
            ),
        ],
        mailbox=[
            MailboxSettings(site="detroit", host="127.0.0.1", username="service@dealer.example"),
            MailboxSettings(
                site="detroit", host="127.0.0.1", username="letters@dealer.example", kind="written"
            ),
        ],
    )


def synthetic_call(
    call_id: str,
    site: str,
    arrived: float,
    *,
    outcome: str = "answered",
    direction: str = "inbound",
    queue: str | None = "service",
    agent: str | None = "201",
    answer_s: float | None = 8.0,
    talk_s: float = 60.0,
    hold_s: float = 0.0,
    waited_s: float = 20.0,
    version: str | None = None,
    sla: dict[str, Any] | None = None,
) -> CompletedCall:
    """A call as the tracker would hand it over; SLA results by the site's policy unless given."""
    config = settings()
    policy = config.policy_for(site)
    cycle = 3.0 if site == "leeds" else 6.0
    caller = UK_CALLER if site == "leeds" else CALLER
    answered = outcome == "answered"
    answered_at = arrived + (answer_s or 0.0) if answered else None
    ended = (answered_at + talk_s + hold_s) if answered_at is not None else arrived + waited_s
    rings = None if answered_at is None else max(1, int(-(-(answered_at - arrived) // cycle)))
    record = CallRecord(
        call_id=call_id,
        site=site,
        direction=direction,  # type: ignore[arg-type]
        caller=mask_number(caller),
        caller_key=key_number(KEY, caller),
        dialed="600" if direction == "inbound" else mask_number(caller),
        queue=queue,
        arrived_at=arrived,
        answered_at=answered_at,
        ended_at=ended,
        outcome=outcome,  # type: ignore[arg-type]
        answered_by=agent if answered else None,
        queue_wait_s=(answer_s if answered else waited_s) if queue else None,
        rings_to_answer=rings,
        legs=[
            Leg(
                agent or "201",
                f"PJSIP/{agent}-0001",
                arrived + 0.5,
                ended,
                arrived + 0.6,
                answered_at,
                "ANSWER",
            )
        ]
        if agent
        else [],
        holds=[Hold(answered_at + 5.0, answered_at + 5.0 + hold_s, agent or "201")]
        if hold_s and answered_at is not None
        else [],
        talk_s=talk_s if answered else 0.0,
        policy_version=version or policy.version,
    )
    record.sla = dict(sla) if sla is not None else evaluate_call(record, policy, cycle)
    raw = f"Event: Newchannel\r\nCallerIDNum: {record.caller}\r\nLinkedid: {call_id}\r\n"
    return CompletedCall(record, [Evidence(arrived, "Newchannel", raw)])


def synthetic_calls() -> list[CompletedCall]:
    d = "detroit"
    return [
        synthetic_call("s1.parts", d, local("2026-11-30T23:30:00"), queue="parts", agent="301"),
        synthetic_call(
            "s2.short", d, local("2026-12-01T10:00:00"), outcome="abandoned", queue="parts", waited_s=3.0
        ),
        synthetic_call(
            "s3.missed", d, local("2026-12-01T11:00:00"), outcome="missed", queue=None, agent=None
        ),
        synthetic_call("s4.out", d, local("2026-12-01T12:00:00"), direction="outbound", queue=None),
        synthetic_call(
            "s5.legacy",
            d,
            local("2026-11-25T08:00:00"),
            answer_s=22.0,  # 4 rings: met under the legacy policy (as recorded), not under today's
            hold_s=40.0,
            version=UNKNOWN_VERSION,
            sla={"answer_rings": "met", "hold": "met", "abandon": "n/a"},
        ),
        synthetic_call(
            "s6.registered",
            d,
            local("2026-11-25T08:30:00"),
            answer_s=22.0,  # 4 rings: met under the registered legacy policy (4 rings)
            version=REGISTERED_VERSION,
            sla={"answer_rings": "met", "hold": "met", "abandon": "n/a"},
        ),
        synthetic_call(
            "l1.answered", "leeds", local("2026-11-24T09:00:00", LONDON), queue="service", agent="501"
        ),
        synthetic_call(
            "l2.abandoned", "leeds", local("2026-11-24T09:10:00", LONDON), outcome="abandoned", waited_s=30.0
        ),
        synthetic_call(
            "l3.short", "leeds", local("2026-11-24T09:20:00", LONDON), outcome="abandoned", waited_s=8.0
        ),
    ]


def captured_calls(config: Settings) -> list[CompletedCall]:
    done: list[CompletedCall] = []
    service = call_service(config, config.site_by_id("detroit"), KEY, [done.append])
    for path in sorted(CAPTURES.glob("[a-h]*.jsonl")):
        replay_file(path, AmiCallPipeline(service))
    return done


def conversations() -> list[MailSeen]:
    """q1 met (with an auto-reply), q2 breached after a late reply, q3 open and at risk, q4 open,
    q5 a written letter unanswered for days (breached)."""
    t = local
    out = [
        mail("<q1>", t("2026-11-24T10:00:00"), customer="ann@example.com", subject="Brakes"),
        mail(
            "<q1ack>",
            t("2026-11-24T10:00:05"),
            direction="outbound",
            cls=OOO,
            reply_to="<q1>",
            customer="ann@example.com",
            subject="Brakes",
        ),
        mail(
            "<q1r>",
            t("2026-11-24T10:50:00"),
            direction="outbound",
            reply_to="<q1>",
            customer="ann@example.com",
            subject="Brakes",
        ),
        mail("<q2>", t("2026-11-24T11:00:00"), customer="bob@example.com", subject="Tyres"),
        mail(
            "<q2r>",
            t("2026-11-24T12:30:00"),
            direction="outbound",
            reply_to="<q2>",
            customer="bob@example.com",
            subject="Tyres",
        ),
        mail("<q3>", t("2026-11-25T09:00:00"), customer="cid@example.com", subject="Recall"),
        mail("<q4>", t("2026-11-25T09:40:00"), customer="dee@example.com", subject="Quote"),
    ]
    letter = mail("<q5>", t("2026-11-20T09:00:00"), customer="eve@example.com", subject="Complaint")
    return [*out, replace(letter, mailbox="letters")]


@dataclass
class ApiStore:
    engine: Engine
    settings: Settings
    calls: list[CallRecord]
    inquiries: list[InquiryView]
    gap: MonitoringGap
    tokens: dict[str, str]
    api: TestClient

    def get(self, path: str, role: str = "auditor", **params: Any) -> Any:
        response = self.api.get(path, params=params, headers=auth(self.tokens[role]))
        assert response.status_code == 200, (path, params, response.status_code, response.text[:500])
        return response.json()

    def walk(self, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paginated listing, following next_cursor to the last page."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(1000):
            page = self.get(path, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
            assert len(page["items"]) <= limit
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items
        raise AssertionError("pagination did not end")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def build(url: str, tmp: Path, roll_up_first: int | None = 10) -> ApiStore:
    config = settings()
    engine = make_engine(url)
    upgrade(engine)
    completed = captured_calls(config) + synthetic_calls()
    write_batch(engine, completed)
    gap = MonitoringGap("ami", "detroit", local("2026-11-24T12:00:00"), local("2026-11-24T12:05:00"), "lost")
    with Session(engine) as session, session.begin():
        SqlGapRepository(session).add(gap)
        SqlPolicyRepository(session).add(
            REGISTERED_VERSION,
            "detroit",
            {"answer_within_rings": 4, "max_hold_s": 30.0, "first_reply_business_s": 3600.0},
            local("2026-01-01T00:00:00"),
        )
        SqlMailRepository(session).add_many(conversations())
    if roll_up_first is not None:
        # Part of the calls counted in the rollup, the rest still only in ``call``: summaries then
        # add rolled slots, the period's ragged edges and the calls stored since the last pass.
        roll_up_calls(engine, config, batch=roll_up_first, max_batches=1)
    views = [r.view for r in inquiries_at(config, engine, KEY, EVALUATED_AT)]
    with Session(engine) as session, session.begin():
        SqlInquiryRepository(session).save_many(views)
    tokens_file = tmp / "tokens"
    tokens: dict[str, str] = {role: create_token(tokens_file, role) for role in ROLES}
    ctx = AppContext(
        engine=engine,
        tokens=load_tokens(tokens_file),
        metrics_registry=CollectorRegistry(),
        settings=config,
        clock=lambda: local("2026-12-02T00:00:00"),
    )
    return ApiStore(
        engine, config, [c.record for c in completed], views, gap, tokens, TestClient(create_app(ctx))
    )


def reset_postgres(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiStore]:
    """One store per test module and database (the tests only read)."""
    tmp = tmp_path_factory.mktemp("api")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp}/api.db"
    else:
        url = str(request.getfixturevalue("postgres_server_url"))
        reset_postgres(url)
    built = build(url, tmp)
    yield built
    built.engine.dispose()
