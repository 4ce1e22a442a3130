"""IMAP adapter pieces without a server: wire parsing, mailbox names, the read-only guard, the
transport policy, state stores and the reconnect backoff."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.imap.errors import ImapConfigError, ImapConnectionError, ImapConnectionLost, ReadOnlyViolation
from adapters.imap.guard import check_read_only, is_loopback, require_secure_transport
from adapters.imap.reader import FolderReader
from adapters.imap.session import ImapSession
from adapters.imap.state import FolderPosition, JsonFileImapStateStore, MemoryImapStateStore
from adapters.imap.transport import ImapStream
from adapters.imap.watcher import FolderTarget, FolderWatcher, backoff_delay
from adapters.imap.wire import (
    RawResponse,
    decode_mailbox,
    encode_mailbox,
    parse_data,
    parse_internaldate,
    parse_status,
    sequence_set,
)


def test_fetch_response_with_literal_parses_into_values() -> None:
    resp = RawResponse(
        [
            b'* 12 FETCH (UID 40 FLAGS (\\Seen $Label1) INTERNALDATE " 2-Jan-2026 03:04:05 +0200" '
            b"RFC822.SIZE 147 BODY[HEADER] {9}",
            b" BODY[TEXT]<0> NIL)",
        ],
        [b"A: b\r\n\r\n)("],
    )
    assert resp.head()[0] == "*"
    assert resp.data_after(3) == [
        [
            *("UID", "40", "FLAGS", ["\\Seen", "$Label1"]),
            *("INTERNALDATE", " 2-Jan-2026 03:04:05 +0200", "RFC822.SIZE", "147"),
            *("BODY[HEADER]", b"A: b\r\n\r\n)(", "BODY[TEXT]<0>", None),
        ]
    ]


def test_list_response_with_quoted_and_literal_names() -> None:
    assert parse_data([b'(\\HasNoChildren \\Sent) "/" "Sent \\"Items\\""'], []) == [
        ["\\HasNoChildren", "\\Sent"],
        "/",
        'Sent "Items"',
    ]
    assert parse_data([b"() NIL {5}", b""], [b"a b c"]) == [[], None, b"a b c"]


def test_unbalanced_data_is_an_error() -> None:
    with pytest.raises(ValueError):
        parse_data([b"(UID 1"], [])
    with pytest.raises(ValueError):
        parse_data([b"UID 1)"], [])


def test_status_with_code() -> None:
    status = parse_status("OK [UIDVALIDITY 1795620475] UIDs valid")
    assert status is not None and (status.status, status.code, status.code_arg) == (
        "OK",
        "UIDVALIDITY",
        "1795620475",
    )
    bye = parse_status("BYE IMAP session state is inconsistent, please relogin.")
    assert bye is not None and bye.status == "BYE" and bye.code is None
    assert parse_status("FETCH (UID 1)") is None


def test_internaldate_is_an_instant() -> None:
    assert parse_internaldate("02-Jan-2026 03:04:05 +0200") == parse_internaldate(
        " 2-Jan-2026 01:04:05 +0000"
    )
    assert parse_internaldate("31-Dec-2025 19:04:05 -0500") == 1767225845.0
    with pytest.raises(ValueError):
        parse_internaldate("2026-01-02T03:04:05Z")


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("INBOX", "INBOX"),
        ("Tom & Jerry", "Tom &- Jerry"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # RFC 3501 5.1.3
    ],
)
def test_modified_utf7_mailbox_names(name: str, wire: str) -> None:
    assert encode_mailbox(name) == wire
    assert decode_mailbox(wire) == name


@given(st.text(max_size=40))
def test_modified_utf7_round_trips(name: str) -> None:
    assert decode_mailbox(encode_mailbox(name)) == name


def test_sequence_sets_compress_runs() -> None:
    assert sequence_set([1, 2, 3, 5, 7, 8, 9, 20]) == "1:3,5,7:9,20"
    assert sequence_set([4]) == "4"
    assert sequence_set([]) == ""


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("EXAMINE", ['"INBOX"']),
        ("LIST", ["(SPECIAL-USE)", '""', '"*"']),
        ("UID", ["SEARCH", "UID", "5:*"]),
        ("UID", ["FETCH", "1:5", "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])"]),
        ("UID", ["FETCH", "1", "(UID BODY.PEEK[TEXT]<0.262144>)"]),
        ("UID", ["FETCH", "1", "(RFC822.SIZE RFC822.HEADER BINARY.PEEK[1])"]),
        ("noop", []),
    ],
)
def test_read_only_commands_pass(command: str, args: list[str]) -> None:
    check_read_only(command, args)


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("SELECT", ['"INBOX"']),
        ("STORE", ["1", "+FLAGS", "(\\Seen)"]),
        ("UID", ["STORE", "1", "-FLAGS", "(\\Seen)"]),
        ("UID", ["COPY", "1", "Trash"]),
        ("UID", ["MOVE", "1", "Trash"]),
        ("UID", ["EXPUNGE", "1"]),
        ("UID", []),
        ("UID", ["FETCH", "1", "(BODY[])"]),
        ("UID", ["FETCH", "1", "(FLAGS BODY[TEXT]<0.10>)"]),
        ("UID", ["FETCH", "1", "RFC822"]),
        ("UID", ["FETCH", "1", "(RFC822.TEXT)"]),
        ("UID", ["FETCH", "1", "(BINARY[1])"]),
        *((c, []) for c in ("EXPUNGE", "APPEND", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "CLOSE", "MOVE")),
    ],
)
def test_commands_that_could_change_anything_are_refused(command: str, args: list[str]) -> None:
    with pytest.raises(ReadOnlyViolation):
        check_read_only(command, args)


def test_plain_imap_only_to_loopback() -> None:
    for host in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost", "LOCALHOST."):
        assert is_loopback(host)
        require_secure_transport(host, "none")
    for host in ("mail.example", "10.0.0.5", "localhost.example", "0.0.0.0"):
        assert not is_loopback(host)
        with pytest.raises(ImapConfigError, match=f"refusing plain IMAP to {host}"):
            require_secure_transport(host, "none")
        require_secure_transport(host, "imaps")
    with pytest.raises(ImapConfigError):
        require_secure_transport("localhost", "ssl")


def test_json_state_store_survives_a_new_instance(tmp_path: Path) -> None:
    path = tmp_path / "state" / "imap.json"
    store = JsonFileImapStateStore(path)
    assert store.load("s", "m", "INBOX") is None
    store.save("s", "m", "INBOX", 7, 100)
    store.save("s", "m", "Sent", 8, 5)
    store.save("s", "m", "INBOX", 7, 150)
    again = JsonFileImapStateStore(path)
    assert again.load("s", "m", "INBOX") == FolderPosition(7, 150)
    assert again.load("s", "m", "Sent") == FolderPosition(8, 5)
    assert json.loads(path.read_text())["version"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["imap.json"]  # no temp files left behind


def test_json_state_store_write_failure_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "imap.json"
    store = JsonFileImapStateStore(path)
    store.save("s", "m", "INBOX", 7, 100)

    def broken_fsync(fd: int) -> NoReturn:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        store.save("s", "m", "INBOX", 7, 200)
    monkeypatch.undo()
    assert JsonFileImapStateStore(path).load("s", "m", "INBOX") == FolderPosition(7, 100)
    assert [p.name for p in tmp_path.iterdir()] == ["imap.json"]


def test_backoff_is_exponential_capped_and_jittered() -> None:
    top = [backoff_delay(n, base=0.5, cap=60.0, rand=lambda: 1.0) for n in range(10)]
    assert top == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert backoff_delay(3, base=0.5, cap=60.0, rand=lambda: 0.25) == 1.0
    assert backoff_delay(10_000, base=0.5, cap=60.0, rand=lambda: 1.0) == 60.0


async def test_watcher_backs_off_between_failed_connects_without_reporting_down() -> None:
    delays: list[float] = []
    ups: list[float] = []

    async def refuse() -> ImapSession:
        raise ImapConnectionError("IMAP connect to mail.example:993 failed: Connection refused")

    async def record_sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 9:
            raise asyncio.CancelledError

    reader = FolderReader(site="s", mailbox="m", store=MemoryImapStateStore(), on_messages=lambda b: None)
    watcher = FolderWatcher(
        FolderTarget("inbox", "INBOX"),
        connect=refuse,
        reader=reader,
        on_up=lambda w, at: ups.append(at),
        on_down=lambda w, at, reason: pytest.fail("never up, so never down"),
        rand=lambda: 1.0,
        sleep=record_sleep,
    )
    with pytest.raises(asyncio.CancelledError):
        await watcher.run()
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert ups == [] and not watcher.up
    assert watcher.last_error is not None and "Connection refused" in watcher.last_error


async def test_stream_reads_lines_longer_than_the_buffer_and_literals() -> None:
    reader = asyncio.StreamReader(limit=1024)
    uids = " ".join(str(n) for n in range(1, 200_001))
    reader.feed_data(f"* SEARCH {uids}\r\n".encode())
    reader.feed_data(b"* 1 FETCH (UID 7 BODY[HEADER] {5}\r\nab\r\nc)\r\n")
    reader.feed_eof()
    stream = ImapStream(reader, None, peer="test", read_timeout=1.0)  # type: ignore[arg-type]
    search = await stream.read_response()
    assert search.first == f"* SEARCH {uids}".encode()
    fetch = await stream.read_response()
    assert fetch.data_after(3) == [["UID", "7", "BODY[HEADER]", b"ab\r\nc"]]
    with pytest.raises(ImapConnectionLost, match="closed the connection"):
        await stream.read_response()
