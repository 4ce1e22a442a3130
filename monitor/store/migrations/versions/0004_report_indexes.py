"""Report indexes: the SLA summary reads a month of calls from one covering index on PostgreSQL;
breach listings find superseded evaluations through an index.

- ``ix_call_site_arrived_at_id`` keeps its key columns (site, arrived_at, id: keyset pages) and, on
  PostgreSQL, gains INCLUDE columns with everything the summary counts (``SUMMARY_COLUMNS`` in
  ``monitor/store/tables.py``, written out here as they are at this revision), so the GROUP BY runs as
  an index-only scan instead of reading the wide call rows. SQLite has no INCLUDE: unchanged there.
- ``ix_sla_evaluation_supersedes_seq``: "is there a correction of this evaluation?".

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INCLUDED = (
    "direction",
    "outcome",
    "policy_version",
    "queue",
    "answered_by",
    "rings_to_answer",
    "hold_max_s",
    "time_to_answer_s",
    "talk_s",
    "ended_at",
)


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _postgresql():
        op.drop_index("ix_call_site_arrived_at_id", table_name="call")
        op.create_index(
            "ix_call_site_arrived_at_id",
            "call",
            ["site", "arrived_at", "id"],
            postgresql_include=list(INCLUDED),
        )
    op.create_index("ix_sla_evaluation_supersedes_seq", "sla_evaluation", ["supersedes_seq"])


def downgrade() -> None:
    op.drop_index("ix_sla_evaluation_supersedes_seq", table_name="sla_evaluation")
    if _postgresql():
        op.drop_index("ix_call_site_arrived_at_id", table_name="call")
        op.create_index("ix_call_site_arrived_at_id", "call", ["site", "arrived_at", "id"])
