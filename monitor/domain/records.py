"""From a closed call's timeline to its call record: direction, outcome, figures and SLA verdicts.

Kept apart from the tracker (which only collects facts) so the derivation reads in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from monitor.domain.cadence import rings_for
from monitor.domain.calendar import BusinessCalendar
from monitor.domain.calls import CallRecord, Direction, Outcome
from monitor.domain.policy import SlaPolicy, evaluate_call
from monitor.domain.privacy import mask_number
from monitor.domain.timeline import CallTimeline
from monitor.domain.topology import PbxTopology


@dataclass(frozen=True, slots=True)
class SiteRules:
    """Everything the tracker needs to know about one site."""

    site: str
    calendar: BusinessCalendar
    policy: SlaPolicy
    ring_cycle_s: float
    topology: PbxTopology


def call_direction(call: CallTimeline, topo: PbxTopology) -> Direction:
    if topo.is_trunk(call.caller.endpoint) or (
        topo.is_service_number(call.caller.dialed) and not (topo.is_device(call.caller.endpoint))
    ):
        return "inbound"
    return "outbound" if call.trunk_legs else "internal"


def call_outcome(
    call: CallTimeline, direction: Direction, answered_at: float | None, calendar: BusinessCalendar
) -> Outcome:
    if answered_at is not None:
        return "answered"
    if direction == "inbound":
        if not calendar.is_open(call.first_t):
            return "after_hours"
        if call.abandoned_at is not None:
            return "abandoned"
        if call.voicemail_at is not None:
            # Straight to voicemail with no queue and no advisor tried: the PBX's closed routing.
            return "after_hours" if not call.legs and call.queue is None else "voicemail"
        if call.queue_joined_at is not None:
            return "abandoned"
        if any(leg.answered_at is None for leg in call.legs.values()):
            return "missed"
        return "abandoned" if call.pbx_answered_at is not None else "failed"
    if call.voicemail_at is not None:
        return "voicemail"
    return "missed" if call.legs or call.trunk_legs else "failed"


def build_record(
    call: CallTimeline, end: float, reason: str, rules: SiteRules, key_number: Callable[[str], str]
) -> CallRecord:
    """The record a closed call's timeline adds up to: every figure is derived here, once."""
    direction = call_direction(call, rules.topology)
    answered_by = None
    if direction == "outbound":
        # The advisor placed the call; "answered" is the customer picking up. The customer's number
        # is the dialed one: keyed for matching callbacks, shown masked.
        answered_at = call.trunk_answered_at
        answered_by = call.caller.endpoint if answered_at is not None else None
        shown, customer_number, dialed = (
            call.caller.endpoint,
            call.caller.dialed,
            mask_number(call.caller.dialed),
        )
    else:
        answered_at = call.person_answered_at()
        if answered_at is not None:
            answered_by = next(leg.agent for leg in call.legs.values() if leg.answered_at == answered_at)
        shown, customer_number, dialed = (
            mask_number(call.caller.number),
            call.caller.number,
            call.caller.dialed,
        )
    legs = sorted(call.legs.values(), key=lambda leg: leg.began_at)
    for leg in legs:
        if leg.ended_at is None:
            leg.ended_at = end
    tta = None if answered_at is None else answered_at - call.first_t
    record = CallRecord(
        call_id=call.call_id,
        site=rules.site,
        direction=direction,
        caller=shown,
        caller_key=key_number(customer_number) if customer_number else "",
        dialed=dialed,
        queue=call.queue,
        arrived_at=call.first_t,
        answered_at=answered_at,
        ended_at=max(end, call.first_t),
        outcome=call_outcome(call, direction, answered_at, rules.calendar),
        answered_by=answered_by,
        queue_wait_s=call.queue_wait_s(end),
        rings_to_answer=None if tta is None or direction != "inbound" else rings_for(tta, rules.ring_cycle_s),
        legs=legs,
        holds=list(call.holds),
        transfers=list(call.transfers),
        talk_s=call.talk_s(end),
        policy_version=rules.policy.version,
        approximate=call.approximate,
        closed_reason=reason,
    )
    record.sla = evaluate_call(record, rules.policy, rules.ring_cycle_s)
    if direction == "inbound" and not rules.calendar.is_open(call.first_t):
        # Someone may pick up after hours, but the standards apply to business hours only.
        record.sla = {standard: "n/a" for standard in record.sla}
    return record
