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


def table(name: str) -> Table:
    """The Core table behind a model, for bulk statements (typed, unlike ``Model.__table__``)."""
    return SQLModel.metadata.tables[name]
