"""The restart state in the store (migration 0006), on SQLite and on a throwaway PostgreSQL 15 (the
PostgreSQL cases fail under CI=true when it is missing)."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adapters.asterisk.framing import AmiParser
from adapters.asterisk.pipeline import AmiCallPipeline
from adapters.asterisk.synthetic import TrafficGenerator, TrafficProfile
from monitor.bootstrap import call_service
from monitor.config import Settings, open_24_7_site
from monitor.domain.calls import Evidence
from monitor.domain.events import MonitoringGap
from monitor.service.calls import CallService
from monitor.service.checkpoint import GAP_AFTER_CLEAN_STOP, Checkpointer
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
SITE = "detroit"


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


class _Source:
    """The two things the checkpointer asks of a source (the AMI source in the daemon)."""

    def __init__(self) -> None:
        self.up = True
        self.resumed: tuple[float, str] | None = None

    def resume_after_restart(self, since: float, reason: str) -> None:
        self.resumed = (since, reason)


@dataclass
class _Site:
    site: str
    service: CallService
    source: _Source


def _site_with_live_calls() -> _Site:
    settings = Settings(site=[open_24_7_site(SITE)])
    service = call_service(settings, settings.site[0], b"checkpoint-key-0123456789", [])
    pipeline = AmiCallPipeline(service)
    parser = AmiParser(expect_banner=False)
    for t, raw in itertools.islice(
        TrafficGenerator(TrafficProfile(calls_per_hour=1200), seed=3, start=T0).calls(20), 400
    ):
        for message in parser.feed(raw.encode()):
            pipeline.on_message(message, t)
    assert len(service.tracker.live_calls) >= 2
    return _Site(SITE, service, _Source())


async def test_failed_checkpoints_are_logged_retried_and_never_fatal(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.service.checkpoint")
    upgrade(url)
    engine = make_engine(url)
    site = _site_with_live_calls()
    checkpointer = Checkpointer(engine, [site], clock=lambda: T0 + 3600)
    live = table("live_call")
    try:
        with engine.begin() as conn:
            live.drop(conn)  # every write now fails inside the database
        checkpointer.stopping()  # as the daemon does on SIGTERM, while its source is still up
        assert await checkpointer.final(timeout_s=1.2) is False
        assert checkpointer.stats.failures >= 2
        failed = [r for r in caplog.records if "checkpoint failed" in r.getMessage()]
        assert len(failed) == 1 and failed[0].levelname == "ERROR"  # once, not once a second
        with engine.begin() as conn:
            live.create(conn)
        assert await checkpointer.final(timeout_s=10) is True
        assert "written again after" in caplog.text

        cp = load_checkpoint(engine, SITE)
        assert cp is not None and cp.clean_stop and cp.monitored_until == T0 + 3600
        assert [c[0] for c in cp.calls] == sorted(site.service.tracker.live_calls)
        restarted = _site_with_live_calls()
        restarted.service.tracker.live_calls.clear()
        await Checkpointer(engine, [restarted], clock=lambda: T0 + 3700).restore()
        assert restarted.source.resumed == (T0 + 3600, GAP_AFTER_CLEAN_STOP)
        for call_id, call in site.service.tracker.live_calls.items():
            assert restarted.service.tracker.live_calls[call_id] == call
            assert restarted.service.evidence_of(call_id) == site.service.evidence_of(call_id)
    finally:
        engine.dispose()
