"""Use case: mailbox messages and outbound calls in, evaluated inquiries out.

Keeps one ``InquiryBook`` per configured mailbox. Evaluation is cheap for closed inquiries (cached
until their conversation changes) and repeated for open ones, so gauges and paging see an inquiry
cross into "at risk" and "breached" while nobody answers, not when someone finally does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from monitor.domain.calls import CallRecord
from monitor.domain.inquiries import InquiryBook, InquiryView
from monitor.domain.mail import MailSeen

log = logging.getLogger(__name__)

MessagesSink = Callable[[list[MailSeen]], None]
ViewsSink = Callable[[list[InquiryView]], None]


@dataclass(slots=True)
class InquiryServiceStats:
    messages: int = 0
    duplicates: int = 0
    unknown_mailbox: int = 0


class InquiryService:
    def __init__(
        self,
        books: Iterable[InquiryBook],
        *,
        on_messages: MessagesSink | None = None,
        on_views: ViewsSink | None = None,
    ) -> None:
        self.books = {(b.rules.site, b.rules.mailbox): b for b in books}
        self._on_messages = on_messages
        self._on_views = on_views
        self._last: dict[str, tuple[str, bool, float | None]] = {}  # inquiry id -> (status, at_risk, reply)
        self.stats = InquiryServiceStats()

    def ingest(self, messages: Iterable[MailSeen]) -> list[MailSeen]:
        """Add messages; returns (and hands to the store) those not seen before."""
        new: list[MailSeen] = []
        for msg in messages:
            book = self.books.get((msg.site, msg.mailbox))
            if book is None:
                self.stats.unknown_mailbox += 1
                continue
            self.stats.messages += 1
            if book.add(msg):
                new.append(msg)
            else:
                self.stats.duplicates += 1
        if new and self._on_messages is not None:
            self._on_messages(new)
        return new

    def add_call(self, record: CallRecord) -> None:
        for (site, _), book in self.books.items():
            if site == record.site:
                book.add_call(record)

    def evaluate(self, at: float) -> list[InquiryView]:
        views = [v for book in self.books.values() for v in book.inquiries(at)]
        changed = []
        for view in views:
            state = (view.status, view.at_risk, view.first_human_reply_at)
            if self._last.get(view.inquiry_id) != state:
                self._last[view.inquiry_id] = state
                changed.append(view)
        if changed and self._on_views is not None:
            self._on_views(changed)
        return views
