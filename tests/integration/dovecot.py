"""Helpers for tests (and the bench) against the throwaway Dovecot of ``tests.services``.

``make_source`` and ``running`` build and run the source under test. The *test* puts mail in place -
with its own imaplib connection (APPEND with explicit INTERNALDATEs) or by writing maildir files
directly - never through slamon, which only reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import imaplib
import os
import pwd
import re
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from adapters.imap.fetched import FetchedMessage
from adapters.imap.source import ImapSource
from adapters.imap.state import MemoryImapStateStore
from adapters.imap.wire import encode_mailbox
from tests.services import Dovecot

WAIT = 10.0


def make_message(i: int, *, subject: str | None = None, body: bytes | None = None, sender: str = "") -> bytes:
    sender = sender or f"customer{i}@example.com"
    text = body if body is not None else f"Hello, message {i}.\r\n".encode()
    head = (
        f"From: Customer {i} <{sender}>\r\n"
        "To: service@dealer.example\r\n"
        f"Subject: {subject or f'Service request {i}'}\r\n"
        f"Message-ID: <msg{i}.{time.time_ns()}@example.com>\r\n"
        f"Date: {email.utils.formatdate(1_700_000_000 + i)}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return head.encode() + text


class Mail:
    """The test's own IMAP client (plain, loopback): APPEND, CREATE, flag snapshots via EXAMINE."""

    def __init__(self, server: Dovecot, user: str) -> None:
        self.conn = imaplib.IMAP4("127.0.0.1", server.port, timeout=WAIT)
        self.conn.login(user, server.passwords[user])

    def close(self) -> None:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            self.conn.logout()

    def __enter__(self) -> Mail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, folder: str, message: bytes, *, when: float | str, flags: str = "") -> int:
        """APPEND with an explicit INTERNALDATE (epoch, or an IMAP date string with its offset);
        returns the new UID (from APPENDUID)."""
        date = when if isinstance(when, str) else imaplib.Time2Internaldate(when)
        if not date.startswith('"'):
            date = f'"{date}"'
        typ, data = self.conn.append(_q(folder), flags or None, date, message)
        assert typ == "OK", data
        m = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
        assert m is not None, data
        return int(m.group(1))

    def create(self, folder: str) -> None:
        typ, data = self.conn.create(_q(folder))
        assert typ == "OK", data

    def flags(self, folder: str) -> dict[int, frozenset[str]]:
        """UID -> flags, read with EXAMINE so that looking does not change anything either."""
        typ, data = self.conn.select(_q(folder), readonly=True)
        assert typ == "OK", data
        typ, rows = self.conn.uid("FETCH", "1:*", "(UID FLAGS)")
        assert typ == "OK", rows
        out: dict[int, frozenset[str]] = {}
        for row in rows:
            if not isinstance(row, bytes):
                continue
            m = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)|FLAGS \(([^)]*)\) UID (\d+)", row)
            if m is None:
                continue
            uid = int(m.group(1) or m.group(4))
            out[uid] = frozenset((m.group(2) or m.group(3) or b"").decode().split())
        self.conn.close()
        return out


def _q(folder: str) -> str:
    return '"' + encode_mailbox(folder).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_maildir(folder_dir: Path, messages: Iterable[tuple[bytes, float]]) -> int:
    """Write messages straight into a maildir's ``cur/`` as the vmail user would: unique names with
    ``S=<size>`` and no flags (``:2,``), mtime = INTERNALDATE (Dovecot's maildir keeps it there).
    Much faster than APPEND for big mailboxes; Dovecot assigns UIDs when it next scans the folder."""
    vmail = pwd.getpwnam("vmail")
    for sub in ("cur", "new", "tmp"):
        (folder_dir / sub).mkdir(parents=True, exist_ok=True)
    for d in (folder_dir, folder_dir / "cur", folder_dir / "new", folder_dir / "tmp"):
        os.chown(d, vmail.pw_uid, vmail.pw_gid)
    cur = folder_dir / "cur"
    pid = os.getpid()
    count = 0
    for i, (data, when) in enumerate(messages):
        path = cur / f"{int(when)}.M{i}P{pid}.slamontest,S={len(data)}:2,"
        with open(path, "wb") as fh:
            fh.write(data)
        os.chown(path, vmail.pw_uid, vmail.pw_gid)
        os.utime(path, (when, when))
        count += 1
    return count


class Collector:
    """``on_messages`` / ``on_gap`` / ``on_state`` recorder with async waits."""

    def __init__(self, fail_after_batches: int | None = None) -> None:
        self.batches: list[list[FetchedMessage]] = []
        self.arrivals: list[tuple[float, FetchedMessage]] = []
        self.gaps: list[tuple[float, float, str]] = []
        self.states: list[bool] = []
        self.fail_after_batches = fail_after_batches

    def on_messages(self, batch: list[FetchedMessage]) -> None:
        # Recorded before failing: a consumer that dies half-way still saw the batch (a duplicate later).
        self.batches.append(batch)
        now = time.monotonic()
        self.arrivals.extend((now, m) for m in batch)
        if self.fail_after_batches is not None and len(self.batches) > self.fail_after_batches:
            raise RuntimeError("consumer crashed")

    def on_gap(self, start: float, end: float, reason: str) -> None:
        self.gaps.append((start, end, reason))

    def on_state(self, up: bool) -> None:
        self.states.append(up)

    @property
    def messages(self) -> list[FetchedMessage]:
        return [m for batch in self.batches for m in batch]

    def uids(self, folder: str) -> list[int]:
        return [m.uid for m in self.messages if m.folder == folder]

    async def until(self, condition: Callable[[], bool], timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; states={self.states}")
            await asyncio.sleep(0.01)


def make_source(server: Dovecot, user: str, rec: Collector, **options: Any) -> ImapSource:
    """An ImapSource for ``user`` on ``server`` reporting to ``rec``; plain IMAP on loopback and quick
    reconnects unless ``options`` say otherwise."""
    options.setdefault("store", MemoryImapStateStore())
    options.setdefault("tls", "none")
    options.setdefault("host", "127.0.0.1")
    options.setdefault("port", server.port)
    options.setdefault("password", SecretStr(server.passwords[user]))
    return ImapSource(
        site="detroit",
        mailbox="internet_inquiry",
        username=user,
        on_messages=rec.on_messages,
        on_gap=rec.on_gap,
        on_state=rec.on_state,
        backoff_base=0.05,
        backoff_cap=0.3,
        **options,
    )


@contextlib.asynccontextmanager
async def running(source: ImapSource) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(source.run())
    try:
        yield task
    finally:
        await source.close()
        await asyncio.wait_for(task, WAIT)


def crash(server: Dovecot) -> None:
    """SIGKILL Dovecot's master and every process it started (imap sessions, logins, auth), as an OOM
    kill or a host crash would: clients see their connections reset in the middle of whatever they
    were reading. ``server.start()`` brings it back on the same port with the same mail."""
    proc, server.proc = server.proc, None
    assert proc is not None and proc.poll() is None, "dovecot is not running"
    pids = [proc.pid, *_children(proc.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in pids[1:]):
        assert time.monotonic() < deadline, "dovecot processes survived SIGKILL"
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def uidvalidity(server: Dovecot, user: str, folder: str) -> int:
    """The folder's UIDVALIDITY as Dovecot has it now (``doveadm mailbox status``)."""
    out = server.doveadm("mailbox", "status", "-u", user, "uidvalidity", folder)
    m = re.search(r"uidvalidity=(\d+)", out)
    assert m is not None, out
    return int(m.group(1))
