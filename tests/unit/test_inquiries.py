"""Inquiry rules: opening, first human reply, auto-replies ignored, phone replies, deadlines."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from monitor.domain.calendar import WEEKDAYS, BusinessCalendar
from monitor.domain.calls import CallRecord
from monitor.domain.inquiries import InquiryBook, KindRule, MailboxRules
from monitor.domain.policy import SlaPolicy
from monitor.domain.privacy import key_number
from tests.builders import KEY, LEAD, OOO
from tests.builders import mail as msg

TZ = ZoneInfo("America/Detroit")
HOURS = {d: ["07:30-18:00"] for d in WEEKDAYS[:5]} | {"sat": ["08:00-12:00"]}


def t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp()


def book(kind: str = "internet_inquiry", rules: tuple[KindRule, ...] = ()) -> InquiryBook:
    cal = BusinessCalendar.build(timezone="America/Detroit", hours=HOURS, country="US", subdivision="MI")
    return InquiryBook(MailboxRules("detroit", "service", kind, cal, SlaPolicy(version="p1"), rules))  # type: ignore[arg-type]


def test_reply_within_one_business_hour_is_met_and_auto_replies_are_ignored() -> None:
    b = book()
    b.add(msg("<q1>", t("2026-11-24T10:00:00")))
    b.add(msg("<ack>", t("2026-11-24T10:00:05"), direction="outbound", cls=OOO, reply_to="<q1>"))
    b.add(
        msg(
            "<r1>",
            t("2026-11-24T10:40:00"),
            direction="outbound",
            reply_to="<q1>",
            date=t("2026-11-24T10:39:58"),
        )
    )
    [view] = b.inquiries(t("2026-11-24T12:00:00"))
    assert view.status == "met" and not view.at_risk
    assert view.first_human_reply_at == t("2026-11-24T10:39:58")  # Date trusted: within 5 min of arrival
    assert view.business_seconds_to_first_human_reply == 2398
    assert view.auto_replies == 1 and view.reply_via == "email"
    assert [e.role for e in view.evidence] == ["opened", "auto", "reply"]


def test_open_inquiry_goes_at_risk_then_breached_without_a_reply() -> None:
    b = book()
    b.add(msg("<q1>", t("2026-11-24T17:30:00")))  # 30 min before closing
    evening = b.inquiries(t("2026-11-24T17:50:00"))[0]
    assert evening.status == "open" and not evening.at_risk and evening.remaining_s == 2400
    overnight = b.inquiries(t("2026-11-25T07:00:00"))[0]
    assert overnight.status == "open" and overnight.business_seconds_elapsed == 1800  # nights accrue nothing
    at_risk = b.inquiries(t("2026-11-25T07:50:00"))[0]
    assert at_risk.status == "open" and at_risk.at_risk and at_risk.remaining_s == 600  # < 25 % left
    assert overnight.deadline_at == datetime(2026, 11, 25, 8, 0, tzinfo=TZ)
    assert b.inquiries(t("2026-11-25T08:00:00"))[0].status == "open"  # exactly at the deadline: not exceeded
    late = b.inquiries(t("2026-11-25T08:00:01"))[0]
    assert late.status == "breached" and late.at_risk


def test_reply_exactly_at_deadline_is_met_one_second_later_breached() -> None:
    for reply, status in ((t("2026-11-25T08:00:00"), "met"), (t("2026-11-25T08:00:01"), "breached")):
        b = book()
        b.add(msg("<q1>", t("2026-11-24T17:30:00")))
        b.add(msg("<r1>", reply, direction="outbound", reply_to="<q1>"))
        assert b.inquiries(t("2026-11-26T12:00:00"))[0].status == status


def test_reply_before_opening_after_a_weekend_arrival_costs_nothing() -> None:
    b = book()
    b.add(msg("<q1>", t("2026-11-28T20:00:00")))  # Saturday night
    b.add(msg("<r1>", t("2026-11-30T07:10:00"), direction="outbound", reply_to="<q1>"))  # Monday before 07:30
    [view] = b.inquiries(t("2026-11-30T12:00:00"))
    assert view.status == "met" and view.business_seconds_to_first_human_reply == 0


def test_follow_ups_do_not_restart_the_clock_and_threading_by_subject() -> None:
    b = book()
    b.add(msg("<q1>", t("2026-11-24T09:00:00"), subject="Brake noise"))
    b.add(
        msg("<q2>", t("2026-11-24T09:50:00"), subject="Re: Brake noise"[4:])
    )  # no References: same subject+customer
    b.add(msg("<r1>", t("2026-11-24T10:30:00"), direction="outbound", subject="Brake noise"))
    views = b.inquiries(t("2026-11-24T12:00:00"))
    assert len(views) == 1
    # measured from the first message: the follow-up at 09:50 did not restart the clock
    assert views[0].status == "breached" and views[0].business_seconds_to_first_human_reply == 5400
    assert [e.role for e in views[0].evidence] == ["opened", "follow_up", "reply"]


def test_untrusted_date_falls_back_to_internaldate_and_never_precedes_arrival() -> None:
    b = book()
    b.add(msg("<q1>", t("2026-11-24T10:00:00")))
    b.add(
        msg(
            "<r1>",
            t("2026-11-24T10:30:00"),
            direction="outbound",
            reply_to="<q1>",
            date=t("2026-11-24T08:00:00"),
        )
    )
    assert b.inquiries(t("2026-11-24T12:00:00"))[0].first_human_reply_at == t("2026-11-24T10:30:00")


def test_same_message_twice_bcc_and_sent_copy_is_one() -> None:
    b = book()
    assert b.add(msg("<q1>", t("2026-11-24T10:00:00")))
    r = msg("<r1>", t("2026-11-24T10:20:00"), direction="outbound", reply_to="<q1>")
    assert b.add(r)
    assert not b.add(replace(r, folder="INBOX", received_at=t("2026-11-24T10:20:01")))
    assert len(b.inquiries(t("2026-11-24T12:00:00"))) == 1


def test_auto_only_conversation_opens_nothing() -> None:
    b = book()
    b.add(msg("<x>", t("2026-11-24T10:00:00"), cls=OOO))
    assert b.inquiries(t("2026-11-24T12:00:00")) == []


def test_customer_asking_for_a_call_is_answered_by_an_outbound_call() -> None:
    b = book()
    b.add(msg("<lead>", t("2026-11-24T10:00:00"), cls=LEAD, contact="phone", phone="+1 (313) 555-0142"))
    call = CallRecord(
        call_id="1.1",
        site="detroit",
        direction="outbound",
        caller="201",
        caller_key=key_number(KEY, "+13135550142"),
        dialed="+1313555****",
        queue=None,
        arrived_at=t("2026-11-24T10:20:00"),
        answered_at=t("2026-11-24T10:20:09"),
        ended_at=t("2026-11-24T10:25:00"),
        outcome="answered",
        answered_by="201",
        queue_wait_s=None,
        rings_to_answer=None,
    )
    b.add_call(call)
    [view] = b.inquiries(t("2026-11-24T12:00:00"))
    assert view.reply_via == "phone" and view.status == "met"
    assert view.first_human_reply_at == t("2026-11-24T10:20:09")


@pytest.mark.parametrize(("kind", "allowance"), [("written", 2 * 10.5 * 3600), ("internet_inquiry", 3600)])
def test_kind_by_mailbox_and_allowance(kind: str, allowance: float) -> None:
    b = book(kind)
    b.add(msg("<q1>", t("2026-11-24T10:00:00")))
    [view] = b.inquiries(t("2026-11-24T10:00:01"))
    assert view.kind == kind and view.allowance_s == allowance


def test_per_sender_rule_overrides_mailbox_kind() -> None:
    b = book("internet_inquiry", (KindRule("written", domain="fleet.example"),))
    b.add(msg("<q1>", t("2026-11-24T10:00:00"), customer="buyer@fleet.example"))
    assert b.inquiries(t("2026-11-24T10:00:01"))[0].kind == "written"
