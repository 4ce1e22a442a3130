"""Evidence-chain scenarios run against both SQLite and PostgreSQL (test_audit_sqlite.py,
test_audit_postgres.py). Each ``check_*`` takes the URL of an empty database.

Tampering is done the way an insider would: plain SQL on the tables, around slamon.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, MetaData, func, select, text
from sqlalchemy.orm import Session

from monitor.domain.events import MonitoringGap
from monitor.domain.inquiries import EvidenceItem, InquiryView
from monitor.service.writer import write_batch
from monitor.store.chain import CHAINED_TABLES, ChainHead, content_hash, read_head
from monitor.store.chain_verify import VerifyReport, records_between, verify_chain
from monitor.store.engine import make_engine, upgrade
from monitor.store.mail_repository import SqlInquiryRepository
from monitor.store.queries import SqlInquiryQueries
from monitor.store.repository import SqlPolicyRepository
from monitor.store.tables import table
from tests.integration.store_cases import realistic_call

T0 = 1795498998.93


def populated(url: str, calls: int = 6) -> Engine:
    """A store with every kind of chained record: a policy version, calls (each with 4 evidence rows
    and 3 evaluations), a monitoring gap, and an inquiry evaluated, then corrected."""
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        SqlPolicyRepository(s).add("2026-11-25.1", "detroit", {"answer_within_rings": 3}, T0 - 100)
    batch: list[Any] = [realistic_call(f"{T0 + i:.1f}", arrived_at=T0 + 60 * i) for i in range(calls)]
    batch.append(MonitoringGap("ami", "detroit", T0 + 30, T0 + 45, "connection lost"))
    write_batch(engine, batch)
    save(engine, inquiry_view(status="breached", reply_at=None))
    save(engine, inquiry_view(status="breached", reply_at=T0 + 9000, measured=5400.0))
    return engine


def inquiry_view(
    *,
    status: str = "met",
    reply_at: float | None = T0 + 1800,
    measured: float | None = 1800.0,
    elapsed: float = 0.0,
) -> InquiryView:
    evidence = [EvidenceItem("opened", "<q1@example.com>", "inbound", "human", "human", T0, ("no markers",))]
    if reply_at is not None:
        evidence.append(
            EvidenceItem("reply", "<r1@dealer.example>", "outbound", "human", "human", reply_at, ())
        )
    return InquiryView(
        inquiry_id="inq-1",
        site="detroit",
        mailbox="service",
        kind="internet_inquiry",
        conversation_id="c-1",
        customer_key="k" * 64,
        customer_masked="j***@example.com",
        received_at=T0,
        first_human_reply_at=reply_at,
        reply_via=None if reply_at is None else "email",
        business_seconds_to_first_human_reply=measured if reply_at is not None else None,
        business_seconds_elapsed=measured
        if reply_at is not None and measured is not None
        else elapsed or 3700.0,
        allowance_s=3600.0,
        deadline_at=datetime.fromtimestamp(T0 + 3600, UTC),
        status=status,  # type: ignore[arg-type]
        at_risk=status == "breached",
        auto_replies=0,
        requested_contact=None,
        policy_version="2026-11-25.1",
        evaluated_at=T0 + 10000,
        evidence=tuple(evidence),
    )


def save(engine: Engine, view: InquiryView) -> None:
    with Session(engine) as s, s.begin():
        SqlInquiryRepository(s).save_many([view])


def verify(engine: Engine, expect: ChainHead | None = None) -> VerifyReport:
    with Session(engine) as s:
        return verify_chain(s, expect=expect, window=7)  # a small window: records span several rounds


def total_records(engine: Engine) -> int:
    with Session(engine) as s:
        return sum(
            int(s.execute(select(func.count()).select_from(table(n))).scalar_one()) for n in CHAINED_TABLES
        )


def seq_of(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def run(engine: Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def check_untouched_store_verifies(url: str) -> None:
    engine = populated(url)
    report = verify(engine)
    assert report.intact, report.broken
    # 1 policy + 6 x (call + 4 evidence + 3 evaluations) + 1 gap + 2 inquiry revisions with 1 + 2 messages
    assert report.records == total_records(engine) == 1 + 6 * 8 + 1 + 2 + 3
    with Session(engine) as s:
        assert read_head(s) == report.head
        seqs = sorted(rec.seq for rec in records_between(s, 1, 10_000))
    assert seqs == list(range(1, report.records + 1))  # global and gap-free
    engine.dispose()


def check_edit_detected(url: str) -> None:
    engine = populated(url)
    target = seq_of(
        engine, "SELECT max(chain_seq) FROM sla_evaluation WHERE result = 'breached' AND call_pk IS NOT NULL"
    )
    run(engine, f"UPDATE sla_evaluation SET result = 'met' WHERE chain_seq = {target}")
    broken = verify(engine).broken
    assert broken is not None and broken.problem == "content edited" and broken.seq == target
    assert broken.record is not None and broken.record.startswith(
        "sla_evaluation(site=detroit, subject_kind=call"
    )
    assert "standard=hold" in broken.record
    engine.dispose()


def check_evidence_edit_detected(url: str) -> None:
    engine = populated(url)
    target = seq_of(engine, "SELECT min(chain_seq) FROM call_evidence WHERE kind = 'Hangup'")
    run(engine, f"UPDATE call_evidence SET t = t - 30 WHERE chain_seq = {target}")
    broken = verify(engine).broken
    assert broken is not None and (broken.problem, broken.seq) == ("content edited", target)
    assert broken.record == f"call_evidence(site=detroit, call_id={T0:.1f}, seq=3)"
    engine.dispose()


def check_delete_detected(url: str) -> None:
    engine = populated(url)
    target = seq_of(engine, "SELECT min(chain_seq) FROM call_evidence WHERE kind = 'DialEnd'")
    run(engine, f"DELETE FROM call_evidence WHERE chain_seq = {target}")
    broken = verify(engine).broken
    assert broken is not None and (broken.problem, broken.seq) == ("record missing", target)
    # The deleted record cannot be named; its neighbours are.
    assert f"call_id={T0:.1f}, seq=1) (seq {target - 1})" in broken.detail
    assert f"call_id={T0:.1f}, seq=3) (seq {target + 1})" in broken.detail
    engine.dispose()


def check_tail_delete_detected(url: str) -> None:
    engine = populated(url)
    last = seq_of(engine, "SELECT seq FROM chain_head")
    run(engine, f"DELETE FROM inquiry_evidence WHERE chain_seq = {last}")
    broken = verify(engine).broken
    assert broken is not None and (broken.problem, broken.seq) == ("record missing", last)
    assert "chain head says the chain ends at seq" in broken.detail
    engine.dispose()


def check_reorder_detected(url: str) -> None:
    engine = populated(url)
    first = seq_of(engine, "SELECT min(chain_seq) FROM sla_evaluation WHERE call_pk IS NOT NULL")
    second = first + 1  # the same call's next evaluation
    run(
        engine,
        f"UPDATE sla_evaluation SET chain_seq = -1 WHERE chain_seq = {first}",
        f"UPDATE sla_evaluation SET chain_seq = {first} WHERE chain_seq = {second}",
        f"UPDATE sla_evaluation SET chain_seq = {second} WHERE chain_seq = -1",
    )
    broken = verify(engine).broken
    assert broken is not None and (broken.problem, broken.seq) == ("reordered", first)
    assert broken.record is not None and "standard=hold" in broken.record
    assert "standard=answer_rings" in broken.detail and f"now sits at seq {second}" in broken.detail
    engine.dispose()


def check_reorder_across_tables_detected(url: str) -> None:
    engine = populated(url)
    gap = seq_of(engine, "SELECT chain_seq FROM monitoring_gap")
    policy = seq_of(engine, "SELECT chain_seq FROM policy_version")
    run(
        engine,
        f"UPDATE monitoring_gap SET chain_seq = {policy} WHERE chain_seq = {gap}",
        f"UPDATE policy_version SET chain_seq = {gap} WHERE chain_seq = {policy}",
    )
    broken = verify(engine).broken
    assert broken is not None and (broken.problem, broken.seq) == ("reordered", policy)
    assert broken.record is not None and broken.record.startswith("monitoring_gap(site=detroit, source=ami")
    engine.dispose()


def check_rewrite_detected_and_anchor(url: str) -> None:
    """An insider who edits a record and re-hashes everything after it (head included) leaves a chain
    that verifies on its own; a head recorded earlier (an export's manifest) still exposes it."""
    engine = populated(url)
    anchor = verify(engine).head
    target = seq_of(engine, "SELECT min(chain_seq) FROM call WHERE outcome = 'answered'")
    run(engine, f"UPDATE \"call\" SET outcome = 'abandoned' WHERE chain_seq = {target}")
    with Session(engine) as s, s.begin():
        rec = next(records_between(s, target, target + 1))
        run_in = s.connection()
        new_hash = rec.recomputed()
        run_in.execute(
            text('UPDATE "call" SET record_hash = :h WHERE chain_seq = :s'), {"h": new_hash, "s": target}
        )
    broken = verify(engine).broken
    assert broken is not None and (broken.problem, broken.seq) == ("rewritten", target)
    assert broken.record is not None and broken.record.startswith("call(site=detroit")
    _rehash_from(engine, target + 1)
    assert verify(engine).intact  # the whole tail re-hashed: self-consistent again ...
    broken = verify(engine, expect=anchor).broken  # ... but not the chain that was anchored
    assert broken is not None and broken.problem == "anchor mismatch" and broken.seq == anchor.seq
    engine.dispose()


def _rehash_from(engine: Engine, start: int) -> None:
    with Session(engine) as s, s.begin():
        prev = next(records_between(s, start - 1, start)).record_hash
        head = read_head(s)
        assert head is not None
        for rec in list(records_between(s, start, head.seq + 1)):
            new_hash = content_hash(rec.table, rec.values, rec.seq, prev, rec.refs, rec.key)
            s.execute(
                text(f'UPDATE "{rec.table}" SET prev_hash = :p, record_hash = :h WHERE chain_seq = :s'),
                {"p": prev, "h": new_hash, "s": rec.seq},
            )
            prev = new_hash
        s.execute(text("UPDATE chain_head SET hash = :h WHERE id = 1"), {"h": prev})


def check_direct_insert_detected(url: str) -> None:
    engine = populated(url)
    run(
        engine,
        'INSERT INTO monitoring_gap (site, source, start, "end", reason) '
        "VALUES ('detroit', 'ami', 1.0, 2.0, 'made up')",
    )
    broken = verify(engine).broken
    assert broken is not None and broken.problem == "outside the chain"
    assert broken.record == "monitoring_gap(site=detroit, source=ami, start=1.0)"
    engine.dispose()


def check_concurrent_writers_do_not_fork(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    parts = [[realistic_call(f"{w}-{i}", arrived_at=T0 + i) for i in range(40)] for w in range(4)]
    with ThreadPoolExecutor(4) as pool:
        batches = [parts[0], parts[1], parts[0], parts[2], parts[3], parts[1]]
        results = list(pool.map(lambda batch: write_batch(engine, batch), batches))
    assert sum(r.calls_written for r in results) == 160 and sum(r.duplicates for r in results) == 80
    report = verify(engine)
    assert report.intact, report.broken
    assert report.records == 4 * 40 * 8 == report.head.seq
    engine.dispose()


def check_inquiry_corrections_are_appended(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    breached = inquiry_view(status="breached", reply_at=None, elapsed=3700.0)
    save(engine, breached)
    save(engine, replace(breached, business_seconds_elapsed=5000.0))  # only time went by: no new record
    save(engine, inquiry_view(status="open", reply_at=None))  # never "un-evaluated"
    late = inquiry_view(status="breached", reply_at=T0 + 9000, measured=5400.0)
    save(engine, late)
    save(engine, late)  # a restart re-evaluating the same: nothing new
    met = inquiry_view(status="met", reply_at=T0 + 1800, measured=1800.0)  # a Sent copy read later
    save(engine, met)
    with Session(engine) as s:
        sla = table("sla_evaluation")
        rows = s.execute(select(sla).order_by(sla.c.revision)).mappings().all()
        evidence = s.execute(select(table("inquiry_evidence"))).mappings().all()
        projection = SqlInquiryQueries(s).get("inq-1", "detroit")
    assert [(r["revision"], r["result"], r["measured"]) for r in rows] == [
        (0, "breached", 3700.0),
        (1, "breached", 5400.0),
        (2, "met", 1800.0),
    ]
    assert [r["supersedes_seq"] for r in rows] == [None, rows[0]["chain_seq"], rows[1]["chain_seq"]]
    assert [(e["revision"], e["role"]) for e in evidence] == [
        (0, "opened"),
        (1, "opened"),
        (1, "reply"),
        (2, "opened"),
        (2, "reply"),
    ]
    assert projection is not None and projection["status"] == "met"
    assert verify(engine).intact
    engine.dispose()


def check_upgrade_chains_existing_rows(url: str) -> None:
    """A database written before the chain existed (schema 0002) is chained by the upgrade."""
    upgrade(url, "0002")
    engine = make_engine(url)
    with engine.begin() as conn:
        old = MetaData()
        old.reflect(conn)

        def insert(name: str, **values: Any) -> int:
            return int(
                conn.execute(old.tables[name].insert().returning(old.tables[name].c.id), values).scalar_one()
            )

        insert("policy_version", version="v1", site="detroit", policy_json="{}", created_at=1.5)
        insert("monitoring_gap", site="detroit", source="ami", start=10.0, end=20.5, reason="x")
        call_pk = insert(
            "call",
            site="detroit",
            call_id="1.0",
            direction="inbound",
            caller_masked="+1313555****",
            caller_key="k",
            dialed="600",
            arrived_at=100.0,
            ended_at=160.0,
            outcome="answered",
            hold_total_s=0.0,
            hold_max_s=0.0,
            talk_s=50.0,
            policy_version="v1",
            approximate=False,
            closed_reason="hangup",
            record_json="{}",
        )
        insert("call_evidence", call_pk=call_pk, seq=0, t=100.0, kind="Newchannel", raw="Event: Newchannel")
        evaluation = {"site": "detroit", "policy_version": "v1", "result": "met"}
        insert(
            "sla_evaluation",
            call_pk=call_pk,
            subject_kind="call",
            subject_id="1.0",
            standard="answer_rings",
            measured=2,  # an int in a float column: hashed as 2.0 either way
            threshold=3,
            evaluated_at=160.0,
            **evaluation,
        )
        insert(
            "sla_evaluation",
            subject_kind="inquiry",
            subject_id="inq-9",
            standard="first_reply",
            measured=60.0,
            threshold=3600.0,
            evaluated_at=5.0,
            **evaluation,
        )
        opened = {"role": "opened", "message_key": "<q>", "direction": "inbound", "cls": "human"}
        insert(
            "inquiry",
            inquiry_id="inq-9",
            site="detroit",
            mailbox="service",
            kind="internet_inquiry",
            conversation_id="c",
            customer_key="k",
            customer_masked="j***@x.example",
            received_at=1.0,
            allowance_s=3600.0,
            deadline_at=3601.0,
            status="met",
            at_risk=False,
            auto_replies=0,
            policy_version="v1",
            evaluated_at=5.0,
            evidence_json=json.dumps([{**opened, "kind": "human", "at": 1.0, "reasons": ["r"]}]),
        )
    upgrade(url)
    report = verify(engine)
    assert report.intact, report.broken
    # policy, gap, call, its evidence, its evaluation, the inquiry's evaluation and its message
    assert report.records == 7
    # The chain goes on from the backfilled head.
    write_batch(engine, [realistic_call()])
    report = verify(engine)
    assert report.intact and report.records == 7 + 8
    engine.dispose()
