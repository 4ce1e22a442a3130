"""Fetched messages -> MailSeen -> the inquiry service: the glue shared by the daemon, ``slamon sync``
and the demo mailbox, so all of them understand mail identically."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from adapters.imap.fetched import FetchedMessage
from adapters.imap.translate import MailboxIdentity, translate_fetched
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

    def want_body(self, fetched: FetchedMessage) -> bool:
        """Bodies (capped by the source) only for mail found outside Sent: leads and requested
        contact methods are in the body; what the dealer sent is judged from its headers."""
        return fetched.folder.lower() not in ("sent", "sent items", "sent messages", "[gmail]/sent mail")

    def on_messages(self, batch: list[FetchedMessage]) -> None:
        seen: list[MailSeen] = []
        for fetched in batch:
            msg, defects = translate_fetched(fetched, self.identity, self._key)
            self.stats.messages += 1
            self.stats.defects += len(defects)
            seen.append(msg)
            if self.stats.last_message_at is None or fetched.internaldate > self.stats.last_message_at:
                self.stats.last_message_at = fetched.internaldate
        self.stats.new += len(self.service.ingest(seen))
