"""IMAP adapter errors. No message ever contains the password (see ``ImapSession.login``)."""

from __future__ import annotations

__all__ = [
    "ImapAuthError",
    "ImapCommandError",
    "ImapConfigError",
    "ImapConnectionError",
    "ImapConnectionLost",
    "ImapError",
    "ImapProtocolError",
    "ImapTimeout",
    "ImapTlsError",
    "ReadOnlyViolation",
]


class ImapError(Exception):
    """Base class of every IMAP adapter error."""


class ImapConfigError(ImapError):
    """The mailbox settings cannot be used as given (e.g. plain IMAP to a non-loopback host)."""


class ImapConnectionError(ImapError):
    """Could not connect, or no usable session right now."""


class ImapConnectionLost(ImapConnectionError):
    """An established session ended: EOF, BYE, read timeout, or closed by us."""


class ImapTlsError(ImapConnectionError):
    """TLS could not be established (certificate not trusted, handshake failed, no STARTTLS)."""


class ImapProtocolError(ImapConnectionError):
    """The peer sent something that is not IMAP as we understand it."""


class ImapTimeout(ImapConnectionLost, TimeoutError):
    """No (complete) reply in time; the session is considered dead."""


class ImapAuthError(ImapError):
    """The server refused the login. The text names user and host, never the password."""


class ImapCommandError(ImapError):
    """The server answered NO or BAD to a command (the session itself is still usable)."""

    def __init__(self, command: str, status: str, text: str) -> None:
        super().__init__(f"IMAP {command} failed: {status} {text}".rstrip())
        self.command = command
        self.status = status
        self.text = text


class ReadOnlyViolation(ImapError):
    """slamon tried to send a command that could change the mailbox. Always a bug in slamon."""
