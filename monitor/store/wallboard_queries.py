"""Stored figures the wallboard shows next to the live ones: today's answered and abandoned calls.

"Answered within the threshold" is read from the stored ``answer_rings`` evaluation of each call, so
the figure uses the policy in force when the call was measured, the same result an auditor sees.
Abandoned counts the callers who gave up unanswered (outcome ``abandoned`` or ``missed``: the
``abandon`` standard's breaches), except short abandons (hung up within ``short_abandon_s`` of
arriving, the reporting threshold ``/api/v1/sla/summary`` uses too), counted apart. Voicemail,
after-hours and failed calls are in none of the figures.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from monitor.service.wallboard import AnswerFigures
from monitor.store.tables import table

ABANDONED_OUTCOMES = ("abandoned", "missed")


class SqlWallboardQueries:
    def __init__(self, session: Session) -> None:
        self._session = session

    def answer_figures(
        self, site: str, start: float, end: float, short_abandon_s: float = 0.0
    ) -> AnswerFigures:
        """Inbound customer calls of ``site`` that arrived in ``[start, end)``."""
        call, ev = table("call"), table("sla_evaluation")
        met = and_(call.c.outcome == "answered", ev.c.result == "met")
        gave_up = call.c.outcome.in_(ABANDONED_OUTCOMES)
        short = call.c.ended_at - call.c.arrived_at <= short_abandon_s
        stmt = (
            select(
                func.count().filter(call.c.outcome == "answered"),
                func.count().filter(met),
                func.count().filter(and_(gave_up, ~short)),
                func.count().filter(and_(gave_up, short)),
            )
            .select_from(call)
            .outerjoin(
                ev,
                and_(
                    ev.c.call_pk == call.c.id,
                    ev.c.subject_kind == "call",
                    ev.c.standard == "answer_rings",
                ),
            )
            .where(
                call.c.site == site,
                call.c.direction == "inbound",
                call.c.arrived_at >= start,
                call.c.arrived_at < end,
            )
        )
        answered, within, abandoned, short_abandoned = self._session.execute(stmt).one()
        return AnswerFigures(int(answered), int(within), int(abandoned), int(short_abandoned))


def answer_figures_reader(engine: Engine) -> Callable[[str, float, float, float], AnswerFigures]:
    """``(site, start, end, short_abandon_s) -> AnswerFigures`` in a short session of its own."""

    def read(site: str, start: float, end: float, short_abandon_s: float) -> AnswerFigures:
        with Session(engine) as session:
            return SqlWallboardQueries(session).answer_figures(site, start, end, short_abandon_s)

    return read
