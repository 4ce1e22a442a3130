"""Store scenarios run against both SQLite and PostgreSQL (test_store_sqlite.py, test_store_postgres.py).

Each ``check_*`` takes a database URL of an empty database and asserts one property of the store.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

from monitor.domain.calls import CallRecord, CompletedCall, Evidence, Hold, Leg, Transfer
from monitor.domain.events import MonitoringGap
from monitor.domain.privacy import key_number, mask_number
from monitor.service.writer import BatchResult, BatchWriter, Item, write_batch
from monitor.store.engine import head_revision, make_engine, schema_revision, upgrade
from monitor.store.repository import SqlCallRepository, SqlGapRepository, SqlPolicyRepository
from monitor.store.tables import table

CALLER = "+1 (313) 555-0101"
CALLER_DIGITS = "3135550101"
HMAC_KEY = b"test-key-not-secret"
THRESHOLDS = {"answer_rings": 3.0, "hold": 30.0}


def realistic_call(
    call_id: str = "1795498999.0", arrived_at: float = 1795498998.93, site: str = "detroit"
) -> CompletedCall:
    """An inbound call: queue, first advisor does not answer, second answers after 3 rings, puts the
    caller on hold for 35 s, then blind-transfers to parts. Evidence is raw AMI text (caller masked,
    as the adapter hands it over)."""
    t0 = arrived_at
    masked = mask_number(CALLER)
    record = CallRecord(
        call_id=call_id,
        site=site,
        direction="inbound",
        caller=masked,
        caller_key=key_number(HMAC_KEY, CALLER),
        dialed="600",
        queue="service",
        arrived_at=t0,
        answered_at=t0 + 13.63,
        ended_at=t0 + 95.5,
        outcome="answered",
        answered_by="202",
        queue_wait_s=12.01,
        rings_to_answer=3,
        legs=[
            Leg("201", "PJSIP/201-00000001", t0 + 1.0, t0 + 7.0, t0 + 1.2, None, "NOANSWER", "service"),
            Leg("202", "PJSIP/202-00000002", t0 + 7.1, t0 + 80.0, t0 + 7.3, t0 + 13.63, "ANSWER", "service"),
        ],
        holds=[Hold(t0 + 20.0, t0 + 55.0, "202")],
        transfers=[Transfer("blind", "202", "300", t0 + 80.0)],
        talk_s=81.87,
        sla={"answer_rings": "met", "hold": "breached", "abandon": "n/a"},
        policy_version="2026-11-25.1",
    )
    evidence = [
        Evidence(t0, "Newchannel", f"Event: Newchannel\r\nCallerIDNum: {masked}\r\nLinkedid: {call_id}\r\n"),
        Evidence(
            t0 + 1.0, "DialBegin", f"Event: DialBegin\r\nDestCallerIDNum: 201\r\nLinkedid: {call_id}\r\n"
        ),
        Evidence(t0 + 13.63, "DialEnd", f"Event: DialEnd\r\nDialStatus: ANSWER\r\nLinkedid: {call_id}\r\n"),
        Evidence(t0 + 95.5, "Hangup", f"Event: Hangup\r\nCause: 16\r\nLinkedid: {call_id}\r\n"),
    ]
    return CompletedCall(record, evidence)


def _fresh(url: str) -> Engine:
    upgrade(url)
    return make_engine(url)


def check_migrations_from_empty(url: str) -> None:
    engine = make_engine(url)
    assert schema_revision(engine) is None
    upgrade(url)
    assert schema_revision(engine) == head_revision()
    upgrade(url)  # a second upgrade is a no-op
    with engine.connect() as conn:
        # The migrations create exactly what the models describe (no drift either way).
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    assert diff == []
    engine.dispose()


def check_round_trip(url: str) -> None:
    engine = _fresh(url)
    completed = realistic_call()
    with Session(engine) as s, s.begin():
        assert SqlCallRepository(s).add(completed, THRESHOLDS) is True
    with Session(engine) as s:
        repo = SqlCallRepository(s)
        found = repo.get("detroit", completed.record.call_id)
        assert found is not None
        record, evidence = found
        assert record == json.loads(json.dumps(completed.record.to_dict()))
        assert "caller_key" not in record and record["caller"] == "+1313555****"
        assert evidence == completed.evidence
        assert repo.get("detroit", "no-such-call") is None
        assert repo.get("elsewhere", completed.record.call_id) is None
        assert repo.list().items == [record]
        legs = s.execute(select(table("call_leg")).order_by(text("ordinal"))).mappings().all()
        assert [(r["agent"], r["status"], r["answered"], r["ring_s"]) for r in legs] == [
            ("201", "NOANSWER", False, 6.0),
            ("202", "ANSWER", True, 6.53),
        ]
        holds = s.execute(select(table("call_hold"))).mappings().all()
        assert [(h["by"], h["s"]) for h in holds] == [("202", 35.0)]
        transfers = s.execute(select(table("call_transfer"))).mappings().all()
        assert [(t["kind"], t["from_agent"], t["to_agent"]) for t in transfers] == [("blind", "202", "300")]
        sla = {
            r["standard"]: (r["result"], r["measured"], r["threshold"], r["subject_kind"])
            for r in s.execute(select(table("sla_evaluation"))).mappings()
        }
        assert sla == {
            "answer_rings": ("met", 3.0, 3.0, "call"),
            "hold": ("breached", 35.0, 30.0, "call"),
            "abandon": ("n/a", None, None, "call"),
        }
    engine.dispose()


def check_add_twice_stores_once(url: str) -> None:
    engine = _fresh(url)
    completed = realistic_call()
    with Session(engine) as s, s.begin():
        assert SqlCallRepository(s).add(completed) is True
    with Session(engine) as s, s.begin():
        assert SqlCallRepository(s).add(completed) is False
        # The same call twice in one batch, next to a new one: only the new one is stored.
        other = realistic_call(call_id="1795499100.7", arrived_at=1795499100.0)
        assert SqlCallRepository(s).add_many([completed, other, other]) == 1
    result = write_batch(engine, [completed, other])
    assert result == BatchResult(calls_written=0, duplicates=2)
    with Session(engine) as s:
        assert SqlCallRepository(s).count() == 2
        for name, per_call in (
            ("call_leg", 2),
            ("call_hold", 1),
            ("call_evidence", 4),
            ("sla_evaluation", 3),
        ):
            assert _rows(s, name) == 2 * per_call, name
    engine.dispose()


def check_keyset_pagination(url: str) -> None:
    engine = _fresh(url)
    # 23 calls over 6 instants (ties in arrived_at, fractional seconds), two sites.
    arrived = {f"17954990{i:02d}.0": 1795499000.37 + (i // 4) * 1.11 for i in range(23)}
    calls = [realistic_call(c, arrived_at=t, site="ab"[i % 2]) for i, (c, t) in enumerate(arrived.items())]
    with Session(engine) as s, s.begin():
        SqlCallRepository(s).add_many(reversed(calls))  # insertion order differs from time order
    with Session(engine) as s:
        repo = SqlCallRepository(s)
        for newest_first in (False, True):
            for site in (None, "a"):
                seen = _walk(repo, limit=5, site=site, newest_first=newest_first)
                expected = [c.record for c in calls if site is None or c.record.site == site]
                assert sorted(seen) == sorted(r.call_id for r in expected)
                assert len(seen) == len(set(seen))
                times = [arrived[cid] for cid in seen]
                assert times == sorted(times, reverse=newest_first)
        window = _walk(repo, limit=2, start=arrived["1795499004.0"], end=arrived["1795499012.0"])
        assert sorted(window) == [f"17954990{i:02d}.0" for i in range(4, 12)]
        page = repo.list(limit=100)
        assert len(page.items) == 23 and page.next_cursor is None
        first = repo.list(limit=5)
        assert first.next_cursor is not None
        for bad in ("garbage!", "WzEsMl0", first.next_cursor + "x"):
            try:
                repo.list(after=bad)
            except ValueError:
                pass
            else:
                raise AssertionError(f"cursor {bad!r} accepted")
        try:
            repo.list(after=first.next_cursor, newest_first=True)
        except ValueError:
            pass
        else:
            raise AssertionError("cursor accepted in the other order")
    engine.dispose()


def check_gaps_idempotent(url: str) -> None:
    engine = _fresh(url)
    gaps = [
        MonitoringGap("ami", "detroit", 100.0, 160.0, "connection lost"),
        MonitoringGap("ami", "detroit", 500.0, 510.0, "login failed"),
        MonitoringGap("imap", "detroit", 100.0, 900.0, "timeout"),
        MonitoringGap("ami", "dallas", 100.0, 120.0, "connection lost"),
    ]
    with Session(engine) as s, s.begin():
        repo = SqlGapRepository(s)
        assert [repo.add(g) for g in gaps] == [True] * 4
        assert repo.add(gaps[0]) is False
        assert repo.add(MonitoringGap("ami", "detroit", 100.0, 170.0, "other reason")) is False
    assert write_batch(engine, gaps) == BatchResult(gaps_written=0, gap_duplicates=4)
    with Session(engine) as s:
        repo = SqlGapRepository(s)
        assert repo.list() == sorted(gaps, key=lambda g: (g.start, g.site, g.source))
        assert repo.list("detroit", 150.0, 505.0) == [gaps[0], gaps[2], gaps[1]]
        assert repo.list("detroit", 160.0, 500.0) == [gaps[2]]  # [start, end) intervals
        assert repo.list("dallas") == [gaps[3]]
    engine.dispose()


def check_policy_versions(url: str) -> None:
    engine = _fresh(url)
    policy = {"answer_within_rings": 3, "max_hold_s": 30.0}
    with Session(engine) as s, s.begin():
        repo = SqlPolicyRepository(s)
        assert repo.add("2026-11-25.1", "detroit", policy, created_at=1795498000.0) is True
        # First registration wins: a version names one policy for good.
        assert repo.add("2026-11-25.1", "detroit", {"answer_within_rings": 9}, 1795499000.0) is False
    with Session(engine) as s:
        assert SqlPolicyRepository(s).get("2026-11-25.1", "detroit") == policy
        assert SqlPolicyRepository(s).get("2026-11-25.1", "dallas") is None
    engine.dispose()


def check_concurrent_writers_store_once(url: str) -> None:
    """Two writers racing with the same calls (e.g. a replay next to the daemon) store each once."""
    engine = _fresh(url)
    calls = [realistic_call(f"{i}.0", arrived_at=1795499000.0 + i) for i in range(300)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda part: write_batch(engine, part), [calls, calls[::-1], calls, calls]))
    assert sum(r.calls_written for r in results) == 300
    assert sum(r.duplicates for r in results) == 900
    with Session(engine) as s:
        assert SqlCallRepository(s).count() == 300
        assert _rows(s, "call_leg") == 600
    engine.dispose()


def check_caller_never_in_clear(url: str) -> None:
    engine = _fresh(url)
    completed = realistic_call()
    write_batch(engine, [completed])
    with Session(engine) as s:
        row = s.execute(select(table("call"))).mappings().one()
        assert row["caller_masked"] == completed.record.caller == "+1313555****"
        assert row["caller_key"] == key_number(HMAC_KEY, CALLER) and len(row["caller_key"]) == 64
        assert row["caller_key"] not in row["record_json"]
        for name in SQLModel.metadata.tables:
            for values in s.execute(select(table(name))):
                dump = " ".join(str(v) for v in values)
                assert CALLER_DIGITS not in dump and "5550101" not in dump, name
    engine.dispose()


async def check_writer_drains_and_survives_errors(url: str) -> None:
    engine = _fresh(url)
    attempts: list[int] = []

    def flaky(items: Sequence[Item]) -> BatchResult:
        attempts.append(len(items))
        if len(attempts) == 1:
            raise OperationalError("INSERT ...", None, ConnectionRefusedError("server closed the connection"))
        return write_batch(engine, items)

    writer = BatchWriter(engine, write=flaky, max_batch=500, interval_s=0.05, retry_initial_s=0.01)
    calls = [realistic_call(call_id=f"{i}.0", arrived_at=1795499000.0 + i) for i in range(1200)]
    async with asyncio.TaskGroup() as tg:
        tg.create_task(writer.run())
        for c in calls[:600]:
            writer.submit(c)
        writer.submit(calls[0])  # a duplicate is counted, not stored twice
        writer.submit_gap(MonitoringGap("ami", "detroit", 10.0, 20.0, "connection lost"))
        await asyncio.sleep(0)
        for c in calls[600:]:
            writer.submit(c)
        assert await writer.close(timeout_s=30)
    assert writer.pending == 0
    assert writer.stats.errors == 1 and writer.stats.consecutive_errors == 0
    assert writer.stats.written == 1200 and writer.stats.duplicates == 1 and writer.stats.gaps_written == 1
    assert attempts[0] == attempts[1] == 500  # the failed batch was retried whole
    with Session(engine) as s:
        assert SqlCallRepository(s).count() == 1200
        assert len(SqlGapRepository(s).list()) == 1
        assert _rows(s, "call_evidence") == 1200 * 4
    engine.dispose()


def _walk(repo: SqlCallRepository, **kwargs: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        page = repo.list(after=cursor, **kwargs)
        seen.extend(item["call_id"] for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


def _rows(s: Session, name: str) -> int:
    return len(s.execute(select(table(name))).all())
