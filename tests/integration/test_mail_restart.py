"""Restart in the middle of a mailbox: slamon dies after storing part of it, starts again, and ends
with every message stored once and every inquiry counted once (real Dovecot, real store)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from email.utils import formatdate
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from adapters.imap.reader import ImapConsumerError
from monitor.config import MailboxSettings, MonitorSettings, Settings, SiteSettings
from monitor.mailboxes import MailRuntime
from monitor.store.engine import make_engine, upgrade
from monitor.store.mail_repository import SqlMailRepository
from tests.integration.dovecot import write_maildir
from tests.services import throwaway_dovecot

KEY = b"restart-test-key-0123456789"
TZ = ZoneInfo("America/Detroit")
N = 600  # 300 conversations: a customer question and an advisor reply each


def message(i: int, when: float) -> bytes:
    conv = i // 2
    if i % 2 == 0:
        head = (
            f"From: Customer {conv} <c{conv}@example.com>\r\nTo: service@dealer.example\r\n"
            f"Message-ID: <q{conv}@example.com>\r\n"
        )
    else:
        head = (
            f"From: Sam <sam@dealer.example>\r\nTo: c{conv}@example.com\r\n"
            f"Message-ID: <r{conv}@dealer.example>\r\n"
            f"In-Reply-To: <q{conv}@example.com>\r\n"
        )
    return (head + f"Subject: Question {conv}\r\nDate: {formatdate(when)}\r\n\r\nText {i}\r\n").encode()


def settings(tmp: Path, port: int, password: Path) -> Settings:
    return Settings(
        monitor=MonitorSettings(database_url=f"sqlite:///{tmp}/mail.db"),
        site=[SiteSettings(id="detroit", timezone="America/Detroit")],
        mailbox=[
            MailboxSettings(
                site="detroit",
                name="service",
                host="127.0.0.1",
                port=port,
                tls="none",
                username="user1",
                password_file=password,
                dealer_domains=["dealer.example"],
            )
        ],
    )


def test_restart_mid_mailbox_loses_nothing_and_counts_once(tmp_path: Path) -> None:
    start = datetime(2026, 11, 24, 9, 0, tzinfo=TZ).timestamp()
    with throwaway_dovecot(1) as server:
        write_maildir(
            server.maildir("user1"), [(message(i, start + i * 30), start + i * 30) for i in range(N)]
        )
        password = tmp_path / "pw"
        password.write_text(server.passwords["user1"])
        cfg = settings(tmp_path, server.port, password)
        engine = make_engine(cfg.monitor.database_url)
        upgrade(engine)

        crashing = MailRuntime(cfg, engine, KEY)
        real_store = crashing._store_messages
        calls = 0

        def store_then_crash(messages: list) -> None:  # type: ignore[type-arg]
            nonlocal calls
            calls += 1
            if calls == 2:
                raise RuntimeError("killed while storing the second batch")
            real_store(messages)

        crashing.service._on_messages = store_then_crash  # the process dies inside the second batch
        crashing.build_sources(chunk_size=200)
        with pytest.raises(ImapConsumerError):
            asyncio.run(crashing.sync_once())
        with Session(engine) as session:
            assert SqlMailRepository(session).count() == 200  # one batch made it

        restarted = MailRuntime(cfg, engine, KEY)
        assert restarted.load_history() == 200
        restarted.build_sources(chunk_size=200)
        counts = asyncio.run(restarted.sync_once())
        assert counts == {"detroit/service": N - 200}  # resumed after the last acknowledged batch
        with Session(engine) as session:
            assert SqlMailRepository(session).count() == N
        views = restarted.evaluate()
        assert len(views) == N // 2 and {v.status for v in views} == {"met"}
        assert len({v.inquiry_id for v in views}) == N // 2
        engine.dispose()
