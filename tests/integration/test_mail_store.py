"""Mail messages and inquiries in the store (SQLite and PostgreSQL), and the report rebuilt from it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from monitor.config import MailboxSettings, MonitorSettings, Settings, SiteSettings
from monitor.domain.calendar import WEEKDAYS
from monitor.domain.mail import MailSeen
from monitor.service.reports import inquiries_at
from monitor.store.engine import make_engine, upgrade
from monitor.store.mail_repository import SqlImapPositionStore, SqlInquiryRepository, SqlMailRepository
from monitor.store.queries import InquiryFilter, SqlInquiryQueries
from monitor.views import inquiry_item
from tests.builders import KEY, OOO, mail

TZ = ZoneInfo("America/Detroit")


def t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp()


def settings(url: str) -> Settings:
    return Settings(
        monitor=MonitorSettings(database_url=url),
        site=[
            SiteSettings(
                id="detroit",
                timezone="America/Detroit",
                country="US",
                subdivision="MI",
                hours={d: ["07:30-18:00"] for d in WEEKDAYS[:5]},
            )
        ],
        mailbox=[MailboxSettings(site="detroit", host="127.0.0.1", username="service@dealer.example")],
    )


def conversation() -> list[MailSeen]:
    jane = "jane@example.com"
    return [
        mail("<q1>", t("2026-11-24T10:00:00"), customer=jane),
        mail(
            "<ack>", t("2026-11-24T10:00:03"), direction="outbound", cls=OOO, reply_to="<q1>", customer=jane
        ),
        mail("<r1>", t("2026-11-24T10:50:00"), direction="outbound", reply_to="<q1>", customer=jane),
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/mail.db"
    return str(request.getfixturevalue("postgres_url"))


def test_messages_round_trip_idempotently_and_report_rebuilds_inquiries(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(url)
    upgrade(engine)
    msgs = conversation()
    with Session(engine) as session, session.begin():
        assert SqlMailRepository(session).add_many(msgs) == 3
    with Session(engine) as session, session.begin():
        repo = SqlMailRepository(session)
        # the same messages again (a restart re-reading a batch), and a second copy arriving earlier
        assert (
            repo.add_many([*msgs, replace(msgs[2], folder="INBOX", received_at=msgs[2].received_at - 2)]) == 0
        )
    with Session(engine) as session:
        loaded = SqlMailRepository(session).load("detroit", "service")
    assert [m.message_key for m in loaded] == ["<q1>", "<ack>", "<r1>"]
    assert loaded[0] == msgs[0] and loaded[2].received_at == msgs[2].received_at - 2
    [item] = inquiries_at(settings(url), engine, KEY, t("2026-11-24T12:00:00"))
    row = inquiry_item(item.view, item.zone)
    assert row["status"] == "met" and row["auto_replies"] == 1
    assert row["received_at"] == "2026-11-24T10:00:00-05:00"
    assert row["business_seconds_to_first_human_reply"] == 2998
    assert row["customer"] == "j***@example.com" and "jane" not in str(row)
    early = inquiries_at(settings(url), engine, KEY, t("2026-11-24T10:30:00"))[0].view
    assert early.status == "open" and early.first_human_reply_at is None  # the reply was not sent yet
    with Session(engine) as session, session.begin():
        SqlInquiryRepository(session).save_many([early])
    with Session(engine) as session, session.begin():
        SqlInquiryRepository(session).save_many([item.view])
    with Session(engine) as session:
        stored = SqlInquiryQueries(session).get(item.view.inquiry_id, "detroit")
        rows, _ = SqlInquiryQueries(session).page(InquiryFilter("detroit", status="met"))
    assert stored is not None and stored["status"] == "met" and len(rows) == 1
    engine.dispose()


def test_imap_positions(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    store = SqlImapPositionStore(engine)
    assert store.load("detroit", "service", "INBOX") is None
    store.save("detroit", "service", "INBOX", 7, 10)
    store.save("detroit", "service", "INBOX", 7, 25)
    assert store.load("detroit", "service", "INBOX") == (7, 25)
    engine.dispose()
