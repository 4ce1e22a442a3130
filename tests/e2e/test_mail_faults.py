"""Faults on the mailbox side, against a real Dovecot and the real daemon (``monitor.runtime.Daemon``
in-process, SQLite store): the IMAP server killed mid-sync, a UIDVALIDITY reset, a session dropped
during IDLE, broken messages, the server gone at shutdown, and a big batch parsed off the event loop.
Each test ends with the exact messages, inquiries, SLA evaluations and monitoring gaps in the store.
Mail is put in place by the test only (maildir files, APPEND, doveadm); the setup is in
``mail_daemon.py``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from adapters.imap.pipeline import ImapMailPipeline
from adapters.imap.source import ImapSource
from adapters.imap.transport import ImapStream
from adapters.imap.wire import RawResponse
from monitor.mailboxes import MailRuntime
from monitor.runtime import Daemon
from tests.e2e.mail_daemon import (
    NOON,
    REPLY_AFTER,
    Shifted,
    Stored,
    all_met,
    asked_at,
    check_conversations,
    conversation_files,
    keys,
    question,
    reply,
    rescan_reason,
    running,
    settings,
    source,
    stored,
    stored_when,
    until,
)
from tests.integration.dovecot import Mail, crash, uidvalidity, write_maildir
from tests.services import throwaway_dovecot

# --- a. the server killed in the middle of a sync -------------------------------------------------


async def test_server_killed_mid_sync_and_restarted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 320
    build = MailRuntime.build_sources
    # 40 messages per FETCH: each folder read takes eight round trips, so the kill (armed once two
    # batches are stored) lands in the middle of the sync, and inside a FETCH: right after the first
    # message of a response was read, before the batch is complete (the default, 500, reads 320 in one).
    monkeypatch.setattr(MailRuntime, "build_sources", lambda self, **kw: build(self, chunk_size=40, **kw))
    deliver = ImapMailPipeline.on_messages_async
    with throwaway_dovecot(1) as server:
        inbox, sent = conversation_files(n, range(n))
        write_maildir(server.maildir("user1"), inbox)
        write_maildir(server.maildir("user1") / ".Sent", sent)
        batches: list[int] = []
        killed: list[float] = []
        config = settings(tmp_path, server, monkeypatch)
        daemon = Daemon(config, clock=Shifted())

        async def counted(self: ImapMailPipeline, batch: list[Any]) -> None:
            await deliver(self, batch)
            batches.append(len(batch))

        read = ImapStream.read_response

        async def kill_inside_a_fetch(self: ImapStream, first_timeout: float | None = None) -> RawResponse:
            response = await read(self, first_timeout)
            if not killed and len(batches) >= 2 and source(daemon).up and b" FETCH (" in response.first:
                killed.append(time.time())
                crash(server)  # both sessions reset while the daemon is reading a batch
            return response

        monkeypatch.setattr(ImapMailPipeline, "on_messages_async", counted)
        monkeypatch.setattr(ImapStream, "read_response", kill_inside_a_fetch)
        opened = ImapSource._open
        failed: list[float] = []  # when a connection attempt failed

        async def open_counted(self: ImapSource) -> Any:
            try:
                return await opened(self)
            except Exception:
                failed.append(time.time())
                raise

        monkeypatch.setattr(ImapSource, "_open", open_counted)
        async with running(config, daemon):
            await until(lambda: killed, "server killed mid-sync")
            mid = stored(tmp_path)
            assert 0 < mid.rows < 2 * n, "killed in the middle, not before or after"
            await until(lambda: source(daemon).last_error is not None, "outage noticed")
            await asyncio.sleep(3.0)  # down for a few seconds: reconnect attempts back off meanwhile
            restarted = time.time()
            server.start()
            await until(lambda: source(daemon).reconnects == 1 and source(daemon).up, "reconnected")
            s = await stored_when(tmp_path, all_met(n, range(n)), "all inquiries met")
        assert source(daemon).gaps_reported == 1
    s = stored(tmp_path)
    check_conversations(s, n, range(n))
    assert len(s.gaps) == 1
    gap = s.gaps[0]
    assert (gap.source, gap.site) == ("imap", "detroit") and gap.reason.startswith("service: ")
    assert killed[0] - 1.0 <= gap.start <= killed[0] + 15.0  # down when the kill was noticed
    assert gap.end >= restarted  # ...until every folder was back after the restart
    assert sum(batches) >= 2 * n  # anything repeated after the reconnect was delivered again, stored once
    assert set(batches) == {40}  # the batch cut by the kill was never handed on in part: read again whole
    # Both folders kept trying while the server was away, backing off: a tight loop would have made
    # thousands of attempts in those seconds.
    assert 2 <= len([t for t in failed if killed[0] <= t <= restarted]) <= 24


# --- b. UIDVALIDITY reset ---------------------------------------------------------------------------


async def test_uidvalidity_reset_rereads_the_folder_and_counts_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 13
    with throwaway_dovecot(1) as server:
        inbox, sent = conversation_files(n, range(10))
        write_maildir(server.maildir("user1"), inbox)
        write_maildir(server.maildir("user1") / ".Sent", sent)
        config = settings(tmp_path, server, monkeypatch)
        async with running(config) as daemon:
            await stored_when(tmp_path, all_met(n, range(10)), "first sync")
            sent_before = uidvalidity(server, "user1", "Sent")
            # Live: Sent deleted and re-created under the IDLE, the same ten replies delivered again
            # (new UIDs, new UIDVALIDITY) and two new conversations.
            with Mail(server, "user1") as mail:
                assert mail.conn.delete('"Sent"')[0] == "OK" and mail.conn.create('"Sent"')[0] == "OK"
                for i in range(12):
                    mail.append(
                        "Sent", reply(i, asked_at(i, n) + REPLY_AFTER), when=asked_at(i, n) + REPLY_AFTER
                    )
                for i in (10, 11):
                    mail.append("INBOX", question(i, asked_at(i, n)), when=asked_at(i, n))
            sent_after = uidvalidity(server, "user1", "Sent")
            assert sent_after != sent_before
            await stored_when(tmp_path, all_met(n, range(12)), "new conversations after the reset")
            assert source(daemon).reconnects == 0  # noticed and re-read on the same connection
        # Between two runs: INBOX gets a new UIDVALIDITY (doveadm keeps its messages) and a new message.
        inbox_before = uidvalidity(server, "user1", "INBOX")
        server.doveadm(
            "mailbox", "update", "-u", "user1", "--uid-validity", str(inbox_before + 1000), "INBOX"
        )
        with Mail(server, "user1") as mail:
            mail.append("Sent", reply(12, asked_at(12, n) + REPLY_AFTER), when=asked_at(12, n) + REPLY_AFTER)
            mail.append("INBOX", question(12, asked_at(12, n)), when=asked_at(12, n))
        async with running(config) as daemon:
            s = await stored_when(tmp_path, all_met(n, range(13)), "every conversation after the restart")
            await until(lambda: source(daemon).gaps_reported == 1, "INBOX re-read reported")
    s = stored(tmp_path)
    check_conversations(s, n, range(13))
    assert sorted(g.reason for g in s.gaps) == sorted(
        [
            rescan_reason("Sent", sent_before, sent_after),
            rescan_reason("INBOX", inbox_before, inbox_before + 1000),
        ]
    )
    assert all(g.source == "imap" and g.site == "detroit" and g.start <= g.end for g in s.gaps)


# --- c. a session dropped during IDLE ---------------------------------------------------------------


async def test_session_killed_during_idle_reconnects_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 5
    with throwaway_dovecot(1) as server:
        inbox, sent = conversation_files(n, range(3))
        write_maildir(server.maildir("user1"), inbox)
        write_maildir(server.maildir("user1") / ".Sent", sent)
        with Mail(server, "user1") as mail:
            flags = {f: mail.flags(f) for f in ("INBOX", "Sent")}
        async with running(settings(tmp_path, server, monkeypatch)) as daemon:
            await stored_when(tmp_path, all_met(n, range(3)), "first sync")
            await until(lambda: len(server.imap_pids()) == 2, "one session per folder")
            with Mail(server, "user1") as mail:  # read through two sessions, nothing marked or changed
                assert {f: mail.flags(f) for f in ("INBOX", "Sent")} == flags
            await until(lambda: len(server.imap_pids()) == 2, "the test's own session gone")
            await asyncio.sleep(0.5)  # caught up: both sessions are IDLE now
            sessions = server.imap_pids()
            killed_at = time.time()
            os.kill(sessions[0], signal.SIGKILL)  # that session's imap process, as an admin's kill would
            # Mail for both folders while one of them is out of view.
            with Mail(server, "user1") as mail:
                for i in (3, 4):
                    mail.append(
                        "Sent", reply(i, asked_at(i, n) + REPLY_AFTER), when=asked_at(i, n) + REPLY_AFTER
                    )
                    mail.append("INBOX", question(i, asked_at(i, n)), when=asked_at(i, n))
            await until(lambda: source(daemon).reconnects == 1, "reconnected")
            await stored_when(tmp_path, all_met(n, range(5)), "mail delivered during the drop")
            assert sessions[1] in server.imap_pids()  # the other folder's session was never touched
    s = stored(tmp_path)
    check_conversations(s, n, range(5))
    assert len(s.gaps) == 1
    gap = s.gaps[0]
    assert (gap.source, gap.site) == ("imap", "detroit") and gap.reason.startswith("service: ")
    assert killed_at <= gap.start <= gap.end


# --- d. broken messages -----------------------------------------------------------------------------

DATE = formatdate(NOON - 3600).encode()
# name -> (raw message, parse problems its stored row must name)
BROKEN: dict[str, tuple[bytes, set[str]]] = {
    "b1@example.com": (  # multipart whose closing boundary never comes, with bad base64 and a cut JPEG
        b"From: Ann <ann@example.com>\r\nTo: service@dealer.example\r\nMessage-ID: <b1@example.com>\r\n"
        b"Date: " + DATE + b"\r\nSubject: Photos of the dent\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n--XYZ\r\nContent-Type: text/plain\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nVGhlIGRlbnQgaXMgb24gdGhlIGRvb3I*!!\r\n--XYZ\r\n"
        b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0 truncated\r\n",
        {"mime-CloseBoundaryNotFoundDefect"},
    ),
    "b2@example.com": (  # a charset nobody knows, 8-bit body
        b"From: Bob <bob@example.com>\r\nTo: service@dealer.example\r\nMessage-ID: <b2@example.com>\r\n"
        b"Date: " + DATE + b"\r\nSubject: Oil change\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: text/plain; charset="x-klingon-9"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
        b"Br\xe9ak pads r\xe9placement, how much?\r\n",
        {"charset-unknown"},
    ),
    "": (  # neither Date nor Message-ID: keyed by a hash of what every copy keeps
        b"From: Cy <cy@example.com>\r\nTo: service@dealer.example\r\nSubject: Tyre rotation\r\n\r\n"
        b"Can you rotate my tyres on Friday?\r\n",
        {"date-missing", "message-id-missing"},
    ),
    "b3@example.com": (  # raw 8-bit header values (UTF-8 display name, Latin-1 subject)
        b"From: Jos\xc3\xa9 P\xc3\xa9rez <jose@example.com>\r\nTo: service@dealer.example\r\n"
        b"Message-ID: <b3@example.com>\r\nDate: " + DATE + b"\r\nSubject: R\xe9paration frein\r\n\r\n"
        b"Bonjour, mes freins grincent.\r\n",
        {"header-8bit"},
    ),
    "b4@example.com": (  # bare LF, a nonsense date, a line that is no header, a NUL in the body
        b"From: Dee <dee@example.com>\nTo: service@dealer.example\nMessage-ID: <b4@example.com>\n"
        b"Date: not a date at all\nthis line is not a header\nSubject: Recall?\n\nIs my car recalled?\x00\n",
        {"date-unparsable"},
    ),
}


def problems(row: dict[str, Any]) -> set[str]:
    lines = [line for line in row["evidence_headers"].splitlines() if line.startswith("Parse-Problems: ")]
    assert len(lines) <= 1
    return set(lines[0].removeprefix("Parse-Problems: ").split(", ")) if lines else set()


async def test_broken_messages_are_stored_once_with_their_problems_and_never_stall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 10
    broken = list(BROKEN.values())
    with throwaway_dovecot(1) as server:
        # The broken messages first (older files, lower UIDs), then a sound conversation behind them.
        inbox, sent = conversation_files(n, range(len(broken), len(broken) + 1))
        write_maildir(server.maildir("user1"), [(raw, asked_at(i, n)) for i, (raw, _) in enumerate(broken)])
        write_maildir(server.maildir("user1"), inbox)
        write_maildir(server.maildir("user1") / ".Sent", sent)
        config = settings(tmp_path, server, monkeypatch)
        want = {k for k in BROKEN if k} | keys(range(len(broken), len(broken) + 1))

        def complete(s: Stored) -> bool:
            return s.rows == len(want) + 1 and any(i["status"] == "met" for i in s.inquiries)

        async with running(config):
            first = await stored_when(tmp_path, complete, "every message stored")
        inbox_before = uidvalidity(server, "user1", "INBOX")
        # Read them all again (new UIDVALIDITY): the broken ones must be recognised as well.
        server.doveadm("mailbox", "update", "-u", "user1", "--uid-validity", str(inbox_before + 7), "INBOX")
        async with running(config) as daemon:
            await until(lambda: source(daemon).gaps_reported == 1, "INBOX re-read")
            await until(lambda: daemon.mail is not None and daemon.mail.evaluate(), "evaluated")
    s = stored(tmp_path)
    assert s.rows == len(s.messages) == len(want) + 1
    unkeyed = [k for k in s.messages if k.startswith("sha256:")]
    assert set(s.messages) == want | set(unkeyed) and len(unkeyed) == 1
    assert s.messages == first.messages  # the second read added and changed nothing
    for key, (_, expected) in BROKEN.items():
        row = s.messages[key or unkeyed[0]]
        assert expected <= problems(row), (key, row["evidence_headers"])
        assert row["direction"] == "inbound" and row["cls"] == "human"
    assert not problems(s.messages["q5@example.com"])  # sound mail carries no note
    # Each broken message opened its own inquiry (open: asked under an hour ago), the sound one is met.
    assert sorted(i["status"] for i in s.inquiries) == ["met"] + ["open"] * len(broken)
    assert len(s.evaluations) == 1 and s.evaluations[0]["result"] == "met"
    assert [g.reason for g in s.gaps] == [rescan_reason("INBOX", inbox_before, inbox_before + 7)]


# --- the event loop stays free while a big batch is parsed -----------------------------------------


async def test_big_batch_is_parsed_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 500  # one FETCH batch at the default chunk size: about 1.6 s of MIME parsing
    ticks = 0
    during: list[tuple[int, int]] = []  # (messages, event-loop ticks while they were being parsed)
    translate = ImapMailPipeline._translate

    def watched(self: ImapMailPipeline, batch: list[Any]) -> Any:
        before = ticks
        out = translate(self, batch)
        during.append((len(batch), ticks - before))
        return out

    monkeypatch.setattr(ImapMailPipeline, "_translate", watched)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    with throwaway_dovecot(1) as server:
        inbox, _ = conversation_files(n, range(n))
        write_maildir(server.maildir("user1"), inbox)
        tick = asyncio.create_task(ticker())  # before the daemon: it reads the folder as it starts
        try:
            async with running(settings(tmp_path, server, monkeypatch)):
                s = await stored_when(tmp_path, lambda s: s.rows == n, "the batch stored")
        finally:
            tick.cancel()
    assert set(s.messages) == {f"q{i}@example.com" for i in range(n)}
    inbox_batches = [ticks for size, ticks in during if size == n]
    assert len(inbox_batches) == 1 and inbox_batches[0] > 0  # on the loop, not a single tick could run


# --- the server still gone when the daemon stops ----------------------------------------------------


async def test_server_down_at_shutdown_is_a_gap_until_the_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 5
    with throwaway_dovecot(1) as server:
        inbox, sent = conversation_files(n, range(3))
        write_maildir(server.maildir("user1"), inbox)
        write_maildir(server.maildir("user1") / ".Sent", sent)
        config = settings(tmp_path, server, monkeypatch)
        async with running(config) as daemon:
            await stored_when(tmp_path, all_met(n, range(3)), "first sync")
            killed_at = time.time()
            crash(server)
            await until(lambda: not source(daemon).up, "outage noticed")
            stopping = time.time()
        stopped = time.time()
        gaps = stored(tmp_path).gaps
        assert len(gaps) == 1 and gaps[0].reason.endswith("; until slamon stopped")
        assert killed_at <= gaps[0].start and stopping <= gaps[0].end <= stopped
        # Back later, with mail that arrived meanwhile: read once, and no further gap.
        server.start()
        with Mail(server, "user1") as mail:
            for i in (3, 4):
                mail.append("Sent", reply(i, asked_at(i, n) + REPLY_AFTER), when=asked_at(i, n) + REPLY_AFTER)
                mail.append("INBOX", question(i, asked_at(i, n)), when=asked_at(i, n))
        async with running(config):
            await stored_when(tmp_path, all_met(n, range(5)), "mail read after the restart")
    s = stored(tmp_path)
    check_conversations(s, n, range(5))
    assert s.gaps == gaps
