"""Filter dependencies shared by the listings and their exports: one place turns the query
parameters of a resource into its store filter, so ``GET /calls`` and ``/export/calls.csv`` (and the
inquiry and breach pairs) cannot drift apart."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query

from monitor.api.deps import ContextDep, site_zone
from monitor.api.params import (
    AgentQ,
    AtRiskQ,
    DirectionQ,
    FromQ,
    InquiryKindQ,
    InquiryStatusQ,
    MailboxQ,
    OutcomeQ,
    QueueQ,
    SiteQ,
    ToQ,
    period,
)
from monitor.store.breaches import BreachFilter
from monitor.store.queries import CallFilter, InquiryFilter

Standard = Literal["answer_rings", "hold", "abandon", "first_reply", "acknowledge"]
StandardQ = Annotated[Standard | None, Query(description="Only breaches of this standard.")]
SubjectQ = Annotated[
    Literal["call", "inquiry"] | None, Query(description="Only breaches of calls, or of inquiries.")
]


def call_filter(
    ctx: ContextDep,
    site: SiteQ = None,
    from_: FromQ = None,
    to: ToQ = None,
    queue: QueueQ = None,
    agent: AgentQ = None,
    outcome: OutcomeQ = None,
    direction: DirectionQ = None,
) -> CallFilter:
    start, end = period(from_, to, site_zone(ctx, site))
    return CallFilter(site, start, end, queue, agent, outcome, direction)


def inquiry_filter(
    ctx: ContextDep,
    site: SiteQ = None,
    mailbox: MailboxQ = None,
    kind: InquiryKindQ = None,
    status: InquiryStatusQ = None,
    at_risk: AtRiskQ = None,
    from_: FromQ = None,
    to: ToQ = None,
) -> InquiryFilter:
    start, end = period(from_, to, site_zone(ctx, site))
    return InquiryFilter(site, start, end, mailbox, kind, status, at_risk)


def breach_filter(
    ctx: ContextDep,
    site: SiteQ = None,
    standard: StandardQ = None,
    subject: SubjectQ = None,
    from_: FromQ = None,
    to: ToQ = None,
    queue: QueueQ = None,
    agent: AgentQ = None,
    outcome: OutcomeQ = None,
    mailbox: MailboxQ = None,
    kind: InquiryKindQ = None,
) -> BreachFilter:
    start, end = period(from_, to, site_zone(ctx, site))
    return BreachFilter(site, start, end, standard, subject, queue, agent, outcome, mailbox, kind)


CallFilterDep = Annotated[CallFilter, Depends(call_filter)]
InquiryFilterDep = Annotated[InquiryFilter, Depends(inquiry_filter)]
BreachFilterDep = Annotated[BreachFilter, Depends(breach_filter)]
