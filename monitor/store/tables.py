"""SQLModel tables: how call records, their evidence, SLA evaluations and monitoring gaps are stored.

The schema itself is created and changed only by the alembic migrations next to this module; these
classes describe it for queries and for the migration drift test. Times are epoch seconds (UTC) in
double-precision columns, the same numbers the domain computes with, so nothing is lost converting.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, Table, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

# Explicit constraint names: SQLite can only change constraints by rebuilding a table (alembic batch
# mode), which needs to find them by name; PostgreSQL error messages then name them predictably too.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _call_fk(nullable: bool = False) -> Column[int]:
    # Children go with their call: a call is only ever deleted as a whole (retention), never in part.
    return Column(Integer, ForeignKey("call.id", ondelete="CASCADE"), nullable=nullable)


class CallRow(SQLModel, table=True):
    """One customer call (CONTRACTS section 4). ``caller_masked`` is the record's display form; the
    full number is never stored, only ``caller_key`` (HMAC) so repeat callers can be matched."""

    __tablename__ = "call"
    __table_args__ = (
        UniqueConstraint("site", "call_id"),
        # Keyset pagination walks (arrived_at, id), with or without a site filter.
        Index(None, "site", "arrived_at", "id"),
        Index(None, "arrived_at", "id"),
        Index(None, "site", "caller_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    site: str
    call_id: str
    direction: str
    caller_masked: str
    caller_key: str
    dialed: str
    queue: str | None = None
    arrived_at: float
    answered_at: float | None = None
    ended_at: float
    outcome: str
    answered_by: str | None = None
    time_to_answer_s: float | None = None
    rings_to_answer: int | None = None
    queue_wait_s: float | None = None
    hold_total_s: float = 0.0
    hold_max_s: float = 0.0
    talk_s: float = 0.0
    policy_version: str = ""
    approximate: bool = False
    closed_reason: str = "hangup"
    # The record exactly as computed (to_dict()), kept for audit and served by the API as is.
    record_json: str = Field(sa_type=Text)


class CallLegRow(SQLModel, table=True):
    __tablename__ = "call_leg"
    __table_args__ = (UniqueConstraint("call_pk", "ordinal"),)

    id: int | None = Field(default=None, primary_key=True)
    call_pk: int = Field(sa_column=_call_fk())
    ordinal: int
    agent: str
    channel_id: str
    queue: str | None = None
    began_at: float
    ringing_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    ring_s: float
    reached_ringing: bool
    answered: bool
    status: str


class CallHoldRow(SQLModel, table=True):
    __tablename__ = "call_hold"
    __table_args__ = (UniqueConstraint("call_pk", "ordinal"),)

    id: int | None = Field(default=None, primary_key=True)
    call_pk: int = Field(sa_column=_call_fk())
    ordinal: int
    start: float
    end: float
    s: float
    by: str


class CallTransferRow(SQLModel, table=True):
    __tablename__ = "call_transfer"
    __table_args__ = (UniqueConstraint("call_pk", "ordinal"),)

    id: int | None = Field(default=None, primary_key=True)
    call_pk: int = Field(sa_column=_call_fk())
    ordinal: int
    kind: str
    from_agent: str
    to_agent: str
    at: float


class CallEvidenceRow(SQLModel, table=True):
    """The source messages (raw AMI event text) a call's figures were computed from, in order."""

    __tablename__ = "call_evidence"
    __table_args__ = (UniqueConstraint("call_pk", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    call_pk: int = Field(sa_column=_call_fk())
    seq: int
    t: float
    kind: str
    raw: str = Field(sa_type=Text)


class SlaEvaluationRow(SQLModel, table=True):
    """One row per standard per subject (a call or an inquiry). ``measured``/``threshold`` are in the
    standard's own unit (rings, seconds, business seconds) and may be unknown."""

    __tablename__ = "sla_evaluation"
    __table_args__ = (
        UniqueConstraint("site", "subject_kind", "subject_id", "standard"),
        Index(None, "site", "evaluated_at"),
        Index(None, "call_pk"),
    )

    id: int | None = Field(default=None, primary_key=True)
    call_pk: int | None = Field(default=None, sa_column=_call_fk(nullable=True))
    site: str
    subject_kind: str  # call | inquiry
    subject_id: str
    standard: str
    result: str  # met | breached | n/a
    measured: float | None = None
    threshold: float | None = None
    policy_version: str = ""
    evaluated_at: float


class MonitoringGapRow(SQLModel, table=True):
    """A span ``[start, end)`` during which a source was not connected: figures there are unknown."""

    __tablename__ = "monitoring_gap"
    __table_args__ = (UniqueConstraint("site", "source", "start"),)

    id: int | None = Field(default=None, primary_key=True)
    site: str
    source: str
    start: float
    end: float
    reason: str


class PolicyVersionRow(SQLModel, table=True):
    """The SLA policy each ``policy_version`` string stood for, so old evaluations stay explainable."""

    __tablename__ = "policy_version"
    __table_args__ = (UniqueConstraint("version", "site"),)

    id: int | None = Field(default=None, primary_key=True)
    version: str
    site: str
    policy_json: str = Field(sa_type=Text)
    created_at: float


class MailMessageRow(SQLModel, table=True):
    """One service-mailbox message as slamon understood it: pseudonymous (keys and masks, a subject
    hash, masked evidence headers; no body), enough to rebuild every conversation after a restart."""

    __tablename__ = "mail_message"
    __table_args__ = (
        UniqueConstraint("site", "mailbox", "message_key"),
        Index(None, "site", "mailbox", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    site: str
    mailbox: str
    message_key: str
    folder: str
    uid: int
    uidvalidity: int
    message_id: str | None = None
    in_reply_to_json: str = Field(sa_type=Text)
    references_json: str = Field(sa_type=Text)
    thread_index: str | None = None
    subject_hash: str
    from_key: str
    from_domain: str
    customer_key: str | None = None
    customer_masked: str | None = None
    customer_phone_key: str | None = None
    customer_phone_masked: str | None = None
    date: float | None = None
    received_at: float
    direction: str
    cls: str
    kind: str
    reasons_json: str = Field(sa_type=Text)
    requested_contact: str | None = None
    evidence_headers: str = Field(sa_type=Text)


class InquiryRow(SQLModel, table=True):
    """The latest evaluation of one inquiry (CONTRACTS section 5); ``evidence_json`` lists the
    messages (and calls) its figures came from."""

    __tablename__ = "inquiry"
    __table_args__ = (UniqueConstraint("site", "inquiry_id"), Index(None, "site", "received_at", "id"))

    id: int | None = Field(default=None, primary_key=True)
    inquiry_id: str
    site: str
    mailbox: str
    kind: str
    conversation_id: str
    customer_key: str
    customer_masked: str
    received_at: float
    first_human_reply_at: float | None = None
    reply_via: str | None = None
    business_seconds_to_first_human_reply: float | None = None
    allowance_s: float
    deadline_at: float
    status: str
    at_risk: bool
    auto_replies: int
    requested_contact: str | None = None
    policy_version: str
    evaluated_at: float
    evidence_json: str = Field(sa_type=Text)


class ImapPositionRow(SQLModel, table=True):
    """Where reading stopped in each watched folder: resume point after a restart."""

    __tablename__ = "imap_position"
    __table_args__ = (UniqueConstraint("site", "mailbox", "folder"),)

    id: int | None = Field(default=None, primary_key=True)
    site: str
    mailbox: str
    folder: str
    uidvalidity: int
    last_uid: int


def table(name: str) -> Table:
    """The Core table behind a model, for bulk statements (typed, unlike ``Model.__table__``)."""
    return SQLModel.metadata.tables[name]
