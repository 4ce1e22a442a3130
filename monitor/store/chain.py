"""The evidence chain: append-only records linked by hashes, so any later edit, deletion or reordering
of stored evidence is detectable (``slamon audit verify``, ``monitor/store/chain_verify.py``).

Chained records: calls, their evidence (raw AMI events), SLA evaluations (calls and inquiries, with
corrections as new revisions), the messages each inquiry evaluation was judged on (inquiry_evidence),
monitoring gaps and policy versions. Each carries

- ``chain_seq``: its position, global and gap-free per database, starting at 1;
- ``prev_hash``: the ``record_hash`` of the record at ``chain_seq - 1`` (64 zeros for the first);
- ``record_hash = sha256(bytes.fromhex(prev_hash) || canonical(record))`` in hex, where
  ``canonical`` is the UTF-8 JSON ``{"data": {...}, "key": [...], "seq": n, "table": "..."}`` with
  sorted keys, no spaces and no ASCII escaping (:func:`canonical`). ``key`` is the record's natural
  key (never a surrogate id, so the chain survives a dump and restore that renumbers rows) and
  ``data`` every other column, each normalised to its column's type (a float column always hashes
  as a float, whether the row was written as ``3`` or read back as ``3.0``).

Writers append inside their own transaction through :class:`ChainAppender`, which first locks the
one ``chain_head`` row (``UPDATE .. RETURNING``: a row lock on PostgreSQL, the database write lock on
SQLite), so concurrent writers queue instead of forking the chain, and hashes are computed in Python
per row with one head update per batch. Nothing here ever updates a chained row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from monitor.store.tables import table

GENESIS = "0" * 64
CHAIN_COLUMNS = ("chain_seq", "prev_hash", "record_hash")


class ChainError(RuntimeError):
    """The chain cannot be appended to (its head row is missing): stop writing, run the verifier."""


@dataclass(frozen=True, slots=True)
class ChainedTable:
    """What of a table's rows is hashed. ``refs`` are content fields that are not columns of the table
    but resolved references (a call's natural key instead of its surrogate ``call_pk``)."""

    name: str
    key: tuple[str, ...]
    data: tuple[str, ...]
    refs: tuple[str, ...] = ()


# Changing a tuple here changes every hash of that table: existing chains would no longer verify.
# A new column in a chained table must therefore be either left out of the content (and listed in
# UNHASHED) or introduced with a new table name in the content (a format version); a test checks
# that every column is accounted for.
CHAINED: dict[str, ChainedTable] = {
    t.name: t
    for t in (
        ChainedTable(
            "call",
            key=("site", "call_id"),
            data=(
                "direction",
                "caller_masked",
                "caller_key",
                "dialed",
                "queue",
                "arrived_at",
                "answered_at",
                "ended_at",
                "outcome",
                "answered_by",
                "time_to_answer_s",
                "rings_to_answer",
                "queue_wait_s",
                "hold_total_s",
                "hold_max_s",
                "talk_s",
                "policy_version",
                "approximate",
                "closed_reason",
                "record_json",
            ),
        ),
        # site and call_id come from the call the row belongs to (call_pk resolved).
        ChainedTable("call_evidence", key=("site", "call_id", "seq"), data=("t", "kind", "raw")),
        ChainedTable(
            "sla_evaluation",
            key=("site", "subject_kind", "subject_id", "standard", "revision"),
            data=("result", "measured", "threshold", "policy_version", "evaluated_at", "supersedes_seq"),
            refs=("call",),  # [site, call_id] of call_pk, or null
        ),
        ChainedTable(
            "inquiry_evidence",
            key=("site", "inquiry_id", "standard", "revision", "ordinal"),
            data=(
                "role",
                "message_key",
                "direction",
                "cls",
                "kind",
                "at",
                "reasons_json",
                "folder",
                "uid",
                "headers",
            ),
        ),
        ChainedTable("monitoring_gap", key=("site", "source", "start"), data=("end", "reason")),
        ChainedTable("policy_version", key=("version", "site"), data=("policy_json", "created_at")),
    )
}
UNHASHED = frozenset({"id", "call_pk", *CHAIN_COLUMNS})
# The order a writer appends in does not matter to verification; this is the order of `slamon audit
# verify`'s listing only.
CHAINED_TABLES = tuple(CHAINED)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# The same output without sorting, for bodies built in sorted order (content_hash): a third faster.
_PRESORTED = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def canonical(table_name: str, key: Sequence[Any], seq: int, data: Mapping[str, Any]) -> bytes:
    body = {"table": table_name, "key": list(key), "seq": seq, "data": data}
    return _CANONICAL.encode(body).encode()


def link_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


@dataclass(frozen=True, slots=True)
class _Plan:
    key: tuple[tuple[str, type], ...]
    data: tuple[tuple[str, type | None], ...]  # sorted by name; type None: a reference, taken as is


@cache
def _plan(table_name: str) -> _Plan:
    """Each hashed field with the Python type its column hands back (see the module docstring)."""
    spec = CHAINED[table_name]
    cols = table(table_name).c

    def python_type(name: str) -> type:
        # call_evidence's site/call_id live on the call table.
        col = cols[name] if name in cols else table("call").c[name]
        sql_type = getattr(col.type, "impl", col.type)  # sqlmodel's AutoString wraps String
        found: type = sql_type.python_type
        if found not in (float, int, bool, str):  # pragma: no cover - needs a deliberate choice
            raise TypeError(f"{table_name}.{name}: no canonical form for {col.type!r}")
        return found

    data: list[tuple[str, type | None]] = [(f, python_type(f)) for f in spec.data]
    data += [(ref, None) for ref in spec.refs]
    return _Plan(tuple((k, python_type(k)) for k in spec.key), tuple(sorted(data)))


def content_hash(
    table_name: str,
    values: Mapping[str, Any],
    seq: int,
    prev_hash: str,
    refs: Mapping[str, Any] | None = None,
    key: Sequence[Any] | None = None,
) -> str:
    """``record_hash`` of a record whose data fields (and key fields, unless ``key`` is given) are in
    ``values``: a row dict being inserted, or a row read back. Same bytes as :func:`canonical`,
    built for speed: it runs once per stored row."""
    plan = _plan(table_name)
    if key is None:
        key = [values[k] for k, _ in plan.key]
    key_out = [v if v is None or type(v) is t else t(v) for v, (_, t) in zip(key, plan.key, strict=True)]
    data: dict[str, Any] = {}
    for f, t in plan.data:
        if t is None:
            data[f] = None if refs is None else refs.get(f)
        else:
            v = values[f]
            data[f] = v if v is None or type(v) is t else t(v)
    body = {"data": data, "key": key_out, "seq": seq, "table": table_name}
    return hashlib.sha256(bytes.fromhex(prev_hash) + _PRESORTED.encode(body).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainHead:
    seq: int
    hash: str


def read_head(session: Session) -> ChainHead | None:
    """The stored head, without locking (readers: export, verify)."""
    head = table("chain_head")
    row = session.execute(head.select().where(head.c.id == 1)).first()
    return None if row is None else ChainHead(int(row.seq), str(row.hash))


class ChainAppender:
    """Appends records to the chain inside the session's current transaction.

    Construct it before reading anything the append depends on (what is already stored): the lock it
    takes is what makes that read and the append one atomic step against other writers. Call
    :meth:`link` for each new row, insert the rows, then :meth:`close` to move the head.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        head = table("chain_head")
        # A no-op UPDATE as the lock: it is the first write of the transaction, so on SQLite it takes
        # the database write lock before anything is read (a read first would make a concurrent
        # commit fail this transaction with SQLITE_BUSY instead of waiting for it); on PostgreSQL it
        # locks the row until commit, and READ COMMITTED hands back the latest committed head.
        row = session.execute(
            update(head).where(head.c.id == 1).values(seq=head.c.seq).returning(head.c.seq, head.c.hash)
        ).first()
        if row is None:
            raise ChainError(
                "the evidence chain has no head row (chain_head id 1): run `slamon audit verify`"
            )
        self.seq = int(row.seq)
        self.hash = str(row.hash)
        self._start = self.seq

    @property
    def appended(self) -> int:
        return self.seq - self._start

    def link(
        self,
        table_name: str,
        row: dict[str, Any],
        refs: Mapping[str, Any] | None = None,
        key: Sequence[Any] | None = None,
    ) -> dict[str, Any]:
        """Give ``row`` the next position and its hashes (in place); returns it. ``row`` holds the
        table's data fields and, unless ``key`` is given (call_evidence: its call's site and call id
        are not columns of the row), its key fields."""
        self.seq += 1
        record_hash = content_hash(table_name, row, self.seq, self.hash, refs, key)
        row["chain_seq"] = self.seq
        row["prev_hash"] = self.hash
        row["record_hash"] = record_hash
        self.hash = record_hash
        return row

    def close(self) -> ChainHead:
        """Record the new head (one UPDATE per batch); a no-op when nothing was appended."""
        if self.appended:
            head = table("chain_head")
            self._session.execute(update(head).where(head.c.id == 1).values(seq=self.seq, hash=self.hash))
            self._start = self.seq
        return ChainHead(self.seq, self.hash)
