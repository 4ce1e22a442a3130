"""Reports rebuilt from the store: the inquiries of every mailbox evaluated at a chosen instant."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from monitor.bootstrap import inquiry_books
from monitor.config import Settings
from monitor.domain.inquiries import InquiryView
from monitor.store.mail_repository import SqlMailRepository
from monitor.store.repository import SqlCallRepository


@dataclass(frozen=True)
class ReportedInquiry:
    view: InquiryView
    zone: ZoneInfo


def inquiries_at(
    settings: Settings, engine: Engine, hmac_key: bytes, at: float, *, site: str | None = None
) -> list[ReportedInquiry]:
    """Every inquiry as of ``at``, from the stored messages and answered outbound calls. Messages
    that arrived after ``at`` are ignored, so a report for a past instant shows what was known then."""
    out: list[ReportedInquiry] = []
    with Session(engine) as session:
        mail, calls = SqlMailRepository(session), SqlCallRepository(session)
        for book in inquiry_books(settings, hmac_key):
            rules = book.rules
            if site is not None and rules.site != site:
                continue
            for msg in mail.load(rules.site, rules.mailbox):
                book.add(msg)
            for key, answered_at in calls.answered_outbound(rules.site):
                book.add_call_reply(key, answered_at)
            zone = ZoneInfo(rules.calendar.timezone)
            out.extend(ReportedInquiry(view, zone) for view in book.inquiries(at))
    return sorted(out, key=lambda r: (r.view.received_at, r.view.inquiry_id))
