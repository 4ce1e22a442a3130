"""What slamon refuses to do over IMAP, checked in one place before any byte is sent.

Read-only by construction: :func:`check_read_only` runs inside ``ImapSession.command`` (the only way
to send a command), so a command that could change the mailbox raises :class:`ReadOnlyViolation`
instead of reaching the server. Only these commands pass:

* CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN, LIST, IDLE - no mailbox state involved;
* EXAMINE - the read-only SELECT (SELECT itself would clear ``\\Recent`` and allow flag changes);
* UID SEARCH, and UID FETCH whose items cannot set ``\\Seen``: ``BODY[...]``, ``BINARY[...]``,
  ``RFC822`` and ``RFC822.TEXT`` are refused; ``BODY.PEEK[...]`` is the way to read content.

Never STORE, COPY, MOVE, EXPUNGE, APPEND, CREATE, DELETE, RENAME, SUBSCRIBE, SELECT...

Transport: TLS (IMAPS or STARTTLS) with certificate verification; plain IMAP only to a loopback
address, where nothing crosses a network.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Sequence
from pathlib import Path

from adapters.imap.errors import ImapConfigError, ReadOnlyViolation
from monitor.hosts import is_loopback

__all__ = [
    "ALLOWED_COMMANDS",
    "check_read_only",
    "is_loopback",
    "make_ssl_context",
    "require_secure_transport",
    "warn_if_plaintext",
]

log = logging.getLogger(__name__)

ALLOWED_COMMANDS = frozenset(
    {"CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "LOGIN", "LIST", "IDLE", "EXAMINE", "UID"}
)
_ALLOWED_UID = frozenset({"SEARCH", "FETCH"})
# Fetch items that set \Seen as a side effect (RFC 3501 6.4.5, RFC 3516). Their .PEEK forms do not.
_SETS_SEEN = re.compile(r"(?<![\w.])(?:BODY|BINARY)\[|(?<![\w.])RFC822(?:\.TEXT)?(?![\w.])", re.I)


def check_read_only(command: str, args: Sequence[bytes | str]) -> None:
    """Raise :class:`ReadOnlyViolation` unless ``command args...`` is on the read-only allow-list."""
    name = command.upper()
    if name not in ALLOWED_COMMANDS:
        raise ReadOnlyViolation(f"IMAP command {name} is not allowed: slamon only reads mailboxes")
    if name != "UID":
        return
    if not args:
        raise ReadOnlyViolation("UID without a subcommand")
    sub = _text(args[0]).upper()
    if sub not in _ALLOWED_UID:
        raise ReadOnlyViolation(f"IMAP command UID {sub} is not allowed: slamon only reads mailboxes")
    if sub == "FETCH":
        items = " ".join(_text(a) for a in args[2:])
        found = _SETS_SEEN.search(items)
        if found is not None:
            raise ReadOnlyViolation(
                f"UID FETCH item {found.group(0)!r} would set \\Seen: use BODY.PEEK[...] instead"
            )


def _text(arg: bytes | str) -> str:
    return arg.decode("ascii", "replace") if isinstance(arg, bytes) else arg


def require_secure_transport(host: str, tls: str) -> None:
    if tls not in ("imaps", "starttls", "none"):
        raise ImapConfigError(f"unknown tls mode {tls!r}: use imaps, starttls or none")
    if tls == "none" and not is_loopback(host):
        raise ImapConfigError(
            f"refusing plain IMAP to {host}: the password and mail would cross the network "
            'unencrypted; use tls = "imaps" or "starttls" (plain is only allowed to a loopback address)'
        )


def warn_if_plaintext(host: str, tls: str, mailbox: str) -> None:
    """At every start of a source with ``tls = "none"`` (loopback only): say that nothing is
    encrypted or verified, so a forgotten test setting does not go unnoticed."""
    if tls == "none":
        log.warning(
            'IMAP mailbox %r: tls = "none" - plain IMAP to %s, no encryption and no certificate check '
            "(allowed only because %s is a loopback address)",
            mailbox,
            host,
            host,
        )


def make_ssl_context(ca_file: str | Path | None = None) -> ssl.SSLContext:
    """Verifying context: the system CAs, or only ``ca_file`` when given (a private CA/self-signed).
    Certificate and host name are always checked: no setting turns that off."""
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    except (OSError, ssl.SSLError) as exc:
        raise ImapConfigError(f"cannot load ca_file {ca_file}: {exc}") from None
