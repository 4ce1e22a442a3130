"""Tables of the daemon's restart state (migration 0006): the calls in progress at the last
checkpoint, their evidence so far, and a heartbeat per site.

Unlike the evidence chain these rows are working state, rewritten every second and deleted once a
call is stored: they exist so a restarted daemon resumes its live calls and records the time it was
not watching as a monitoring gap. Registered on the shared metadata by ``monitor/store/tables.py``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Text
from sqlmodel import Field, SQLModel


class LiveCallRow(SQLModel, table=True):
    """A call in progress: its timeline as JSON (``monitor/domain/checkpoint.py``)."""

    __tablename__ = "live_call"

    site: str = Field(primary_key=True)
    call_id: str = Field(primary_key=True)
    state_json: str = Field(sa_type=Text)
    updated_at: float


class LiveCallEvidenceRow(SQLModel, table=True):
    """The masked source messages of a call in progress, appended as they come (never rewritten)."""

    __tablename__ = "live_call_evidence"

    site: str = Field(primary_key=True)
    call_id: str = Field(primary_key=True)
    seq: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    t: float
    kind: str
    raw: str = Field(sa_type=Text)


class DaemonHeartbeatRow(SQLModel, table=True):
    """``monitored_until``: the last time this site's PBX was known watched (the daemon alive and the
    AMI connected); a restart records the gap from there. ``written_at``: the daemon's last sign of
    life. ``clean_stop``: it stopped on a signal and checkpointed its live calls on the way out."""

    __tablename__ = "daemon_heartbeat"

    site: str = Field(primary_key=True)
    monitored_until: float
    written_at: float
    clean_stop: bool
