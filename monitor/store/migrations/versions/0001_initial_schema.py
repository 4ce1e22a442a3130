"""Initial schema: calls with legs, holds, transfers and evidence; SLA evaluations; monitoring gaps;
policy versions.

Written out in full (not imported from ``monitor.store.tables``) so this revision keeps creating the
same schema however the models change later.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _call_pk(table: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(
        "call_pk",
        sa.Integer(),
        sa.ForeignKey("call.id", name=f"fk_{table}_call_pk_call", ondelete="CASCADE"),
        nullable=nullable,
    )


def _str(name: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _float(name: str, nullable: bool = False) -> sa.Column[float]:
    return sa.Column(name, sa.Float(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "call",
        _id(),
        _str("site"),
        _str("call_id"),
        _str("direction"),
        _str("caller_masked"),
        _str("caller_key"),
        _str("dialed"),
        _str("queue", nullable=True),
        _float("arrived_at"),
        _float("answered_at", nullable=True),
        _float("ended_at"),
        _str("outcome"),
        _str("answered_by", nullable=True),
        _float("time_to_answer_s", nullable=True),
        sa.Column("rings_to_answer", sa.Integer(), nullable=True),
        _float("queue_wait_s", nullable=True),
        _float("hold_total_s"),
        _float("hold_max_s"),
        _float("talk_s"),
        _str("policy_version"),
        sa.Column("approximate", sa.Boolean(), nullable=False),
        _str("closed_reason"),
        sa.Column("record_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_call"),
        sa.UniqueConstraint("site", "call_id", name="uq_call_site_call_id"),
    )
    op.create_index("ix_call_arrived_at_id", "call", ["arrived_at", "id"])
    op.create_index("ix_call_site_arrived_at_id", "call", ["site", "arrived_at", "id"])
    op.create_index("ix_call_site_caller_key", "call", ["site", "caller_key"])

    op.create_table(
        "call_leg",
        _id(),
        _call_pk("call_leg"),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        _str("agent"),
        _str("channel_id"),
        _str("queue", nullable=True),
        _float("began_at"),
        _float("ringing_at", nullable=True),
        _float("answered_at", nullable=True),
        _float("ended_at", nullable=True),
        _float("ring_s"),
        sa.Column("reached_ringing", sa.Boolean(), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        _str("status"),
        sa.PrimaryKeyConstraint("id", name="pk_call_leg"),
        sa.UniqueConstraint("call_pk", "ordinal", name="uq_call_leg_call_pk_ordinal"),
    )
    op.create_table(
        "call_hold",
        _id(),
        _call_pk("call_hold"),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        _float("start"),
        _float("end"),
        _float("s"),
        _str("by"),
        sa.PrimaryKeyConstraint("id", name="pk_call_hold"),
        sa.UniqueConstraint("call_pk", "ordinal", name="uq_call_hold_call_pk_ordinal"),
    )
    op.create_table(
        "call_transfer",
        _id(),
        _call_pk("call_transfer"),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        _str("kind"),
        _str("from_agent"),
        _str("to_agent"),
        _float("at"),
        sa.PrimaryKeyConstraint("id", name="pk_call_transfer"),
        sa.UniqueConstraint("call_pk", "ordinal", name="uq_call_transfer_call_pk_ordinal"),
    )
    op.create_table(
        "call_evidence",
        _id(),
        _call_pk("call_evidence"),
        sa.Column("seq", sa.Integer(), nullable=False),
        _float("t"),
        _str("kind"),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_call_evidence"),
        sa.UniqueConstraint("call_pk", "seq", name="uq_call_evidence_call_pk_seq"),
    )
    op.create_table(
        "sla_evaluation",
        _id(),
        _call_pk("sla_evaluation", nullable=True),
        _str("site"),
        _str("subject_kind"),
        _str("subject_id"),
        _str("standard"),
        _str("result"),
        _float("measured", nullable=True),
        _float("threshold", nullable=True),
        _str("policy_version"),
        _float("evaluated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_sla_evaluation"),
        sa.UniqueConstraint(
            "site",
            "subject_kind",
            "subject_id",
            "standard",
            name="uq_sla_evaluation_site_subject_kind_subject_id_standard",
        ),
    )
    op.create_index("ix_sla_evaluation_call_pk", "sla_evaluation", ["call_pk"])
    op.create_index("ix_sla_evaluation_site_evaluated_at", "sla_evaluation", ["site", "evaluated_at"])

    op.create_table(
        "monitoring_gap",
        _id(),
        _str("site"),
        _str("source"),
        _float("start"),
        _float("end"),
        _str("reason"),
        sa.PrimaryKeyConstraint("id", name="pk_monitoring_gap"),
        sa.UniqueConstraint("site", "source", "start", name="uq_monitoring_gap_site_source_start"),
    )
    op.create_table(
        "policy_version",
        _id(),
        _str("version"),
        _str("site"),
        sa.Column("policy_json", sa.Text(), nullable=False),
        _float("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_policy_version"),
        sa.UniqueConstraint("version", "site", name="uq_policy_version_version_site"),
    )


def downgrade() -> None:
    for table in (
        "policy_version",
        "monitoring_gap",
        "sla_evaluation",
        "call_evidence",
        "call_transfer",
        "call_hold",
        "call_leg",
        "call",
    ):
        op.drop_table(table)
