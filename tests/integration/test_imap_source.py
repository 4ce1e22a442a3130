"""ImapSource against a real throwaway Dovecot: folder discovery, INTERNALDATEs, read-only, bodies,
resume after a crash, UIDVALIDITY changes, IDLE, polling, server restarts and stalls.
TLS and login errors: test_imap_security.py."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from adapters.imap.errors import (
    ImapCommandError,
    ReadOnlyViolation,
)
from adapters.imap.reader import ImapConsumerError
from adapters.imap.session import ImapSession
from adapters.imap.state import FolderPosition, JsonFileImapStateStore, MemoryImapStateStore
from tests.integration.dovecot import WAIT, Collector, Mail, make_message, make_source, running, write_maildir
from tests.services import Dovecot, throwaway_dovecot

pytestmark = pytest.mark.service

T0 = 1_767_000_000.0  # a fixed instant for INTERNALDATEs


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with throwaway_dovecot(users=30) as server:
        server.free_users = iter(server.users)  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def user(dovecot: Dovecot) -> str:
    """A mail account no other test in this module has touched."""
    name: str = next(dovecot.free_users)  # type: ignore[attr-defined]
    return name


# -- discovery, dates, read-only -------------------------------------------------------------------


async def test_first_sync_reads_inbox_and_sent_found_by_special_use(dovecot: Dovecot, user: str) -> None:
    with Mail(dovecot, user) as mail:
        # Offsets other than the server's: Dovecot stores the instant, not the offset.
        in_uids = [
            mail.append("INBOX", make_message(1), when='"02-Jan-2026 03:04:05 +0200"'),
            mail.append("INBOX", make_message(2), when='"02-Jan-2026 09:00:00 -0500"'),
        ]
        sent_uid = mail.append("Sent", make_message(3, subject="Re: x"), when=T0, flags="(\\Seen)")
    rec = Collector()
    source = make_source(dovecot, user, rec)
    assert source.folders == ["INBOX", None]  # Sent is not configured: found by special use

    counts = await source.sync_once()

    assert counts == {"INBOX": 2, "Sent": 1}
    assert source.folders == ["INBOX", None]  # sync_once resolves on its own session
    by_folder = {(m.folder, m.uid): m for m in rec.messages}
    inbox1, inbox2, sent = (
        by_folder["INBOX", in_uids[0]],
        by_folder["INBOX", in_uids[1]],
        by_folder["Sent", sent_uid],
    )
    assert inbox1.internaldate == datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC).timestamp()
    assert inbox2.internaldate == datetime(2026, 1, 2, 14, 0, 0, tzinfo=UTC).timestamp()
    assert sent.internaldate == T0
    assert b"Subject: Service request 1\r\n" in inbox1.header and inbox1.header.endswith(b"\r\n\r\n")
    assert inbox1.body is None and inbox1.size == len(make_message(1))
    assert "\\Seen" in sent.flags and "\\Seen" not in inbox1.flags
    assert {m.site for m in rec.messages} == {"detroit"}
    assert {m.mailbox for m in rec.messages} == {"internet_inquiry"}
    assert inbox1.uidvalidity != sent.uidvalidity or inbox1.uidvalidity > 0
    # A second pass finds nothing new: the positions were saved.
    assert await source.sync_once() == {"INBOX": 0, "Sent": 0}
    assert source.events_total == 3 and source.parse_errors == 0


async def test_configured_sent_and_extra_folder_with_non_ascii_name(dovecot: Dovecot, user: str) -> None:
    with Mail(dovecot, user) as mail:
        mail.create("Gesendete Elemente")
        mail.create("Anfragen/Rückruf")
        mail.append("Gesendete Elemente", make_message(1), when=T0)
        mail.append("Anfragen/Rückruf", make_message(2), when=T0 + 60)
        mail.append("Sent", make_message(3), when=T0)  # not watched: a configured name wins
    rec = Collector()
    source = make_source(dovecot, user, rec, sent="Gesendete Elemente", extra_folders=["Anfragen/Rückruf"])

    counts = await source.sync_once()

    assert counts == {"INBOX": 0, "Gesendete Elemente": 1, "Anfragen/Rückruf": 1}
    assert {m.folder for m in rec.messages} == {"Gesendete Elemente", "Anfragen/Rückruf"}


async def test_a_missing_extra_folder_is_named_in_the_error(dovecot: Dovecot, user: str) -> None:
    source = make_source(dovecot, user, Collector(), extra_folders=["Leads"])
    with pytest.raises(ImapCommandError, match=r"EXAMINE failed: NO .*folder 'Leads'"):
        await source.sync_once()


async def test_reading_changes_no_flags(dovecot: Dovecot, user: str) -> None:
    flag_sets = ["", "(\\Flagged)", "(\\Answered $Label1)", "(\\Seen)", "(\\Draft)"]
    with Mail(dovecot, user) as mail:
        for i, flags in enumerate(flag_sets):
            mail.append("INBOX", make_message(i), when=T0 + i, flags=flags)
            mail.append("Sent", make_message(i + 10), when=T0 + i, flags=flags)
        before = {f: mail.flags(f) for f in ("INBOX", "Sent")}
    rec = Collector()
    # Bodies too: the riskiest fetch for \Seen.
    source = make_source(dovecot, user, rec, want_body=lambda m: True)
    await source.sync_once()
    async with running(source):  # and a while in IDLE
        await rec.until(lambda: source.up)
        await asyncio.sleep(0.3)
    with Mail(dovecot, user) as mail:
        after = {f: mail.flags(f) for f in ("INBOX", "Sent")}

    assert len(rec.messages) == 2 * len(flag_sets) and all(m.body for m in rec.messages)
    assert after == before
    unseen = [uid for uid, flags in after["INBOX"].items() if "\\Seen" not in flags]
    assert len(unseen) == len(flag_sets) - 1  # only the one appended with \Seen has it


async def test_commands_that_could_change_the_mailbox_never_leave_the_client(
    dovecot: Dovecot, user: str
) -> None:
    session = await ImapSession.open("127.0.0.1", dovecot.port, tls="none")
    try:
        await session.login(user, SecretStr(dovecot.passwords[user]))
        await session.examine("INBOX")
        for name, args in [
            ("SELECT", [b"INBOX"]),
            ("STORE", [b"1", b"+FLAGS", b"(\\Seen)"]),
            ("UID", [b"STORE", b"1", b"+FLAGS", b"(\\Seen)"]),
            ("UID", [b"FETCH", b"1", b"(BODY[])"]),
            ("UID", [b"FETCH", b"1", b"RFC822"]),
            ("COPY", [b"1", b"Sent"]),
            ("UID", [b"MOVE", b"1", b"Sent"]),
            ("EXPUNGE", []),
            ("APPEND", [b"INBOX", b"{1}"]),
            ("CREATE", [b"X"]),
            ("DELETE", [b"Sent"]),
        ]:
            with pytest.raises(ReadOnlyViolation):
                await session.command(name, *args)
        await session.noop()  # nothing half-sent: the session is still in step with the server
    finally:
        await session.logout()


async def test_bodies_only_where_the_consumer_asks_and_capped(dovecot: Dovecot, user: str) -> None:
    big = b"x" * 5000 + b"\r\n"
    with Mail(dovecot, user) as mail:
        small_uid = mail.append("INBOX", make_message(1, subject="want this"), when=T0)
        big_uid = mail.append("INBOX", make_message(2, subject="want big", body=big), when=T0)
        skip_uid = mail.append("INBOX", make_message(3, subject="skip"), when=T0)
    rec = Collector()
    source = make_source(dovecot, user, rec, body_cap=1000, want_body=lambda m: b"Subject: want" in m.header)

    await source.sync_once()

    got = {m.uid: m for m in rec.messages}
    assert got[small_uid].body == b"Hello, message 1.\r\n"
    assert len(got[small_uid].header) + len(b"Hello, message 1.\r\n") == got[small_uid].size  # complete
    assert got[big_uid].body == big[:1000] and got[big_uid].size > 5000
    assert got[skip_uid].body is None


# -- resume, UIDVALIDITY ---------------------------------------------------------------------------


async def test_restart_mid_mailbox_resumes_without_skipping(
    dovecot: Dovecot, user: str, tmp_path: Path
) -> None:
    total = 1234
    write_maildir(dovecot.maildir(user), ((make_message(i), T0 + i) for i in range(total)))
    state_file = tmp_path / "imap-state.json"
    first = Collector(fail_after_batches=3)  # the 4th batch is seen, then the consumer "crashes"
    source = make_source(dovecot, user, first, store=JsonFileImapStateStore(state_file), chunk_size=100)

    with pytest.raises(ImapConsumerError, match="consumer crashed"):
        await source.sync_once()

    saved = JsonFileImapStateStore(state_file).load("detroit", "internet_inquiry", "INBOX")
    assert saved is not None and saved.last_uid == 300  # three accepted batches of 100
    second = Collector()
    resumed = make_source(dovecot, user, second, store=JsonFileImapStateStore(state_file), chunk_size=100)
    await resumed.sync_once()

    seen = first.uids("INBOX") + second.uids("INBOX")
    assert set(seen) == set(range(1, total + 1))  # every message, none skipped
    duplicates = sorted(uid for uid in set(seen) if seen.count(uid) > 1)
    assert duplicates == list(range(301, 401))  # only the batch that was not acknowledged
    assert second.uids("INBOX")[0] == 301
    internaldates = sorted(m.internaldate for m in second.messages)
    assert internaldates[-1] == T0 + total - 1


async def test_uidvalidity_change_between_syncs_rescans_the_folder(
    dovecot: Dovecot, user: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Mail(dovecot, user) as mail:
        for i in range(3):
            mail.append("Sent", make_message(i), when=T0 + i)
    rec = Collector()
    store = MemoryImapStateStore()
    source = make_source(dovecot, user, rec, store=store)
    await source.sync_once()
    old = store.load("detroit", "internet_inquiry", "Sent")
    assert old is not None and old.last_uid == 3

    dovecot.doveadm("mailbox", "update", "-u", user, "--uid-validity", "12345", "Sent")
    with caplog.at_level(logging.WARNING, logger="adapters.imap"):
        counts = await source.sync_once()

    assert counts["Sent"] == 3
    assert [m.uidvalidity for m in rec.messages if m.folder == "Sent"] == [old.uidvalidity] * 3 + [12345] * 3
    assert store.load("detroit", "internet_inquiry", "Sent") == FolderPosition(12345, 3)
    assert "UIDVALIDITY changed from" in caplog.text and "rescanning the whole folder" in caplog.text


async def test_uidvalidity_change_while_watching_reconnects_and_rescans(dovecot: Dovecot, user: str) -> None:
    with Mail(dovecot, user) as mail:
        for i in range(3):
            mail.append("INBOX", make_message(i), when=T0 + i)
    rec = Collector()
    source = make_source(dovecot, user, rec)
    async with running(source):
        await rec.until(lambda: len(rec.messages) == 3 and source.up)
        dovecot.doveadm("mailbox", "update", "-u", user, "--uid-validity", "777", "INBOX")
        # The watching session learns of it on its next command: Dovecot answers with BYE.
        with Mail(dovecot, user) as mail:
            new_uid = await asyncio.to_thread(mail.append, "INBOX", make_message(9), when=T0 + 9)
        await rec.until(
            lambda: sorted(m.uid for m in rec.messages if m.uidvalidity == 777) == [1, 2, 3, new_uid]
        )
    assert [m.uid for m in rec.messages if m.uidvalidity != 777] == [1, 2, 3]


# -- IDLE, polling, server restarts ----------------------------------------------------------------


async def test_new_message_arrives_through_idle_within_two_seconds(dovecot: Dovecot, user: str) -> None:
    rec = Collector()
    source = make_source(dovecot, user, rec)
    async with running(source):
        await rec.until(lambda: source.up)
        with Mail(dovecot, user) as mail:
            for n, folder in enumerate(("INBOX", "Sent"), start=1):
                await asyncio.to_thread(mail.append, folder, make_message(1), when=T0)
                appended = time.monotonic()
                await rec.until(lambda: len(rec.arrivals) == n, timeout=5)  # noqa: B023
                arrived, message = rec.arrivals[-1]
                assert message.folder == folder
                assert arrived - appended < 2.0, f"{folder}: {arrived - appended:.2f}s"
    assert rec.states == [True, False]  # up once; down only when closed
    assert rec.gaps == []


async def test_polling_when_idle_is_off(dovecot: Dovecot, user: str) -> None:
    rec = Collector()
    source = make_source(dovecot, user, rec, idle=False, poll_interval=0.2)
    async with running(source):
        await rec.until(lambda: source.up)
        with Mail(dovecot, user) as mail:
            await asyncio.to_thread(mail.append, "INBOX", make_message(1), when=T0)
        await rec.until(lambda: len(rec.messages) == 1, timeout=3)


async def test_server_restart_reconnects_and_reports_the_gap() -> None:
    with throwaway_dovecot() as server:
        user = server.users[0]
        rec = Collector()
        source = make_source(server, user, rec)
        async with running(source):
            await rec.until(lambda: source.up)
            stopped_at = time.time()
            await asyncio.to_thread(server.stop)
            await rec.until(lambda: not source.up)
            await asyncio.sleep(0.5)  # reconnect attempts fail meanwhile (connection refused)
            assert source.last_error is not None
            await asyncio.to_thread(server.start)
            restarted_at = time.time()
            await rec.until(lambda: source.up and len(rec.gaps) == 1)
            with Mail(server, user) as mail:
                await asyncio.to_thread(mail.append, "INBOX", make_message(1), when=T0)
            await rec.until(lambda: len(rec.messages) == 1)
    start, end, reason = rec.gaps[0]
    assert stopped_at - 0.1 <= start <= restarted_at
    assert restarted_at <= end <= restarted_at + WAIT
    assert reason.startswith(("INBOX: ", "Sent: "))
    assert rec.states == [True, False, True, False]
    assert source.reconnects == 1


async def test_consumer_failure_while_watching_is_retried_without_skipping(
    dovecot: Dovecot, user: str
) -> None:
    rec = Collector(fail_after_batches=0)  # the first delivery fails
    source = make_source(dovecot, user, rec)
    async with running(source):
        await rec.until(lambda: source.up)
        with Mail(dovecot, user) as mail:
            uids = [await asyncio.to_thread(mail.append, "INBOX", make_message(1), when=T0)]
        await rec.until(lambda: len(rec.batches) == 1)
        rec.fail_after_batches = None  # the consumer recovers
        await rec.until(lambda: len(rec.batches) == 2 and source.up)
    assert [m.uid for m in rec.batches[0]] == [m.uid for m in rec.batches[1]] == uids
    assert len(rec.gaps) == 1 and "on_messages rejected 1 message(s)" in rec.gaps[0][2]


async def test_stalled_server_is_detected_and_replaced(dovecot: Dovecot, user: str) -> None:
    """A server that stops answering (as behind a dead NAT entry) is given up after read_timeout
    at the next IDLE refresh, and a fresh connection takes over."""
    rec = Collector()
    source = make_source(dovecot, user, rec, idle_refresh=0.5, read_timeout=0.5)
    async with running(source):
        await rec.until(lambda: source.up)
        stalled = dovecot.imap_pids()
        assert len(stalled) == 2  # one per watched folder
        for pid in stalled:
            os.kill(pid, signal.SIGSTOP)
        try:
            await rec.until(lambda: len(rec.gaps) == 1 and source.up)
            with Mail(dovecot, user) as mail:
                await asyncio.to_thread(mail.append, "INBOX", make_message(1), when=T0)
            await rec.until(lambda: len(rec.messages) == 1)
        finally:
            for pid in stalled:
                os.kill(pid, signal.SIGCONT)
    assert "no data from 127.0.0.1" in rec.gaps[0][2]
    assert rec.gaps[0][1] - rec.gaps[0][0] < 5
