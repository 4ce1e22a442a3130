"""SQLModel tables: how call records, their evidence, SLA evaluations and monitoring gaps are stored.

Evaluations, their evidence (call_evidence, inquiry_evidence), calls, monitoring gaps and policy
versions are append-only and linked in the evidence chain (``chain_seq``, ``prev_hash``,
``record_hash``; see ``monitor/store/chain.py``).

The schema itself is created and changed only by the alembic migrations next to this module; these
classes describe it for queries and for the migration drift test. Times are epoch seconds (UTC) in
double-precision columns, the same numbers the domain computes with, so nothing is lost converting.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Table, Text, UniqueConstraint, text
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


class Chained(SQLModel):
    """The evidence-chain columns (monitor/store/chain.py) of a chained table. ``chain_seq`` is the
    position, global and gap-free per database. The server defaults only exist because SQLite can add
    a NOT NULL column to a table with rows (call) only with one; a row that still has chain_seq 0 was
    written around the chain and fails verification."""

    chain_seq: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    prev_hash: str = Field(default="", sa_column_kwargs={"server_default": text("''")})
    record_hash: str = Field(default="", sa_column_kwargs={"server_default": text("''")})


# Columns of ``call`` the SLA summary reads, besides site, arrived_at and id (monitor/store/summary.py).
SUMMARY_COLUMNS = (
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


def _call_fk(nullable: bool = False) -> Column[int]:
    # Children go with their call: a call is only ever deleted as a whole (retention), never in part.
    return Column(Integer, ForeignKey("call.id", ondelete="CASCADE"), nullable=nullable)


class CallRow(Chained, table=True):
    """One customer call (CONTRACTS section 4). ``caller_masked`` is the record's display form; the
    full number is never stored, only ``caller_key`` (HMAC) so repeat callers can be matched."""

    __tablename__ = "call"
    __table_args__ = (
        UniqueConstraint("site", "call_id"),
        # Keyset pagination walks (arrived_at, id), with or without a site filter. On PostgreSQL the
        # site index also carries what the SLA summary counts (migration 0004), so a month of calls is
        # aggregated from the index alone (index-only scan), never from the wide rows.
        Index(None, "site", "arrived_at", "id", postgresql_include=list(SUMMARY_COLUMNS)),
        Index(None, "arrived_at", "id"),
        Index(None, "site", "caller_key"),
        Index(None, "chain_seq", unique=True),
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


class CallEvidenceRow(Chained, table=True):
    """The source messages (raw AMI event text) a call's figures were computed from, in order."""

    __tablename__ = "call_evidence"
    __table_args__ = (UniqueConstraint("call_pk", "seq"), Index(None, "chain_seq", unique=True))

    id: int | None = Field(default=None, primary_key=True)
    call_pk: int = Field(sa_column=_call_fk())
    seq: int  # order within the call (not the chain position: that is chain_seq)
    t: float
    kind: str
    raw: str = Field(sa_type=Text)


class SlaEvaluationRow(Chained, table=True):
    """Evaluations of a subject (a call or an inquiry) per standard, append-only: a correction is a new
    row with the next ``revision`` whose ``supersedes_seq`` is the chain position of the row it
    corrects; the highest revision is the one in force. ``measured``/``threshold`` are in the
    standard's own unit (rings, seconds, business seconds) and may be unknown."""

    __tablename__ = "sla_evaluation"
    __table_args__ = (
        # Named by hand: the generated name is longer than PostgreSQL's 63 characters.
        UniqueConstraint(
            "site", "subject_kind", "subject_id", "standard", "revision", name="uq_sla_evaluation_revision"
        ),
        Index(None, "site", "evaluated_at"),
        Index(None, "call_pk"),
        Index(None, "chain_seq", unique=True),
        # "Is this evaluation superseded?" is asked for every breach listed (migration 0004).
        Index(None, "supersedes_seq"),
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
    revision: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    supersedes_seq: int | None = Field(default=None, sa_type=BigInteger)


class InquiryEvidenceRow(Chained, table=True):
    """The messages (and phone replies) one inquiry evaluation was judged on, frozen with it: the
    ``mail_message`` rows are the mailbox's working set (a later copy of a message may lower its
    arrival time), these are what the evaluation saw. Keyed by the evaluation's subject, standard and
    revision."""

    __tablename__ = "inquiry_evidence"
    __table_args__ = (
        UniqueConstraint("site", "inquiry_id", "standard", "revision", "ordinal"),
        Index(None, "chain_seq", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    site: str
    inquiry_id: str
    standard: str
    revision: int
    ordinal: int
    role: str
    message_key: str
    direction: str
    cls: str
    kind: str
    at: float
    reasons_json: str = Field(sa_type=Text)
    folder: str
    uid: int
    headers: str = Field(sa_type=Text)


class MonitoringGapRow(Chained, table=True):
    """A span ``[start, end)`` during which a source was not connected: figures there are unknown."""

    __tablename__ = "monitoring_gap"
    __table_args__ = (UniqueConstraint("site", "source", "start"), Index(None, "chain_seq", unique=True))

    id: int | None = Field(default=None, primary_key=True)
    site: str
    source: str
    start: float
    end: float
    reason: str


class PolicyVersionRow(Chained, table=True):
    """The SLA policy each ``policy_version`` string stood for, so old evaluations stay explainable."""

    __tablename__ = "policy_version"
    __table_args__ = (UniqueConstraint("version", "site"), Index(None, "chain_seq", unique=True))

    id: int | None = Field(default=None, primary_key=True)
    version: str
    site: str
    policy_json: str = Field(sa_type=Text)
    created_at: float


class ChainHeadRow(SQLModel, table=True):
    """The evidence chain's last position and hash (one row, id 1). It can be derived from the chained
    rows; it exists as the row every writer locks before appending, so two writers cannot both
    append after the same record (fork the chain)."""

    __tablename__ = "chain_head"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(sa_type=BigInteger)
    hash: str


class CallSlotRow(SQLModel, table=True):
    """Inbound calls pre-counted per site, 15-minute slot, queue ('' for none), policy version,
    outcome and whole seconds waited by callers who gave up: a projection of ``call`` for reports,
    not evidence (``monitor/store/rollup.py``; migration 0005)."""

    __tablename__ = "call_slot"
    # Named by hand: the generated name is longer than PostgreSQL's 63 characters.
    __table_args__ = (
        UniqueConstraint(
            "site", "slot_start", "queue", "policy_version", "outcome", "wait_s", name="uq_call_slot_key"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    site: str
    slot_start: float
    queue: str
    policy_version: str
    outcome: str
    wait_s: int
    calls: int
    within: int
    hold_breaches: int
    time_to_answer_s_sum: float
    talk_s_sum: float


class RollupStateRow(SQLModel, table=True):
    """How far each rollup has counted (the last ``call.id`` in ``call_slot``)."""

    __tablename__ = "rollup_state"

    name: str = Field(primary_key=True)
    last_id: int = Field(sa_type=BigInteger)


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
    messages (and calls) its figures came from. A mutable projection for queries (status and at-risk
    change while an inquiry is open): it is not evidence and not chained. The auditable record of a
    final result is its ``sla_evaluation`` revision with its ``inquiry_evidence`` rows."""

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


# The restart state's tables live in their own module; imported here so they are on the metadata
# whenever the store's tables are (alembic, the drift test).
from monitor.store import live_tables as _live_tables  # noqa: E402,F401
