"""Fetched messages -> MailSeen -> the inquiry service: the glue shared by the daemon, ``slamon sync``
and the demo mailbox, so all of them understand mail identically.

``on_messages_async`` is what the IMAP sources use: parsing and classifying a message costs 1.4-3 ms
(0.7-1.6 s for a 500-message batch on this project's 2-core machine, idle to loaded), which on the
event loop would stall the API, the AMI client and the metrics for that long on every big catch-up.
The translation is a pure function of the fetched bytes, so it runs in a worker thread; the
conversations (``ingest``), the stats and the repair log are still updated on the event loop, where
evaluation and metrics read them, so they need no lock.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from adapters.imap.fetched import FetchedMessage
from adapters.imap.mime import MimeDefect
from adapters.imap.translate import MailboxIdentity, translate_fetched
from adapters.rejects import Rejections
from monitor.domain.mail import MailSeen
from monitor.service.inquiries import InquiryService

log = logging.getLogger(__name__)


@dataclass(slots=True)
class MailPipelineStats:
    messages: int = 0
    defects: int = 0  # repaired MIME problems (broken charsets, encoded words, dates...)
    new: int = 0
    last_message_at: float | None = None


class ImapMailPipeline:
    def __init__(self, service: InquiryService, identity: MailboxIdentity, hmac_key: bytes) -> None:
        self.service = service
        self.identity = identity
        self._key = hmac_key
        self.stats = MailPipelineStats()
        #: Repairs by defect code (``charset-mislabelled``, ``message-truncated``...), logged rate-limited
        #: with the code and the UID only: the details quote header values, folder names can name people.
        self.repairs = Rejections(log, f"mail repaired on reading (mailbox {identity.mailbox!r})")

    def want_body(self, fetched: FetchedMessage) -> bool:
        """Bodies (capped by the source) only for mail found outside Sent: leads and requested
        contact methods are in the body; what the dealer sent is judged from its headers."""
        return fetched.folder.lower() not in ("sent", "sent items", "sent messages", "[gmail]/sent mail")

    def on_messages(self, batch: list[FetchedMessage]) -> None:
        self._ingest(batch, self._translate(batch))

    async def on_messages_async(self, batch: list[FetchedMessage]) -> None:
        """``on_messages`` with the translation off the event loop (see the module docstring). Stored
        before it returns, like ``on_messages``; cancelled, it stores nothing (the batch is read again)."""
        translated = await asyncio.to_thread(self._translate, batch)
        self._ingest(batch, translated)

    def _translate(self, batch: list[FetchedMessage]) -> list[tuple[MailSeen, tuple[MimeDefect, ...]]]:
        """Each message with the parser's repairs. Touches nothing shared: safe in a worker thread."""
        return [translate_fetched(fetched, self.identity, self._key) for fetched in batch]

    def _ingest(
        self, batch: list[FetchedMessage], translated: list[tuple[MailSeen, tuple[MimeDefect, ...]]]
    ) -> None:
        seen: list[MailSeen] = []
        for fetched, (msg, defects) in zip(batch, translated, strict=True):
            self.stats.messages += 1
            self.stats.defects += len(defects)
            for code, count in _count_codes(defects).items():
                self.repairs.add(code, f"UID {fetched.uid}", count)  # folder names can name people
            seen.append(msg)
            if self.stats.last_message_at is None or fetched.internaldate > self.stats.last_message_at:
                self.stats.last_message_at = fetched.internaldate
        self.stats.new += len(self.service.ingest(seen))


def _count_codes(defects: tuple[MimeDefect, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for defect in defects:
        counts[defect.code] = counts.get(defect.code, 0) + 1
    return counts
