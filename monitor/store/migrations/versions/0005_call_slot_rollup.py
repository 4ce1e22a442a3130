"""Call rollup for reports: ``call_slot`` (inbound calls pre-counted per site, 15-minute slot, queue,
policy version, outcome and abandon wait) and ``rollup_state`` (how far it has counted). A
projection of ``call``, not evidence: it starts empty and the daemon fills it
(``monitor/store/rollup.py``); until then summaries count from ``call`` directly.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_slot",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site", sa.String(), nullable=False),
        sa.Column("slot_start", sa.Float(), nullable=False),
        sa.Column("queue", sa.String(), nullable=False),
        sa.Column("policy_version", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("wait_s", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("within", sa.Integer(), nullable=False),
        sa.Column("hold_breaches", sa.Integer(), nullable=False),
        sa.Column("time_to_answer_s_sum", sa.Float(), nullable=False),
        sa.Column("talk_s_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_call_slot"),
        sa.UniqueConstraint(
            "site",
            "slot_start",
            "queue",
            "policy_version",
            "outcome",
            "wait_s",
            name="uq_call_slot_key",
        ),
    )
    state = op.create_table(
        "rollup_state",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_rollup_state"),
    )
    # The row every pass locks (so two passes never count the same calls): present from the start.
    op.bulk_insert(state, [{"name": "call_slot", "last_id": 0}])


def downgrade() -> None:
    op.drop_table("rollup_state")
    op.drop_table("call_slot")
