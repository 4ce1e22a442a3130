"""The call rollup: inbound calls pre-counted per site, 15-minute slot, queue, policy version, outcome
and (for callers who gave up) whole seconds waited, so a month's summary reads thousands of rows
instead of hundreds of thousands.

It is a projection of ``call`` like ``inquiry`` is of the mail, not evidence: it can be dropped and
rebuilt at any time (:func:`roll_up` from id 0). Calls are rolled up in id order behind a watermark
(``rollup_state``): calls stored after a pass (late ones included, whatever their arrival time) are
counted from ``call`` directly until the next pass, so a summary is always complete. Ids commit in
order because calls are appended under the evidence chain's lock. Each call is counted once: the
pass and the watermark move in one transaction, under a row lock on the watermark.

"Within threshold" and "hold breached" are decided per call when it is rolled up, with the
thresholds of its policy version (versions are immutable) or, for a version unknown here, its
recorded evaluation - the same rule as the raw query in :mod:`monitor.store.summary`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.store.breaches import latest_only
from monitor.store.tables import table

SLOT_S = 900  # every UTC offset in use is a multiple of 15 minutes, so local days are whole slots
MAX_WAIT_S = 120  # abandon waits are kept to the second up to this; short_abandon_s may not exceed it
STATE = "call_slot"
COUNTS = ("calls", "within", "hold_breaches")
SUMS = ("time_to_answer_s_sum", "talk_s_sum")
KEYS = ("site", "slot_start", "queue", "policy_version", "outcome", "wait_s")


@dataclass(frozen=True, slots=True)
class PolicyThresholds:
    """The call thresholds of one policy version (answer within N rings, hold at most S seconds)."""

    answer_within_rings: float
    max_hold_s: float


def _recorded(c: Any, standard: str, result: str) -> ColumnElement[bool]:
    """The call's evaluation in force for ``standard`` has ``result`` (one index probe per call)."""
    ev = table("sla_evaluation")
    return exists().where(
        ev.c.call_pk == c.id,
        ev.c.subject_kind == "call",
        ev.c.standard == standard,
        ev.c.result == result,
        *latest_only(ev),
    )


def within_threshold(c: Any, policies: Mapping[str, PolicyThresholds]) -> ColumnElement[bool]:
    """Answered within the answer_within_rings of the call's policy version; for a version whose
    thresholds are not known here, the call's recorded answer_rings evaluation decides."""
    unknown = _recorded(c, "answer_rings", "met")
    if not policies:
        return unknown
    limit = case({v: p.answer_within_rings for v, p in policies.items()}, value=c.policy_version)
    return or_(
        and_(c.policy_version.in_(list(policies)), c.rings_to_answer <= limit),
        and_(c.policy_version.not_in(list(policies)), unknown),
    )


def hold_breached(c: Any, policies: Mapping[str, PolicyThresholds]) -> ColumnElement[bool]:
    unknown = _recorded(c, "hold", "breached")
    if not policies:
        return unknown
    limit = case({v: p.max_hold_s for v, p in policies.items()}, value=c.policy_version)
    return or_(
        and_(c.policy_version.in_(list(policies)), c.hold_max_s > limit),
        and_(c.policy_version.not_in(list(policies)), unknown),
    )


def slot_of(column: Any, dialect: str) -> ColumnElement[Any]:
    """The start of the 15-minute slot of an epoch instant (floor)."""
    if dialect == "postgresql":
        return func.floor(column / SLOT_S) * SLOT_S
    # SQLite: CAST truncates toward zero, which is floor for the positive instants stored here.
    return cast(column / SLOT_S, Integer) * SLOT_S


def wait_of(c: Any, dialect: str) -> ColumnElement[Any]:
    """Whole seconds (rounded up, capped at MAX_WAIT_S + 1) a caller who gave up waited; 0 otherwise."""
    waited = c.ended_at - c.arrived_at
    if dialect == "postgresql":
        whole: Any = func.ceil(waited)
    else:
        truncated = cast(waited, Integer)
        whole = truncated + case((waited > truncated, 1), else_=0)
    capped = case((whole > MAX_WAIT_S, MAX_WAIT_S + 1), else_=whole)
    return case((c.outcome.in_(("abandoned", "missed")), cast(capped, Integer)), else_=literal(0))


def watermark(session: Session) -> int:
    """The last call id counted in the rollup (0 before the first pass)."""
    state = table("rollup_state")
    found = session.execute(select(state.c.last_id).where(state.c.name == STATE)).scalar()
    return int(found or 0)


def roll_up(session: Session, policies: Mapping[str, PolicyThresholds], batch: int = 200_000) -> int:
    """Count the calls stored since the last pass into the rollup (ids up to ``batch`` past the
    watermark, oldest first); returns how far the watermark moved (0: nothing new). The caller
    commits."""
    dialect = session.get_bind().dialect.name
    state, call, slot = table("rollup_state"), table("call"), table("call_slot")
    # Take the watermark's row lock first: a concurrent pass waits here and then sees our result.
    locked: Any = session.execute(update(state).where(state.c.name == STATE).values(last_id=state.c.last_id))
    if locked.rowcount == 0:
        session.execute(insert(state).values(name=STATE, last_id=0))
    low = watermark(session)
    high = session.execute(
        select(func.max(call.c.id)).where(call.c.id > low, call.c.id <= low + batch)
    ).scalar()
    if high is None:
        return 0
    c = call.c
    answered = c.outcome == "answered"
    inner = (
        select(
            c.site,
            slot_of(c.arrived_at, dialect).label("slot_start"),
            func.coalesce(c.queue, "").label("queue"),
            c.policy_version,
            c.outcome,
            wait_of(c, dialect).label("wait_s"),
            and_(answered, within_threshold(c, policies)).label("within"),
            and_(answered, hold_breached(c, policies)).label("held"),
            c.time_to_answer_s,
            c.talk_s,
        )
        .where(c.id > low, c.id <= high, c.direction == "inbound")
        .subquery()
    )
    i = inner.c
    keys = [i[k] for k in KEYS]
    rows = select(
        *keys,
        func.count().label("calls"),
        func.count().filter(i.within).label("within"),
        func.count().filter(i.held).label("hold_breaches"),
        func.coalesce(func.sum(i.time_to_answer_s), 0.0).label("time_to_answer_s_sum"),
        func.coalesce(func.sum(i.talk_s), 0.0).label("talk_s_sum"),
    ).group_by(*keys)
    names = [*KEYS, *COUNTS, *SUMS]
    upsert: Any = (postgresql if dialect == "postgresql" else sqlite).insert(slot)
    # SQLite needs a WHERE in an INSERT .. SELECT that has an upsert clause (parsing ambiguity).
    source = rows.where(true()) if dialect == "sqlite" else rows
    stmt = upsert.from_select(names, source).on_conflict_do_update(
        index_elements=list(KEYS), set_={k: slot.c[k] + upsert.excluded[k] for k in (*COUNTS, *SUMS)}
    )
    session.execute(stmt)
    session.execute(update(state).where(state.c.name == STATE).values(last_id=high))
    return int(high - low)
