"""Service mailbox: messages (pseudonymous), inquiries with their latest evaluation, IMAP positions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _str(name: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _float(name: str, nullable: bool = False) -> sa.Column[float]:
    return sa.Column(name, sa.Float(), nullable=nullable)


def _int(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False)


def _text(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "mail_message",
        sa.Column("id", sa.Integer(), primary_key=True),
        _str("site"),
        _str("mailbox"),
        _str("message_key"),
        _str("folder"),
        _int("uid"),
        _int("uidvalidity"),
        _str("message_id", nullable=True),
        _text("in_reply_to_json"),
        _text("references_json"),
        _str("thread_index", nullable=True),
        _str("subject_hash"),
        _str("from_key"),
        _str("from_domain"),
        _str("customer_key", nullable=True),
        _str("customer_masked", nullable=True),
        _str("customer_phone_key", nullable=True),
        _str("customer_phone_masked", nullable=True),
        _float("date", nullable=True),
        _float("received_at"),
        _str("direction"),
        _str("cls"),
        _str("kind"),
        _text("reasons_json"),
        _str("requested_contact", nullable=True),
        _text("evidence_headers"),
        sa.PrimaryKeyConstraint("id", name="pk_mail_message"),
        sa.UniqueConstraint(
            "site", "mailbox", "message_key", name="uq_mail_message_site_mailbox_message_key"
        ),
    )
    op.create_index(
        "ix_mail_message_site_mailbox_received_at", "mail_message", ["site", "mailbox", "received_at"]
    )
    op.create_table(
        "inquiry",
        sa.Column("id", sa.Integer(), primary_key=True),
        _str("inquiry_id"),
        _str("site"),
        _str("mailbox"),
        _str("kind"),
        _str("conversation_id"),
        _str("customer_key"),
        _str("customer_masked"),
        _float("received_at"),
        _float("first_human_reply_at", nullable=True),
        _str("reply_via", nullable=True),
        _float("business_seconds_to_first_human_reply", nullable=True),
        _float("allowance_s"),
        _float("deadline_at"),
        _str("status"),
        sa.Column("at_risk", sa.Boolean(), nullable=False),
        _int("auto_replies"),
        _str("requested_contact", nullable=True),
        _str("policy_version"),
        _float("evaluated_at"),
        _text("evidence_json"),
        sa.PrimaryKeyConstraint("id", name="pk_inquiry"),
        sa.UniqueConstraint("site", "inquiry_id", name="uq_inquiry_site_inquiry_id"),
    )
    op.create_index("ix_inquiry_site_received_at_id", "inquiry", ["site", "received_at", "id"])
    op.create_table(
        "imap_position",
        sa.Column("id", sa.Integer(), primary_key=True),
        _str("site"),
        _str("mailbox"),
        _str("folder"),
        _int("uidvalidity"),
        _int("last_uid"),
        sa.PrimaryKeyConstraint("id", name="pk_imap_position"),
        sa.UniqueConstraint("site", "mailbox", "folder", name="uq_imap_position_site_mailbox_folder"),
    )


def downgrade() -> None:
    op.drop_table("imap_position")
    op.drop_index("ix_inquiry_site_received_at_id", table_name="inquiry")
    op.drop_table("inquiry")
    op.drop_index("ix_mail_message_site_mailbox_received_at", table_name="mail_message")
    op.drop_table("mail_message")
