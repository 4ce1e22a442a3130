"""The restart state in the store (migration 0006), on SQLite and on a throwaway PostgreSQL 15 (the
PostgreSQL cases fail under CI=true when it is missing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.domain.calls import Evidence
from monitor.domain.events import MonitoringGap
from monitor.store.checkpoints import (
    SiteCheckpointSaved,
    SiteCheckpointWrite,
    load_checkpoint,
    save_checkpoint,
)
from monitor.store.engine import make_engine, upgrade
from monitor.store.repository import SqlCallRepository, SqlGapRepository
from monitor.store.tables import table
from tests.integration.store_cases import realistic_call

T0 = 1_795_498_998.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.service)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/checkpoint.db"
    return str(request.getfixturevalue("postgres_url"))


def _state(call_id: str, events: int) -> dict[str, object]:
    return {"v": 1, "call_id": call_id, "events": events, "nested": {"legs": [1.5, None, "201"]}}


def _ev(i: int, call_id: str) -> Evidence:
    return Evidence(T0 + i, "Newstate", f"Event: Newstate\r\nLinkedid: {call_id}\r\nSeq: {i}\r\n")


def _rows(url: str, name: str) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return int(s.execute(select(func.count()).select_from(table(name))).scalar_one())
    finally:
        engine.dispose()


def test_checkpoint_round_trip_and_evidence_appended(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    try:
        assert load_checkpoint(engine, "detroit") is None  # never watched: nothing to resume
        a, b = "1795498999.1", "1795498999.2"
        first = SiteCheckpointWrite("detroit", T0 + 2, T0 + 1.5, calls={a: _state(a, 3), b: _state(b, 1)})
        first.evidence = [(a, 0, _ev(0, a)), (a, 1, _ev(1, a)), (b, 0, _ev(0, b))]
        assert save_checkpoint(engine, [first]) == {"detroit": SiteCheckpointSaved()}
        # Next round: only a changed; two new messages for it, and one resent (a retry) is ignored.
        second = SiteCheckpointWrite("detroit", T0 + 3, T0 + 2.5, clean_stop=True, calls={a: _state(a, 5)})
        second.evidence = [(a, 1, _ev(1, a)), (a, 2, _ev(2, a)), (a, 3, _ev(3, a))]
        save_checkpoint(engine, [second])
        # Another site's rows are its own.
        save_checkpoint(engine, [SiteCheckpointWrite("toledo", T0 + 3, T0 + 3, calls={a: _state(a, 9)})])

        cp = load_checkpoint(engine, "detroit")
        assert cp is not None
        assert (cp.monitored_until, cp.written_at, cp.clean_stop) == (T0 + 2.5, T0 + 3, True)
        assert cp.calls == [
            (a, _state(a, 5), [_ev(i, a) for i in range(4)]),
            (b, _state(b, 1), [_ev(0, b)]),
        ]
        assert cp.stored_ids == []
        other = load_checkpoint(engine, "toledo")
        assert other is not None and other.calls == [(a, _state(a, 9), [])] and not other.clean_stop
    finally:
        engine.dispose()
    assert _rows(url, "daemon_heartbeat") == 2


def test_a_call_leaves_the_checkpoint_only_once_stored(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    try:
        done, other = "1795498999.0", "1795498999.7"
        w = SiteCheckpointWrite("detroit", T0, T0, calls={done: _state(done, 1), other: _state(other, 1)})
        w.evidence = [(done, 0, _ev(0, done))]
        save_checkpoint(engine, [w])
        # Closed in memory, not yet stored by the batch writer: it stays (a kill now must not lose it).
        gone = SiteCheckpointWrite("detroit", T0 + 1, T0 + 1, gone={done})
        assert save_checkpoint(engine, [gone])["detroit"].removed == set()
        cp = load_checkpoint(engine, "detroit")
        assert cp is not None and [c[0] for c in cp.calls] == [done, other]
        # A checkpointed call that was stored after all is named, so the restart does not resume it.
        with Session(engine) as s, s.begin():
            assert SqlCallRepository(s).add(realistic_call(done, arrived_at=T0 - 30 * 3600))
        cp = load_checkpoint(engine, "detroit")
        assert cp is not None and cp.stored_ids == [done]
        assert save_checkpoint(engine, [gone])["detroit"].removed == {done}
        cp = load_checkpoint(engine, "detroit")
        assert cp is not None and [c[0] for c in cp.calls] == [other]
    finally:
        engine.dispose()
    assert _rows(url, "live_call_evidence") == 0


def test_recently_stored_calls_are_named_oldest_first(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as s, s.begin():
            repo = SqlCallRepository(s)
            for i, age in enumerate([7 * 3600, 3600, 60, 600]):
                repo.add(realistic_call(f"c{i}", arrived_at=T0 - age))
            repo.add(realistic_call("elsewhere", arrived_at=T0 - 60, site="toledo"))
        save_checkpoint(engine, [SiteCheckpointWrite("detroit", T0, T0)])
        cp = load_checkpoint(engine, "detroit")
        assert cp is not None and cp.calls == []
        assert cp.stored_ids == ["c1", "c3", "c2"]  # within 6 h of the heartbeat, by arrival
        newest = load_checkpoint(engine, "detroit", recent_limit=2)
        assert newest is not None and newest.stored_ids == ["c3", "c2"]
    finally:
        engine.dispose()


def test_heartbeat_waits_for_the_restart_gap_to_be_stored(url: str) -> None:
    """After a restart the heartbeat stays where the gap begins until that gap is in the store: a
    kill while the gap is still in the writer's buffer must not leave the blind time unrecorded."""
    upgrade(url)
    engine = make_engine(url)
    try:
        beat = SiteCheckpointWrite("detroit", T0 + 10, T0 + 10, gap_from=T0)
        assert save_checkpoint(engine, [beat])["detroit"].gap_recorded is False
        cp = load_checkpoint(engine, "detroit")
        assert cp is not None and (cp.monitored_until, cp.written_at) == (T0, T0 + 10)
        with Session(engine) as s, s.begin():
            SqlGapRepository(s).add(MonitoringGap("ami", "detroit", T0, T0 + 9, "slamon down (stopped)"))
        beat = SiteCheckpointWrite("detroit", T0 + 11, T0 + 11, gap_from=T0)
        assert save_checkpoint(engine, [beat])["detroit"].gap_recorded is True
        cp = load_checkpoint(engine, "detroit")
        assert cp is not None and cp.monitored_until == T0 + 11
    finally:
        engine.dispose()
