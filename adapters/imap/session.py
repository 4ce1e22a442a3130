"""One IMAP session over asyncio streams: connect (IMAPS / STARTTLS / loopback plain), LOGIN,
read-only commands, IDLE.

Why a small asyncio client instead of ``imaplib`` in a worker thread: the rest of slamon (the AMI
client) is asyncio, and here every wait gets an ``asyncio.timeout`` and ``close()`` cancels an IDLE at
once, where a thread blocked in ``imaplib`` can only be freed by closing its socket under it. Python
3.11's ``imaplib`` has no IDLE either, so we would be driving its private ``_command``/``_get_line``
anyway. What we need of IMAP is small: a handful of commands, untagged FETCH/LIST/SEARCH data and
literals (``wire.py``).

A session lives from connect to the first connection error; the watcher builds a new one on every
reconnect. Every command goes through :meth:`ImapSession.command`, which enforces the read-only
allow-list (``guard.py``) before sending. Every read has a timeout (``read_timeout``: no bytes for
that long means the peer is gone), except the IDLE wait, which has its own (``max_wait``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from dataclasses import dataclass

from pydantic import SecretStr

from adapters.imap.errors import (
    ImapAuthError,
    ImapCommandError,
    ImapConnectionLost,
    ImapProtocolError,
    ImapTimeout,
    ImapTlsError,
)
from adapters.imap.guard import check_read_only, make_ssl_context, require_secure_transport
from adapters.imap.transport import ImapStream
from adapters.imap.wire import RawResponse, Status, Value, decode_mailbox, encode_mailbox, parse_status, quote

__all__ = ["Completed", "Examined", "FolderInfo", "ImapSession", "SecretLiteral"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SecretLiteral:
    """A command argument sent as a synchronizing literal and never shown (the LOGIN password)."""

    value: bytes

    def __repr__(self) -> str:
        return "SecretLiteral(***)"


Arg = bytes | SecretLiteral


@dataclass(slots=True)
class Completed:
    status: Status
    untagged: list[RawResponse]


@dataclass(frozen=True, slots=True)
class Examined:
    folder: str
    uidvalidity: int
    exists: int
    uidnext: int | None


@dataclass(frozen=True, slots=True)
class FolderInfo:
    name: str  # decoded
    attributes: frozenset[str]  # upper case, e.g. \SENT, \NOSELECT
    delimiter: str | None


class ImapSession:
    def __init__(self, stream: ImapStream) -> None:
        self._io = stream
        self.peer = stream.peer
        self.capabilities: frozenset[str] = frozenset()
        self.authenticated = False
        self.exists: int | None = None  # message count of the examined folder, kept current
        # Set when IDLE ended on a server warning about the examined folder (see ``idle``).
        self.folder_warning: str | None = None
        self._tags = itertools.count(1)

    # -- opening ------------------------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        tls: str = "imaps",
        ssl_context: ssl.SSLContext | None = None,
        ca_file: str | None = None,
        connect_timeout: float = 15.0,
        read_timeout: float = 60.0,
    ) -> ImapSession:
        """Connect, read the greeting and (for ``starttls``) upgrade; all within ``connect_timeout``."""
        require_secure_transport(host, tls)
        ctx = None if tls == "none" else (ssl_context or make_ssl_context(ca_file))
        stream = await ImapStream.connect(
            host,
            port,
            ssl_context=ctx if tls == "imaps" else None,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        session = cls(stream)
        try:
            async with asyncio.timeout(connect_timeout):
                await session._greeting()
                if tls == "starttls":
                    assert ctx is not None
                    await session._starttls(ctx, host)
                if not session.capabilities:
                    await session.refresh_capabilities()
        except TimeoutError:
            session.abort()
            raise ImapTimeout(
                f"IMAP greeting/TLS from {stream.peer} not complete within {connect_timeout:.1f}s"
            ) from None
        except BaseException:
            session.abort()
            raise
        return session

    async def _greeting(self) -> None:
        resp = await self._io.read_response()
        tag, rest = resp.head()
        status = parse_status(rest) if tag == "*" else None
        if status is None or status.status not in ("OK", "PREAUTH"):
            shown = resp.first[:80].decode("ascii", "replace")
            raise ImapProtocolError(f"{self.peer} did not greet as an IMAP server: {shown!r}")
        self.authenticated = status.status == "PREAUTH"
        self._note_capabilities(status)

    async def _starttls(self, ctx: ssl.SSLContext, host: str) -> None:
        if not self.capabilities:
            await self.refresh_capabilities()
        if "STARTTLS" not in self.capabilities:
            # Never fall back to plain: that is exactly what an attacker stripping STARTTLS wants.
            raise ImapTlsError(f"{self.peer} does not offer STARTTLS; refusing to continue in plain text")
        await self.command("STARTTLS")
        await self._io.start_tls(ctx, host)
        self.capabilities = frozenset()  # pre-TLS capabilities must not be trusted (RFC 3501 6.2.1)

    async def refresh_capabilities(self) -> None:
        done = await self.command("CAPABILITY")
        caps: set[str] = set()
        for resp in done.untagged:
            words = resp.head()[1].split()
            if words and words[0].upper() == "CAPABILITY":
                caps.update(w.upper() for w in words[1:])
        self.capabilities = frozenset(caps)

    def _note_capabilities(self, status: Status) -> None:
        if status.code == "CAPABILITY" and status.code_arg:
            self.capabilities = frozenset(w.upper() for w in status.code_arg.split())

    async def login(self, username: str, password: SecretStr) -> None:
        """LOGIN; raises :class:`ImapAuthError` (naming user and host, never the password) when refused."""
        if self.authenticated:
            return
        if "LOGINDISABLED" in self.capabilities:
            raise ImapAuthError(f"{self.peer} disables LOGIN on this connection (LOGINDISABLED)")
        secret = password.get_secret_value()
        # Always a literal: any character is allowed and nothing in the password needs escaping.
        literal = SecretLiteral(secret.encode("utf-8"))
        done = await self.command("LOGIN", _astring(username), literal, check=False)
        if done.status.status != "OK":
            text = done.status.text.replace(secret, "***") if secret else done.status.text
            raise ImapAuthError(
                f"IMAP login refused for user {username!r} at {self.peer}: {text or 'no reason'}"
            )
        self.authenticated = True
        self.capabilities = frozenset()
        self._note_capabilities(done.status)
        if not self.capabilities:
            await self.refresh_capabilities()

    # -- commands -----------------------------------------------------------------------------------
    async def command(self, name: str, *args: Arg, check: bool = True) -> Completed:
        """Send one command (read-only allow-list enforced) and gather untagged data until its status.

        Raises :class:`ImapCommandError` on NO/BAD when ``check``, :class:`ImapConnectionLost` on BYE,
        EOF or a read timeout.
        """
        check_read_only(name, [a for a in args if isinstance(a, bytes)])
        tag = f"S{next(self._tags)}"
        untagged: list[RawResponse] = []
        line = f"{tag} {name}".encode("ascii")
        for arg in args:
            if isinstance(arg, SecretLiteral):
                await self._io.send(line + b" {%d}\r\n" % len(arg.value))
                await self._await_continuation(untagged)
                line = arg.value
            else:
                line += b" " + arg
        await self._io.send(line + b"\r\n")
        while True:
            resp = await self._io.read_response()
            rtag, rest = resp.head()
            if rtag == tag:
                status = parse_status(rest)
                if status is None:
                    raise ImapProtocolError(f"{self.peer} sent an invalid status for {name}: {rest[:80]!r}")
                if check and status.status != "OK":
                    raise ImapCommandError(name, status.status, status.text)
                return Completed(status, untagged)
            if rtag != "*":
                raise ImapProtocolError(f"{self.peer} sent unexpected {resp.first[:40]!r} during {name}")
            self._untagged(resp, rest, allow_bye=name == "LOGOUT")
            untagged.append(resp)

    async def _await_continuation(self, untagged: list[RawResponse]) -> None:
        while True:
            resp = await self._io.read_response()
            rtag, rest = resp.head()
            if rtag == "+":
                return
            if rtag != "*":
                status = parse_status(rest)
                raise ImapCommandError("command", status.status if status else "BAD", "literal refused")
            self._untagged(resp, rest, allow_bye=False)
            untagged.append(resp)

    def _untagged(self, resp: RawResponse, rest: str, *, allow_bye: bool) -> None:
        """Bookkeeping every untagged response needs, whatever command it came with."""
        head, _, tail = rest.partition(" ")
        if head.isdigit():
            if tail.upper().startswith("EXISTS"):
                self.exists = int(head)
            return
        if head.upper() == "BYE" and not allow_bye:
            status = parse_status(rest)
            raise ImapConnectionLost(f"{self.peer} ended the session: {status.text if status else rest}")

    async def examine(self, folder: str) -> Examined:
        """EXAMINE (read-only SELECT) ``folder``: its UIDVALIDITY, message count and UIDNEXT."""
        self.exists = None  # the previous folder's count must not stand in for a missing EXISTS
        try:
            done = await self.command("EXAMINE", quote(encode_mailbox(folder)))
        except ImapCommandError as exc:  # say which folder: the server's text may not
            raise ImapCommandError("EXAMINE", exc.status, f"{exc.text} (folder {folder!r})") from None
        uidvalidity: int | None = None
        uidnext: int | None = None
        for resp in done.untagged:
            status = parse_status(resp.head()[1])
            if status is not None and status.code_arg and status.code_arg.isdigit():
                if status.code == "UIDVALIDITY":
                    uidvalidity = int(status.code_arg)
                elif status.code == "UIDNEXT":
                    uidnext = int(status.code_arg)
        if uidvalidity is None:
            raise ImapProtocolError(f"{self.peer} sent no UIDVALIDITY for {folder!r}")
        return Examined(folder, uidvalidity, self.exists or 0, uidnext)

    async def list_folders(self, *, special_use: bool = False) -> list[FolderInfo]:
        selection = [b"(SPECIAL-USE)"] if special_use else []
        done = await self.command("LIST", *selection, b'""', b'"*"')
        found: list[FolderInfo] = []
        for resp in done.untagged:
            if not resp.head()[1].upper().startswith("LIST "):
                continue
            data = resp.data_after(2)
            if len(data) < 3 or not isinstance(data[0], list):
                raise ImapProtocolError(f"{self.peer} sent a malformed LIST response")
            attrs = frozenset(str(a).upper() for a in data[0])
            delim, name = data[1], data[2]
            raw = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
            found.append(FolderInfo(decode_mailbox(raw), attrs, delim if isinstance(delim, str) else None))
        return found

    async def uid_search_from(self, first_uid: int) -> list[int]:
        """UIDs >= ``first_uid`` in the examined folder, ascending."""
        done = await self.command("UID", b"SEARCH", b"UID", f"{first_uid}:*".encode())
        uids: list[int] = []
        for resp in done.untagged:
            words = resp.first.split()
            if len(words) >= 2 and words[1].upper() == b"SEARCH":
                uids.extend(int(w) for w in words[2:] if w.isdigit())
        # "n:*" always includes the highest UID, even when it is below n (RFC 3501 6.4.8).
        return sorted(u for u in set(uids) if u >= first_uid)

    async def uid_fetch(self, uid_set: str, items: str) -> list[dict[str, Value]]:
        """UID FETCH; one dict per message (keys upper case, partial ``<n>`` suffix removed)."""
        done = await self.command("UID", b"FETCH", uid_set.encode("ascii"), items.encode("ascii"))
        out: list[dict[str, Value]] = []
        for resp in done.untagged:
            words = resp.first.split(b" ", 3)
            if len(words) < 3 or words[2].upper() != b"FETCH":
                continue
            try:
                data = resp.data_after(3)
            except ValueError as exc:
                raise ImapProtocolError(f"{self.peer} sent an unparsable FETCH response: {exc}") from None
            if not data or not isinstance(data[0], list):
                raise ImapProtocolError(f"{self.peer} sent a malformed FETCH response")
            pairs = data[0]
            item: dict[str, Value] = {}
            for i in range(0, len(pairs) - 1, 2):
                key = str(pairs[i]).upper()
                item[key.partition("<")[0] if key.endswith(">") else key] = pairs[i + 1]
            out.append(item)
        return out

    async def noop(self) -> None:
        await self.command("NOOP")

    async def idle(self, max_wait: float) -> bool:
        """IDLE up to ``max_wait`` seconds or until the server reports new messages (``EXISTS``).

        Returns True when woken by new mail. Raises :class:`ImapConnectionLost` on BYE/EOF.

        Also ends early on an untagged ``NO`` or an unsolicited ``[UIDVALIDITY n]``, noted in
        :attr:`folder_warning`: Dovecot reports a folder deleted and re-created under an IDLE this way
        (``* NO Internal error occurred``) and then sends nothing about the new folder's mail, so
        IDLEing on would leave slamon blind to that folder until the next refresh; the caller
        re-EXAMINEs instead (measured with Dovecot 2.3.19, tests/e2e/test_mail_faults.py).
        """
        self.folder_warning = None
        check_read_only("IDLE", [])
        tag = f"S{next(self._tags)}"
        await self._io.send(f"{tag} IDLE\r\n".encode("ascii"))
        untagged: list[RawResponse] = []
        await self._await_continuation(untagged)
        before = self.exists
        woke = any(b"EXISTS" in r.first.upper() for r in untagged)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while not woke:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                resp = await self._io.read_response(first_timeout=remaining)
            except ImapTimeout:
                break
            rtag, rest = resp.head()
            if rtag != "*":
                raise ImapProtocolError(f"{self.peer} sent unexpected {resp.first[:40]!r} during IDLE")
            self._untagged(resp, rest, allow_bye=False)
            woke = self.exists != before or b"EXISTS" in resp.first.upper()
            status = parse_status(rest)
            if status is not None and (status.status == "NO" or status.code == "UIDVALIDITY"):
                code = f" [{status.code} {status.code_arg or ''}]".replace(" ]", "]") if status.code else ""
                self.folder_warning = f"{status.status}{code} {status.text}".strip()
                break
        await self._io.send(b"DONE\r\n")
        while True:
            resp = await self._io.read_response()
            rtag, rest = resp.head()
            if rtag == tag:
                return woke
            if rtag == "*":
                self._untagged(resp, rest, allow_bye=False)
                woke = woke or b"EXISTS" in resp.first.upper()

    # -- closing ------------------------------------------------------------------------------------
    async def logout(self, timeout: float = 2.0) -> None:
        """Polite LOGOUT (best effort, bounded by ``timeout``), then drop the connection."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout):
                await self.command("LOGOUT", check=False)
        self.abort()

    def abort(self) -> None:
        self._io.abort()


def _astring(text: str) -> bytes:
    try:
        return quote(text)
    except (UnicodeEncodeError, ValueError):
        raise ImapAuthError("IMAP user names must be ASCII without line breaks") from None
