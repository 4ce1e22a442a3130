"""Reading and writing the daemon's restart state (``monitor/store/live_tables.py``).

One :func:`save_checkpoint` call is one transaction for every site: the changed live calls, their new
evidence messages and the heartbeat go in together, so a restart never sees a heartbeat newer than
the calls it vouches for. A call that is no longer live leaves the checkpoint only once it is in
``call``: a daemon killed between closing a call and the batch writer storing it finds the call in
the checkpoint on restart and closes it then, instead of losing it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from monitor.domain.calls import Evidence
from monitor.store.repository import insert_ignoring_duplicates
from monitor.store.tables import table

_CHUNK = 500  # bound on bind parameters per statement


@dataclass(slots=True)
class SiteCheckpointWrite:
    """What changed for one site since the last successful write."""

    site: str
    written_at: float
    monitored_until: float | None  # None: never watched yet, no heartbeat to write
    clean_stop: bool = False
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # call_id -> timeline dict
    evidence: list[tuple[str, int, Evidence]] = field(default_factory=list)  # call_id, seq, message
    gone: set[str] = field(default_factory=set)  # checkpointed calls that are no longer live
    # The restart gap that begins at the stored heartbeat, until it is in ``monitoring_gap``: the
    # heartbeat must not move past a gap that a kill now would lose (it is in the writer's buffer).
    gap_from: float | None = None


@dataclass(slots=True)
class SiteCheckpointSaved:
    removed: set[str] = field(default_factory=set)  # ``gone`` calls taken off (they are stored)
    gap_recorded: bool = False  # ``gap_from`` is stored: the heartbeat moved on


@dataclass(slots=True)
class SiteCheckpoint:
    """A site's state as its daemon left it."""

    monitored_until: float
    written_at: float
    clean_stop: bool
    calls: list[tuple[str, dict[str, Any], list[Evidence]]]  # call_id, timeline dict, evidence
    stored_ids: list[str]  # calls of the site stored recently (or checkpointed and stored), oldest first


def save_checkpoint(engine: Engine, writes: Sequence[SiteCheckpointWrite]) -> dict[str, SiteCheckpointSaved]:
    """Write ``writes`` in one transaction; returns, per site, the ``gone`` calls removed (those
    already stored; the others stay until a later write finds them stored) and whether the restart
    gap is stored."""
    live, evidence, beat = table("live_call"), table("live_call_evidence"), table("daemon_heartbeat")
    gaps = table("monitoring_gap")
    saved: dict[str, SiteCheckpointSaved] = {}
    with Session(engine) as session, session.begin():
        for w in writes:
            ids = sorted(w.calls)
            for chunk in _chunks(ids):
                session.execute(delete(live).where(live.c.site == w.site, live.c.call_id.in_(chunk)))
            if ids:
                session.execute(
                    live.insert(),
                    [
                        {"site": w.site, "call_id": i, "state_json": json.dumps(w.calls[i])}
                        | {"updated_at": w.written_at}
                        for i in ids
                    ],
                )
            if w.evidence:
                # Ignoring duplicates: a retry after a commit whose acknowledgement was lost.
                session.execute(
                    insert_ignoring_duplicates(session, evidence, ("site", "call_id", "seq")),
                    [
                        {"site": w.site, "call_id": i, "seq": seq, "t": e.t, "kind": e.kind, "raw": e.raw}
                        for i, seq, e in w.evidence
                    ],
                )
            done = _stored(session, w.site, w.gone)
            for chunk in _chunks(sorted(done)):
                for tbl in (live, evidence):
                    session.execute(delete(tbl).where(tbl.c.site == w.site, tbl.c.call_id.in_(chunk)))
            result = saved[w.site] = SiteCheckpointSaved(done)
            until = w.monitored_until
            if w.gap_from is not None:
                found = select(gaps.c.id).where(
                    gaps.c.site == w.site, gaps.c.source == "ami", gaps.c.start == w.gap_from
                )
                result.gap_recorded = session.execute(found).first() is not None
                if not result.gap_recorded:
                    until = w.gap_from
            if until is not None:
                values = {
                    "monitored_until": until,
                    "written_at": w.written_at,
                    "clean_stop": w.clean_stop,
                }
                if session.execute(select(beat.c.site).where(beat.c.site == w.site)).first() is None:
                    session.execute(beat.insert().values(site=w.site, **values))
                else:
                    session.execute(update(beat).where(beat.c.site == w.site).values(**values))
    return saved


def load_checkpoint(
    engine: Engine, site: str, recent_s: float = 6 * 3600.0, recent_limit: int = 20_000
) -> SiteCheckpoint | None:
    """The state ``site``'s daemon left behind, or None if it never watched this site's PBX.

    ``stored_ids`` are the calls stored in the ``recent_s`` before the heartbeat (at most
    ``recent_limit``, the newest), plus any checkpointed call that was stored after all."""
    live, evidence, beat = table("live_call"), table("live_call_evidence"), table("daemon_heartbeat")
    call = table("call")
    with Session(engine) as session:
        hb = session.execute(select(beat).where(beat.c.site == site)).mappings().first()
        if hb is None:
            return None
        by_call: dict[str, list[Evidence]] = {}
        stmt = (
            select(evidence.c.call_id, evidence.c.t, evidence.c.kind, evidence.c.raw)
            .where(evidence.c.site == site)
            .order_by(evidence.c.call_id, evidence.c.seq)
        )
        for call_id, t, kind, raw in session.execute(stmt):
            by_call.setdefault(call_id, []).append(Evidence(t, kind, raw))
        calls = [
            (call_id, json.loads(state), by_call.get(call_id, []))
            for call_id, state in session.execute(
                select(live.c.call_id, live.c.state_json).where(live.c.site == site).order_by(live.c.call_id)
            )
        ]
        recent = session.execute(
            select(call.c.call_id)
            .where(call.c.site == site, call.c.arrived_at >= hb["monitored_until"] - recent_s)
            .order_by(call.c.arrived_at.desc(), call.c.id.desc())
            .limit(recent_limit)
        ).scalars()
        stored_ids = list(reversed(list(recent)))
        stored_ids += sorted(_stored(session, site, (c[0] for c in calls)) - set(stored_ids))
    return SiteCheckpoint(
        monitored_until=float(hb["monitored_until"]),
        written_at=float(hb["written_at"]),
        clean_stop=bool(hb["clean_stop"]),
        calls=calls,
        stored_ids=stored_ids,
    )


def _stored(session: Session, site: str, call_ids: Iterable[str]) -> set[str]:
    call = table("call")
    found: set[str] = set()
    for chunk in _chunks(sorted(set(call_ids))):
        stmt = select(call.c.call_id).where(call.c.site == site, call.c.call_id.in_(chunk))
        found.update(session.execute(stmt).scalars())
    return found


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]
