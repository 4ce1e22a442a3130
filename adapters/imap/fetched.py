"""What the IMAP source hands to its consumer: one message as found in a watched folder."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FetchedMessage"]


@dataclass(frozen=True)
class FetchedMessage:
    """One message, read without changing it (``BODY.PEEK``; ``\\Seen`` is never set by slamon).

    ``header`` is ``BODY[HEADER]`` (the raw header block, ending with the blank line). ``body`` is
    ``BODY[TEXT]`` (everything after the header) truncated to the source's body cap, and only for
    messages the consumer asked bodies for (``want_body``); otherwise None. ``header + body`` is
    therefore the raw message, complete when ``len(header) + len(body) == size``.
    """

    site: str
    mailbox: str  # the configured mailbox label (bounded, never an address)
    folder: str  # decoded folder name (e.g. "INBOX", "Sent")
    uid: int
    uidvalidity: int
    internaldate: float  # the server's INTERNALDATE as an epoch instant
    flags: tuple[str, ...]
    size: int  # RFC822.SIZE
    header: bytes
    body: bytes | None
