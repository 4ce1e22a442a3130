"""Evidence chain: chain columns on calls, call evidence, SLA evaluations, monitoring gaps and policy
versions; inquiry evidence; the chain head; SLA evaluations become append-only revisions.

Rows already stored are chained here, in a fixed order (policy versions, gaps, then each call with
its evidence and evaluations, then inquiry evaluations with the evidence of their projection row), so
an upgraded database verifies like a new one. The hashed fields are written out below as they are at
this revision: ``monitor/store/chain.py`` may hash more fields later, this backfill must not.

The chain columns are added NOT NULL with a server default because SQLite can add such a column to a
table with rows only that way; rebuilding ``call`` instead would, with foreign keys on, cascade-delete
its children when the old table is dropped.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from monitor.store.chain import GENESIS, canonical, link_hash

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHAINED = ("call", "call_evidence", "sla_evaluation", "inquiry_evidence", "monitoring_gap", "policy_version")

# table -> (key fields, data fields) with a type code each: f float, i int, b bool, s str.
_F, _I, _B, _S = "f", "i", "b", "s"
SPEC: dict[str, tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]] = {
    "call": (
        (("site", _S), ("call_id", _S)),
        (
            ("direction", _S),
            ("caller_masked", _S),
            ("caller_key", _S),
            ("dialed", _S),
            ("queue", _S),
            ("arrived_at", _F),
            ("answered_at", _F),
            ("ended_at", _F),
            ("outcome", _S),
            ("answered_by", _S),
            ("time_to_answer_s", _F),
            ("rings_to_answer", _I),
            ("queue_wait_s", _F),
            ("hold_total_s", _F),
            ("hold_max_s", _F),
            ("talk_s", _F),
            ("policy_version", _S),
            ("approximate", _B),
            ("closed_reason", _S),
            ("record_json", _S),
        ),
    ),
    "call_evidence": ((("site", _S), ("call_id", _S), ("seq", _I)), (("t", _F), ("kind", _S), ("raw", _S))),
    "sla_evaluation": (
        (("site", _S), ("subject_kind", _S), ("subject_id", _S), ("standard", _S), ("revision", _I)),
        (
            ("result", _S),
            ("measured", _F),
            ("threshold", _F),
            ("policy_version", _S),
            ("evaluated_at", _F),
            ("supersedes_seq", _I),
        ),
    ),
    "inquiry_evidence": (
        (("site", _S), ("inquiry_id", _S), ("standard", _S), ("revision", _I), ("ordinal", _I)),
        (
            ("role", _S),
            ("message_key", _S),
            ("direction", _S),
            ("cls", _S),
            ("kind", _S),
            ("at", _F),
            ("reasons_json", _S),
            ("folder", _S),
            ("uid", _I),
            ("headers", _S),
        ),
    ),
    "monitoring_gap": ((("site", _S), ("source", _S), ("start", _F)), (("end", _F), ("reason", _S))),
    "policy_version": ((("version", _S), ("site", _S)), (("policy_json", _S), ("created_at", _F))),
}
_CONVERT: dict[str, Any] = {_F: float, _I: int, _B: bool, _S: str}


def _chain_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("chain_seq", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("prev_hash", sa.String(), nullable=False, server_default=sa.text("''")),
        sa.Column("record_hash", sa.String(), nullable=False, server_default=sa.text("''")),
    ]


def upgrade() -> None:
    op.create_table(
        "chain_head",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chain_head"),
    )
    op.create_table(
        "inquiry_evidence",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site", sa.String(), nullable=False),
        sa.Column("inquiry_id", sa.String(), nullable=False),
        sa.Column("standard", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("message_key", sa.String(), nullable=False),
        sa.Column("direction", sa.String(), nullable=False),
        sa.Column("cls", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("reasons_json", sa.Text(), nullable=False),
        sa.Column("folder", sa.String(), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        *_chain_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_inquiry_evidence"),
        sa.UniqueConstraint(
            "site",
            "inquiry_id",
            "standard",
            "revision",
            "ordinal",
            name="uq_inquiry_evidence_site_inquiry_id_standard_revision_ordinal",
        ),
    )
    for name in ("call", "call_evidence", "monitoring_gap", "policy_version"):
        for column in _chain_columns():
            op.add_column(name, column)
    # sla_evaluation has no dependants, so SQLite may rebuild it (needed to change its unique key).
    with op.batch_alter_table("sla_evaluation") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("supersedes_seq", sa.BigInteger(), nullable=True))
        for column in _chain_columns():
            batch.add_column(column)
        batch.drop_constraint("uq_sla_evaluation_site_subject_kind_subject_id_standard", type_="unique")
        batch.create_unique_constraint(
            "uq_sla_evaluation_revision",
            ["site", "subject_kind", "subject_id", "standard", "revision"],
        )
    seq, head = _backfill(op.get_bind())
    op.bulk_insert(
        sa.table("chain_head", sa.column("id"), sa.column("seq"), sa.column("hash")),
        [{"id": 1, "seq": seq, "hash": head}],
    )
    for name in CHAINED:
        op.create_index(f"ix_{name}_chain_seq", name, ["chain_seq"], unique=True)


def downgrade() -> None:
    for name in CHAINED:
        op.drop_index(f"ix_{name}_chain_seq", table_name=name)
    with op.batch_alter_table("sla_evaluation") as batch:
        batch.drop_constraint("uq_sla_evaluation_revision", type_="unique")
    # Only the evaluations in force survive a downgrade: the old schema had one row per standard.
    op.execute(
        "DELETE FROM sla_evaluation WHERE EXISTS (SELECT 1 FROM sla_evaluation later WHERE"
        " later.site = sla_evaluation.site AND later.subject_kind = sla_evaluation.subject_kind AND"
        " later.subject_id = sla_evaluation.subject_id AND later.standard = sla_evaluation.standard"
        " AND later.revision > sla_evaluation.revision)"
    )
    with op.batch_alter_table("sla_evaluation") as batch:
        for column in ("record_hash", "prev_hash", "chain_seq", "supersedes_seq", "revision"):
            batch.drop_column(column)
        batch.create_unique_constraint(
            "uq_sla_evaluation_site_subject_kind_subject_id_standard",
            ["site", "subject_kind", "subject_id", "standard"],
        )
    for name in ("call", "call_evidence", "monitoring_gap", "policy_version"):
        with op.batch_alter_table(name) as batch:
            for column in ("record_hash", "prev_hash", "chain_seq"):
                batch.drop_column(column)
    op.drop_table("inquiry_evidence")
    op.drop_table("chain_head")


class _Backfill:
    """Chains existing rows in the order they are handed in; updates are sent in batches."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.seq = 0
        self.hash = GENESIS
        self.meta = sa.MetaData()
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.new_rows: list[dict[str, Any]] = []  # inquiry_evidence, created from the projections

    def table(self, name: str) -> sa.Table:
        if name not in self.meta.tables:
            sa.Table(name, self.meta, autoload_with=self.conn)
        return self.meta.tables[name]

    def rows(self, stmt: sa.Select[Any]) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(stmt).mappings()]

    def chain(self, name: str, row: dict[str, Any], refs: dict[str, Any] | None = None) -> dict[str, Any]:
        key_spec, data_spec = SPEC[name]
        key = [_norm(row[k], t) for k, t in key_spec]
        data = {f: _norm(row[f], t) for f, t in data_spec}
        data.update(refs or {})
        self.seq += 1
        record_hash = link_hash(self.hash, canonical(name, key, self.seq, data))
        links = {"chain_seq": self.seq, "prev_hash": self.hash, "record_hash": record_hash}
        self.hash = record_hash
        return links

    def link(self, name: str, row: dict[str, Any], refs: dict[str, Any] | None = None) -> None:
        self.pending.setdefault(name, []).append({"_id": row["id"], **self.chain(name, row, refs)})
        if sum(len(v) for v in self.pending.values()) >= 5000:
            self.flush()

    def flush(self) -> None:
        for name, links in self.pending.items():
            if links:
                tbl = self.table(name)
                stmt = (
                    sa.update(tbl)
                    .where(tbl.c.id == sa.bindparam("_id"))
                    .values(
                        chain_seq=sa.bindparam("chain_seq"),
                        prev_hash=sa.bindparam("prev_hash"),
                        record_hash=sa.bindparam("record_hash"),
                    )
                )
                self.conn.execute(stmt, links)
        self.pending.clear()
        if self.new_rows:
            self.conn.execute(self.table("inquiry_evidence").insert(), self.new_rows)
            self.new_rows = []


def _norm(value: Any, code: str) -> Any:
    return None if value is None else _CONVERT[code](value)


def _backfill(conn: sa.Connection) -> tuple[int, str]:
    """Chain every stored row; returns the head (seq, hash)."""
    b = _Backfill(conn)
    policy, gap, call = b.table("policy_version"), b.table("monitoring_gap"), b.table("call")
    evidence, sla, inquiry = b.table("call_evidence"), b.table("sla_evaluation"), b.table("inquiry")
    for row in b.rows(sa.select(policy).order_by(policy.c.id)):
        b.link("policy_version", row)
    for row in b.rows(sa.select(gap).order_by(gap.c.id)):
        b.link("monitoring_gap", row)
    last = 0
    while calls := b.rows(sa.select(call).where(call.c.id > last).order_by(call.c.id).limit(1000)):
        lo, hi = calls[0]["id"], calls[-1]["id"]
        evidence_of: dict[int, list[dict[str, Any]]] = {}
        for ev in b.rows(
            sa.select(evidence).where(evidence.c.call_pk.between(lo, hi)).order_by(evidence.c.seq)
        ):
            evidence_of.setdefault(ev["call_pk"], []).append(ev)
        evaluations_of: dict[int, list[dict[str, Any]]] = {}
        for ev in b.rows(sa.select(sla).where(sla.c.call_pk.between(lo, hi)).order_by(sla.c.id)):
            evaluations_of.setdefault(ev["call_pk"], []).append(ev)
        for c in calls:
            b.link("call", c)
            for ev in evidence_of.get(c["id"], []):
                b.link("call_evidence", {**ev, "site": c["site"], "call_id": c["call_id"]})
            for ev in evaluations_of.get(c["id"], []):
                b.link("sla_evaluation", ev, {"call": [c["site"], c["call_id"]]})
        last = hi
    projections = {
        (r["site"], r["inquiry_id"]): r["evidence_json"]
        for r in b.rows(sa.select(inquiry.c.site, inquiry.c.inquiry_id, inquiry.c.evidence_json))
    }
    for ev in b.rows(sa.select(sla).where(sla.c.call_pk.is_(None)).order_by(sla.c.id)):
        b.link("sla_evaluation", ev, {"call": None})
        # The projection's evidence is that of its latest evaluation: the one the old schema kept.
        items = json.loads(projections.get((ev["site"], ev["subject_id"]), "[]"))
        for ordinal, item in enumerate(items):
            row = {
                "site": ev["site"],
                "inquiry_id": ev["subject_id"],
                "standard": ev["standard"],
                "revision": 0,
                "ordinal": ordinal,
                "role": item["role"],
                "message_key": item["message_key"],
                "direction": item["direction"],
                "cls": item["cls"],
                "kind": item["kind"],
                "at": item["at"],
                "reasons_json": json.dumps(list(item["reasons"])),
                "folder": item.get("folder", ""),
                "uid": item.get("uid", 0),
                "headers": item.get("headers", ""),
            }
            b.new_rows.append({**row, **b.chain("inquiry_evidence", row)})
    b.flush()
    return b.seq, b.hash
