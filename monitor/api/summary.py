"""The SLA summary: a period's service level and every component behind it, grouped."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from monitor.api.deps import ContextDep, SessionDep, WallboardRole, site_zone
from monitor.api.params import FromQ, SiteQ, ToQ, invalid, period
from monitor.api.schemas import ErrorPublic
from monitor.config import ConfigError
from monitor.domain.periods import PeriodError
from monitor.domain.policy import SlaPolicy
from monitor.service.summary import FORMULA, FORMULA_TEXT, GroupBy, SiteRules, SummaryRequest, sla_summary

router = APIRouter(
    prefix="/api/v1/sla",
    tags=["sla"],
    responses={
        401: {"model": ErrorPublic, "description": "Missing or unknown token"},
        403: {"model": ErrorPublic, "description": "The token's role may not read this"},
    },
)


class CallFiguresPublic(BaseModel):
    offered: int
    answered: int
    answered_within_threshold: int
    abandoned: int
    missed: int
    short_abandoned: int
    voicemail: int
    after_hours: int
    failed: int
    hold_breaches: int
    time_to_answer_s_sum: float
    talk_s_sum: float


class InquiryFiguresPublic(BaseModel):
    received: int
    met: int
    breached: int
    open: int
    at_risk: int


class FiguresPublic(BaseModel):
    calls: CallFiguresPublic | None = Field(description="Null when the grouping does not apply to calls.")
    inquiries: InquiryFiguresPublic | None = Field(
        description="Null when the grouping does not apply to inquiries."
    )
    service_level: float | None = Field(description="By the formula; null when its denominator is 0.")
    inquiries_met_share: float | None = Field(description="met / (met + breached); null when both are 0.")
    policy_versions: list[str]


class SummaryGroupPublic(FiguresPublic):
    site: str
    key: str | None = Field(description="2026-11-03, 2026-W45, 2026-11, or the queue/agent/mailbox.")
    start: str | None = Field(description="Bucket start, local time of the site (time groupings only).")
    end: str | None


class SummarySitePublic(BaseModel):
    site: str
    timezone: str
    short_abandon_s: float
    totals: FiguresPublic


class PolicyVersionPublic(BaseModel):
    site: str
    version: str
    policy: dict[str, Any] | None = Field(description="The thresholds, when the version is known here.")


class GapPublic(BaseModel):
    site: str
    source: str
    start: str
    end: str
    reason: str


_CALLS: dict[str, Any] = {
    "offered": 412,
    "answered": 371,
    "answered_within_threshold": 322,
    "abandoned": 25,
    "missed": 6,
    "short_abandoned": 9,
    "voicemail": 8,
    "after_hours": 2,
    "failed": 0,
    "hold_breaches": 14,
    "time_to_answer_s_sum": 4301.5,
    "talk_s_sum": 98311.2,
}
_INQ: dict[str, Any] = {"received": 37, "met": 30, "breached": 4, "open": 3, "at_risk": 1}
_FIG: dict[str, Any] = {
    "calls": _CALLS,
    "inquiries": _INQ,
    "service_level": 0.8195,
    "inquiries_met_share": 0.8824,
    "policy_versions": ["2026-11-25.1"],
}


class SummaryPublic(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "site": "detroit",
                    "from": "2026-11-01T00:00:00-04:00",
                    "to": "2026-12-01T00:00:00-05:00",
                    "group_by": "day",
                    "formula": FORMULA,
                    "formula_text": FORMULA_TEXT,
                    "definitions": {"offered": "inbound customer calls that arrived in the period"},
                    "totals": _FIG,
                    "sites": [
                        {
                            "site": "detroit",
                            "timezone": "America/Detroit",
                            "short_abandon_s": 5.0,
                            "totals": _FIG,
                        }
                    ],
                    "groups": [
                        {
                            "site": "detroit",
                            "key": "2026-11-03",
                            "start": "2026-11-03T00:00:00-05:00",
                            "end": "2026-11-04T00:00:00-05:00",
                            **_FIG,
                        }
                    ],
                    "policy_versions": [
                        {
                            "site": "detroit",
                            "version": "2026-11-25.1",
                            "policy": {
                                "answer_within_rings": 3,
                                "max_hold_s": 30.0,
                                "first_reply_business_s": 3600.0,
                                "acknowledge_business_days": 2.0,
                            },
                        }
                    ],
                    "monitoring_gaps": [
                        {
                            "site": "detroit",
                            "source": "ami",
                            "start": "2026-11-12T09:14:03-05:00",
                            "end": "2026-11-12T09:16:40-05:00",
                            "reason": "connection lost",
                        }
                    ],
                }
            ]
        },
    )

    site: str | None
    from_: str = Field(alias="from")
    to: str
    group_by: GroupBy
    formula: str
    formula_text: str
    definitions: dict[str, str] = Field(description="What each component counts.")
    totals: FiguresPublic
    sites: list[SummarySitePublic]
    groups: list[SummaryGroupPublic]
    policy_versions: list[PolicyVersionPublic] = Field(description="The policy versions the figures used.")
    monitoring_gaps: list[GapPublic] = Field(
        description="Spans in the period when a source was not connected."
    )


@router.get(
    "/summary",
    response_model=SummaryPublic,
    summary="Service level of a period",
    description="Aggregated figures of inbound customer calls (by arrival) and inquiries (by receipt) in "
    "[from, to), grouped by local day, ISO week or month of the site, or by queue, agent (the advisor "
    "who answered) or mailbox. Service level = " + FORMULA_TEXT + ". Every component is returned so "
    "other formulas can be computed. Without `from`, from the first stored record; without `to`, now. "
    "Role: wallboard.",
    responses={422: {"description": "Bad parameters, or a period with too many buckets"}},
)
def get_summary(
    ctx: ContextDep,
    session: SessionDep,
    _role: WallboardRole,
    site: SiteQ = None,
    from_: FromQ = None,
    to: ToQ = None,
    group_by: Annotated[GroupBy, Query(description="How to group the figures.")] = "day",
) -> dict[str, Any]:
    start, end = period(from_, to, site_zone(ctx, site))
    if end is None:
        end = ctx.clock()
        if start is not None and end <= start:
            invalid("from", "'from' is in the future: give 'to' too", str(from_))

    def policy(site_id: str) -> SlaPolicy | None:
        try:
            return ctx.settings.policy_for(site_id)
        except ConfigError:
            return None

    rules = SiteRules(
        zone=lambda s: site_zone(ctx, s), short_abandon_s=ctx.settings.short_abandon_s, policy=policy
    )
    try:
        return sla_summary(session, SummaryRequest(site, start, end, group_by), rules)
    except PeriodError as exc:
        invalid("from", str(exc))
