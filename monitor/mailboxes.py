"""The service mailboxes at run time: IMAP sources -> inquiry service -> store and metrics.

One ``MailRuntime`` serves every ``[[mailbox]]``: it rebuilds each mailbox's conversations from the
store at start (the IMAP position resumes after the last message read, so history must come from the
store), writes new messages before the IMAP position moves past them (synchronously, inside the
source's callback: a crash can repeat a batch, never lose one), re-evaluates open inquiries every
``evaluate_every_s`` so "at risk" and "breached" are stored and counted while nobody answers, and
counts each inquiry's final result exactly once (also across restarts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from adapters.imap.fetched import FetchedMessage
from adapters.imap.pipeline import ImapMailPipeline
from adapters.imap.source import ImapSource
from adapters.imap.state import FolderPosition
from adapters.imap.translate import MailboxIdentity
from monitor.bootstrap import inquiry_books
from monitor.config import MailboxSettings, Settings
from monitor.domain.calls import CompletedCall
from monitor.domain.events import MonitoringGap
from monitor.domain.inquiries import InquiryBook, InquiryView
from monitor.domain.mail import MailSeen
from monitor.metrics import SlamonMetrics
from monitor.service.inquiries import InquiryService
from monitor.store.mail_repository import SqlImapPositionStore, SqlInquiryRepository, SqlMailRepository
from monitor.store.repository import SqlCallRepository

log = logging.getLogger(__name__)


@dataclass
class MailboxProbe:
    """A mailbox as the metrics see it; evaluation is cached for ``ttl_s`` so one scrape evaluates once."""

    book: InquiryBook
    ttl_s: float = 0.5
    _cache: tuple[float, list[InquiryView]] = field(default=(-1.0, []))

    @property
    def site(self) -> str:
        return self.book.rules.site

    @property
    def mailbox(self) -> str:
        return self.book.rules.mailbox

    @property
    def kind(self) -> str:
        return self.book.rules.kind

    def inquiries(self, now: float) -> list[InquiryView]:
        at, views = self._cache
        if abs(now - at) > self.ttl_s:
            views = self.book.inquiries(now)
            self._cache = (now, views)
        return views


class MailRuntime:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        hmac_key: bytes,
        *,
        metrics: SlamonMetrics | None = None,
        on_gap: Callable[[MonitoringGap], None] | None = None,
        clock: Callable[[], float] = time.time,
        evaluate_every_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self._key = hmac_key
        self._metrics = metrics
        self._on_gap = on_gap
        self._clock = clock
        self.evaluate_every_s = evaluate_every_s
        self.books = inquiry_books(settings, hmac_key)
        self.service = InquiryService(
            self.books, on_messages=self._store_messages, on_views=self._store_views
        )
        self.probes = [MailboxProbe(book) for book in self.books]
        self.pipelines: dict[tuple[str, str], ImapMailPipeline] = {}
        for mailbox in settings.mailbox:
            identity = MailboxIdentity.from_settings(mailbox)
            self.pipelines[(mailbox.site, mailbox.label)] = ImapMailPipeline(self.service, identity, hmac_key)
        self.sources: list[ImapSource] = []
        self._final: dict[str, tuple[str, bool]] = {}  # inquiry id -> (result counted, reply observed)
        self._closing = asyncio.Event()

    # --- start --------------------------------------------------------------------------------
    def load_history(self) -> int:
        """Rebuild conversations and phone replies from the store; final results already known are
        marked counted, so a restart does not count them again."""
        loaded = 0
        with Session(self.engine) as session:
            mail, calls = SqlMailRepository(session), SqlCallRepository(session)
            for book in self.books:
                for msg in mail.load(book.rules.site, book.rules.mailbox):
                    book.add(msg)
                    loaded += 1
                for key, answered_at in calls.answered_outbound(book.rules.site):
                    book.add_call_reply(key, answered_at)
        now = self._clock()
        for book in self.books:
            for view in book.inquiries(now):
                if view.status != "open":
                    self._final[view.inquiry_id] = (view.status, view.first_human_reply_at is not None)
        return loaded

    def build_sources(
        self, *, on_state: Callable[[ImapSource, bool], None] | None = None, **options: Any
    ) -> None:
        positions = _Positions(SqlImapPositionStore(self.engine))
        for mailbox in self.settings.mailbox:
            pipeline = self.pipelines[(mailbox.site, mailbox.label)]
            source = ImapSource.from_settings(
                mailbox,
                store=positions,
                on_messages=pipeline.on_messages_async,  # MIME parsing off the event loop
                want_body=pipeline.want_body,
                on_gap=self._gap_for(mailbox),
                poll_interval=mailbox.poll_interval_s,
                **options,
            )
            self.sources.append(source)

    def _gap_for(self, mailbox: MailboxSettings) -> Callable[[float, float, str], None]:
        def gap(start: float, end: float, reason: str) -> None:
            if self._on_gap is not None:
                self._on_gap(MonitoringGap("imap", mailbox.site, start, end, f"{mailbox.label}: {reason}"))

        return gap

    # --- running --------------------------------------------------------------------------------
    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for source in self.sources:
                tg.create_task(source.run(), name=f"imap-{source.site}-{source.mailbox}")
            tg.create_task(self._evaluate_loop(), name="inquiry-evaluation")

    async def close(self) -> None:
        self._closing.set()
        for source in self.sources:
            await source.close()

    async def sync_once(self) -> dict[str, int]:
        """One read-only pass over every mailbox (``slamon sync``); returns messages read per mailbox."""
        counts: dict[str, int] = {}
        for source in self.sources:
            per_folder = await source.sync_once()
            counts[f"{source.site}/{source.mailbox}"] = sum(per_folder.values())
        self.evaluate()
        return counts

    async def _evaluate_loop(self) -> None:
        while not self._closing.is_set():
            self.evaluate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), timeout=self.evaluate_every_s)

    def evaluate(self) -> list[InquiryView]:
        views = self.service.evaluate(self._clock())
        self._count_final(views)
        return views

    def on_call(self, completed: CompletedCall) -> None:
        """Call sink: an answered outbound call can be the reply a customer asked for."""
        self.service.add_call(completed.record)

    def feed(self, batch: Iterable[FetchedMessage]) -> None:
        """Messages from a source other than IMAP (the demo mailbox) through the same pipeline."""
        items = list(batch)
        if items:
            self.pipelines[(items[0].site, items[0].mailbox)].on_messages(items)

    # --- sinks ------------------------------------------------------------------------------------
    def _store_messages(self, messages: list[MailSeen]) -> None:
        with Session(self.engine) as session, session.begin():
            SqlMailRepository(session).add_many(messages)

    def _store_views(self, views: list[InquiryView]) -> None:
        with Session(self.engine) as session, session.begin():
            SqlInquiryRepository(session).save_many(views)

    def _count_final(self, views: Iterable[InquiryView]) -> None:
        if self._metrics is None:
            return
        for view in views:
            if view.status == "open":
                continue
            counted = self._final.get(view.inquiry_id)
            replied = view.business_seconds_to_first_human_reply is not None
            if counted is None:
                self._metrics.observe_inquiry(
                    view.site,
                    view.mailbox,
                    view.kind,
                    view.business_seconds_to_first_human_reply,
                    view.status,
                )
                self._final[view.inquiry_id] = (view.status, replied)
            elif replied and not counted[1]:
                # breached first, answered later: the reply time still belongs in the distribution
                self._metrics.first_reply.labels(view.site, view.mailbox, view.kind).observe(
                    view.business_seconds_to_first_human_reply or 0.0
                )
                self._final[view.inquiry_id] = (counted[0], True)


class _Positions:
    """The SQL position store as the IMAP source's ``ImapStateStore`` port."""

    def __init__(self, store: SqlImapPositionStore) -> None:
        self._store = store

    def load(self, site: str, mailbox: str, folder: str) -> FolderPosition | None:
        pos = self._store.load(site, mailbox, folder)
        return None if pos is None else FolderPosition(pos.uidvalidity, pos.last_uid)

    def save(self, site: str, mailbox: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        self._store.save(site, mailbox, folder, uidvalidity, last_uid)
