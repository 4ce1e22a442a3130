"""The daemon with one service mailbox on a throwaway Dovecot, for the mail fault tests: conversations
put in place by the test, the daemon run in-process, and what ended up in its store.

The daemon's clock is real time shifted to a fixed Tuesday noon in Detroit (``Shifted``), so the
test's conversations (questions 50 to 10 minutes before "now", each answered 5 minutes later) are
never overdue while half-read: every inquiry is evaluated once, as met, whatever order the two
folders are read in.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import formatdate
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlmodel import Session

from adapters.imap.source import ImapSource
from monitor.config import MailboxSettings, MonitorSettings, Settings, SiteSettings
from monitor.domain.events import MonitoringGap
from monitor.runtime import Daemon
from monitor.store.engine import make_engine
from monitor.store.repository import SqlGapRepository
from monitor.store.tables import table
from tests.services import Dovecot

KEY = "mail-faults-key-0123456789abcdef"
NOON = datetime(2026, 11, 24, 12, 0, tzinfo=ZoneInfo("America/Detroit")).timestamp()  # a Tuesday
REPLY_AFTER = 300.0
WAIT = 60.0


class Shifted:
    """Real time moved so that the daemon starts at ``NOON``: evaluation instants advance normally."""

    def __init__(self) -> None:
        self.offset = NOON - time.time()

    def __call__(self) -> float:
        return time.time() + self.offset


def asked_at(i: int, n: int) -> float:
    """Question ``i`` of ``n``, spread over the 40 minutes from 50 to 10 minutes before noon."""
    return NOON - 3000 + (i * 2400) // n  # whole seconds: Dovecot keeps INTERNALDATE to the second


def question(i: int, when: float) -> bytes:
    return (
        f"From: Customer {i} <c{i}@example.com>\r\nTo: service@dealer.example\r\n"
        f"Message-ID: <q{i}@example.com>\r\nSubject: Brakes squeal, car {i}\r\n"
        f"Date: {formatdate(when)}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Can you look at car {i} this week?\r\n"
    ).encode()


def reply(i: int, when: float) -> bytes:
    return (
        f"From: Sam Advisor <sam@dealer.example>\r\nTo: c{i}@example.com\r\n"
        f"Message-ID: <r{i}@dealer.example>\r\nIn-Reply-To: <q{i}@example.com>\r\n"
        f"Subject: Re: Brakes squeal, car {i}\r\nDate: {formatdate(when)}\r\n\r\nThursday 9:00 works.\r\n"
    ).encode()


def conversation_files(n: int, ids: range) -> tuple[list[tuple[bytes, float]], list[tuple[bytes, float]]]:
    inbox = [(question(i, asked_at(i, n)), asked_at(i, n)) for i in ids]
    sent = [(reply(i, asked_at(i, n) + REPLY_AFTER), asked_at(i, n) + REPLY_AFTER) for i in ids]
    return inbox, sent


def keys(ids: range) -> set[str]:
    return {f"q{i}@example.com" for i in ids} | {f"r{i}@dealer.example" for i in ids}


def settings(tmp: Path, server: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SLAMON_HMAC_KEY", KEY)
    password = tmp / "imap.secret"
    password.write_text(server.passwords["user1"])
    return Settings(
        monitor=MonitorSettings(database_url=f"sqlite:///{tmp}/slamon.db", listen="127.0.0.1:0"),
        site=[SiteSettings(id="detroit", timezone="America/Detroit")],
        mailbox=[
            MailboxSettings(
                site="detroit",
                name="service",
                host="127.0.0.1",
                port=server.port,
                tls="none",
                username="user1",
                password_file=password,
                dealer_domains=["dealer.example"],
            )
        ],
    )


@contextlib.asynccontextmanager
async def running(settings: Settings, daemon: Daemon | None = None) -> AsyncIterator[Daemon]:
    daemon = daemon or Daemon(settings, clock=Shifted())
    task = asyncio.create_task(daemon.run())
    try:
        await until(lambda: daemon.started.is_set() or task.done(), "daemon started")
        assert not task.done(), task
        yield daemon
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, WAIT)


def source(daemon: Daemon) -> ImapSource:
    assert daemon.mail is not None
    return daemon.mail.sources[0]


async def until(predicate: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {timeout:.0f}s: {what}") from None


@dataclass
class Stored:
    messages: dict[str, dict[str, Any]]  # message key -> row
    rows: int  # mail_message rows (a duplicate key would show as rows > len(messages))
    inquiries: list[dict[str, Any]]
    evaluations: list[dict[str, Any]]
    gaps: list[MonitoringGap]


def stored(tmp: Path) -> Stored:
    engine = make_engine(f"sqlite:///{tmp}/slamon.db")
    try:
        with Session(engine) as session:
            mail = [dict(r) for r in session.execute(select(table("mail_message"))).mappings()]
            inquiries = [dict(r) for r in session.execute(select(table("inquiry"))).mappings()]
            sla = table("sla_evaluation")
            evaluations = [
                dict(r)
                for r in session.execute(select(sla).where(sla.c.subject_kind == "inquiry")).mappings()
            ]
            gaps = list(SqlGapRepository(session).list())
    finally:
        engine.dispose()
    return Stored({m["message_key"]: m for m in mail}, len(mail), inquiries, evaluations, gaps)


async def stored_when(tmp: Path, predicate: Callable[[Stored], bool], what: str) -> Stored:
    found: list[Stored] = []

    def check() -> bool:
        found[:] = [stored(tmp)]
        return predicate(found[0])

    await until(check, what)
    return found[0]


def all_met(n: int, ids: range) -> Callable[[Stored], bool]:
    def done(s: Stored) -> bool:
        return len(s.inquiries) == len(ids) and all(i["status"] == "met" for i in s.inquiries)

    return done


def check_conversations(s: Stored, n: int, ids: range) -> None:
    """Every message once, every inquiry once, met with the reply's time, evaluated exactly once."""
    assert s.rows == len(s.messages) == 2 * len(ids)
    assert set(s.messages) == keys(ids)
    expected = {round(asked_at(i, n), 3): asked_at(i, n) + REPLY_AFTER for i in ids}
    got = {round(i["received_at"], 3): i["first_human_reply_at"] for i in s.inquiries}
    assert got == pytest.approx(expected)
    assert all(i["business_seconds_to_first_human_reply"] == pytest.approx(REPLY_AFTER) for i in s.inquiries)
    assert sorted(e["subject_id"] for e in s.evaluations) == sorted(i["inquiry_id"] for i in s.inquiries)
    assert {(e["result"], e["revision"]) for e in s.evaluations} == {("met", 0)}


def rescan_reason(folder: str, old: int, new: int) -> str:
    return (
        f"service: {folder}: UIDVALIDITY changed from {old} to {new}; folder re-read, known messages skipped"
    )
