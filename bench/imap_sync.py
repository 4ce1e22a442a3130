"""IMAP source benchmark (CONTRACTS section 7) on a local throwaway Dovecot (``tests.services``).

- imap_first_sync_messages_per_s: ``ImapSource.sync_once()`` over a 50,000-message inbox, headers only
  (``UID FETCH <500 UIDs> (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])``), from an empty
  state store to the last message handed to the consumer. Goal >= 2,000/s.
- imap_warm_sync_messages_per_s: the same again with a fresh state store (Dovecot's caches now warm),
  for context.
- imap_idle_append_to_visible_s: median over 10 runs of the time from an APPEND (another connection)
  returning to slamon's ``on_messages`` receiving that message through IDLE. Goal <= 2 s. Dovecot
  itself holds change notifications back for about 0.5 s.

Populating: the messages are written straight into the maildir's ``cur/`` as the vmail user would
(``tests.integration.dovecot.write_maildir``: unique names with ``S=<size>``, file mtime =
INTERNALDATE) - about 100 times faster than APPEND. Dovecot assigns the UIDs when it first scans the
folder; that scan is triggered beforehand with ``doveadm mailbox status`` and reported separately
(``imap_maildir_scan_s``) because a production server has long done it.

Needs root and the dovecot-imapd package. Prints ``name=value`` lines; the last line is a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr
from sqlmodel import Session

from adapters.imap.fetched import FetchedMessage
from adapters.imap.source import ImapSource
from adapters.imap.state import MemoryImapStateStore
from monitor.config import MailboxSettings, MonitorSettings, Settings, SiteSettings
from monitor.mailboxes import MailRuntime
from monitor.store.engine import make_engine, upgrade
from monitor.store.mail_repository import SqlMailRepository
from tests.integration.dovecot import Mail, write_maildir
from tests.services import Dovecot, throwaway_dovecot

T0 = 1_760_000_000.0
FIRST_SYNC_GOAL = 2000.0
IDLE_GOAL_S = 2.0


def realistic_message(i: int) -> bytes:
    """About 1.4 KB of header (relays, DKIM, list of recipients) and 1.5 KB of body."""
    relay = "".join(
        f"Received: from relay{n}.mail.example (relay{n}.mail.example [192.0.2.{n}])\r\n"
        f"\tby mx.dealer.example (Postfix) with ESMTPS id 4Xq{i:07d}{n}\r\n"
        f"\tfor <service@dealer.example>; Mon, 13 Oct 2025 09:{n:02d}:00 +0000\r\n"
        for n in range(3)
    )
    header = (
        f"Return-Path: <customer{i}@example.com>\r\n{relay}"
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s1;\r\n"
        f"\th=from:to:subject:date:message-id; bh={'A' * 44};\r\n\tb={'B' * 170}\r\n"
        f"From: Customer {i} <customer{i}@example.com>\r\n"
        "To: Service Department <service@dealer.example>\r\n"
        f"Subject: Appointment request for vehicle {i}\r\n"
        f"Date: Mon, 13 Oct 2025 09:00:{i % 60:02d} +0000\r\n"
        f"Message-ID: <{i}.bench@example.com>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    body = ("I would like to book a service appointment for my car next week. " * 24 + "\r\n").encode()
    return header.encode() + body


def source_for(server: Dovecot, user: str, on_messages: object, **options: object) -> ImapSource:
    return ImapSource(
        site="bench",
        mailbox="bench",
        host="127.0.0.1",
        port=server.port,
        tls="none",
        username=user,
        password=SecretStr(server.passwords[user]),
        store=MemoryImapStateStore(),
        on_messages=on_messages,  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


def bench_sync(server: Dovecot, user: str) -> tuple[float, int, int]:
    """(seconds, messages, header bytes) of one headers-only sync_once from an empty state."""
    seen = [0, 0]

    def consume(batch: list[FetchedMessage]) -> None:
        seen[0] += len(batch)
        seen[1] += sum(len(m.header) for m in batch)

    source = source_for(server, user, consume)
    started = time.perf_counter()
    asyncio.run(source.sync_once())
    return time.perf_counter() - started, seen[0], seen[1]


def bench_pipeline_sync(server: Dovecot, user: str, tmp: Path) -> tuple[float, int, int]:
    """The whole first sync as ``slamon sync`` does it: bodies for the inbox, MIME parsing,
    classification, threading, inquiry evaluation, and every message stored in SQLite before the
    IMAP position moves past it. Returns (seconds, messages stored, inquiries)."""
    password = tmp / "imap.secret"
    password.write_text(server.passwords[user])
    settings = Settings(
        monitor=MonitorSettings(database_url=f"sqlite:///{tmp}/bench.db"),
        site=[SiteSettings(id="bench", timezone="UTC")],
        mailbox=[
            MailboxSettings(
                site="bench",
                name="bench",
                host="127.0.0.1",
                port=server.port,
                tls="none",
                username=user,
                password_file=password,
                dealer_domains=["dealer.example"],
            )
        ],
    )
    engine = make_engine(settings.monitor.database_url)
    upgrade(engine)
    mail = MailRuntime(settings, engine, b"bench-hmac-key-0123456789")
    mail.load_history()
    mail.build_sources()
    started = time.perf_counter()
    asyncio.run(mail.sync_once())
    seconds = time.perf_counter() - started
    with Session(engine) as session:
        stored = SqlMailRepository(session).count()
    inquiries = len(mail.evaluate())
    engine.dispose()
    return seconds, stored, inquiries


async def bench_idle(server: Dovecot, user: str, runs: int) -> list[float]:
    arrivals: dict[int, float] = {}

    def consume(batch: list[FetchedMessage]) -> None:
        now = time.perf_counter()
        for m in batch:
            arrivals[m.uid] = now

    source = source_for(server, user, consume)
    task = asyncio.create_task(source.run())
    latencies: list[float] = []
    try:
        deadline = time.monotonic() + 10
        while not source.up:
            if time.monotonic() > deadline or task.done():
                raise RuntimeError(f"IMAP source did not come up: {source.last_error}")
            await asyncio.sleep(0.01)
        with Mail(server, user) as mail:
            for i in range(runs):
                uid = await asyncio.to_thread(mail.append, "INBOX", realistic_message(i), when=T0 + i)
                appended = time.perf_counter()
                deadline = time.monotonic() + 10
                while uid not in arrivals:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"message {uid} not seen within 10 s of its APPEND")
                    await asyncio.sleep(0.002)
                latencies.append(arrivals[uid] - appended)
                await asyncio.sleep(0.2)  # let the watcher go back into IDLE
    finally:
        await source.close()
        await asyncio.wait_for(task, 10)
    return latencies


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--idle-runs", type=int, default=10)
    args = ap.parse_args()
    if os.geteuid() != 0 or not Path("/usr/sbin/dovecot").exists():
        sys.exit("bench/imap_sync.py needs root and /usr/sbin/dovecot (Debian package dovecot-imapd)")
    with throwaway_dovecot(users=2) as server:
        big, small = server.users
        started = time.perf_counter()
        sizes = write_maildir(
            server.maildir(big), ((realistic_message(i), T0 + i) for i in range(args.messages))
        )
        print(f"imap_messages={sizes}")
        print(f"imap_populate_maildir_s={time.perf_counter() - started:.1f}")
        started = time.perf_counter()
        server.doveadm("mailbox", "status", "-u", big, "messages", "INBOX")
        print(f"imap_maildir_scan_s={time.perf_counter() - started:.2f}")
        seconds, count, header_bytes = bench_sync(server, big)
        if count != args.messages:
            raise RuntimeError(f"first sync delivered {count} of {args.messages} messages")
        first = count / seconds
        print(f"imap_first_sync_s={seconds:.2f}")
        print(f"imap_first_sync_header_mb={header_bytes / 1e6:.1f}")
        print(f"imap_first_sync_messages_per_s={first:.0f}")
        seconds, count, _ = bench_sync(server, big)
        warm = count / seconds
        print(f"imap_warm_sync_messages_per_s={warm:.0f}")
        with tempfile.TemporaryDirectory() as tmp:
            seconds, stored, inquiries = bench_pipeline_sync(server, big, Path(tmp))
        if stored != args.messages:
            raise RuntimeError(f"pipeline sync stored {stored} of {args.messages} messages")
        pipeline = stored / seconds
        print(f"imap_first_sync_pipeline_s={seconds:.2f}")
        print(f"imap_first_sync_pipeline_inquiries={inquiries}")
        print(f"imap_first_sync_pipeline_messages_per_s={pipeline:.0f}")
        latencies = asyncio.run(bench_idle(server, small, args.idle_runs))
        median = statistics.median(latencies)
        print(f"imap_idle_append_to_visible_s={median:.3f}")
        print(f"imap_idle_append_to_visible_max_s={max(latencies):.3f}")
    ok = min(first, pipeline) >= FIRST_SYNC_GOAL and median <= IDLE_GOAL_S
    print(
        f"summary: IMAP first sync of {args.messages:,} messages {first:,.0f}/s "
        f"(goal >= {FIRST_SYNC_GOAL:,.0f}), "
        f"warm {warm:,.0f}/s, with parsing + classification + store {pipeline:,.0f}/s; "
        f"APPEND -> visible through IDLE median {median:.2f} s over {len(latencies)} "
        f"(goal <= {IDLE_GOAL_S:.0f} s): {'OK' if ok else 'BELOW GOAL'}"
    )


if __name__ == "__main__":
    main()
