"""Restart state: ``live_call`` (calls in progress at the last checkpoint, as JSON),
``live_call_evidence`` (their masked source messages so far) and ``daemon_heartbeat`` (per site: until
when the PBX was known watched, the daemon's last sign of life, and whether it stopped cleanly).
Working state, not evidence: rows are replaced and deleted, and nothing chains them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_call",
        sa.Column("site", sa.String(), nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("state_json", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("site", "call_id", name="pk_live_call"),
    )
    op.create_table(
        "live_call_evidence",
        sa.Column("site", sa.String(), nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("t", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("site", "call_id", "seq", name="pk_live_call_evidence"),
    )
    op.create_table(
        "daemon_heartbeat",
        sa.Column("site", sa.String(), nullable=False),
        sa.Column("monitored_until", sa.Float(), nullable=False),
        sa.Column("written_at", sa.Float(), nullable=False),
        sa.Column("clean_stop", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("site", name="pk_daemon_heartbeat"),
    )


def downgrade() -> None:
    op.drop_table("daemon_heartbeat")
    op.drop_table("live_call_evidence")
    op.drop_table("live_call")
