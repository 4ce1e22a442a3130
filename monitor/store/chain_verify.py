"""Verifying the evidence chain (``slamon audit verify``): walk every chained record in ``chain_seq``
order, recompute its hash and its link to the record before it, and name the first one that is wrong.

What each finding means:

- ``record missing``: no record holds a position below the last one (deleted), or the chain head says
  the chain is longer than the records are (the last records deleted);
- ``reordered``: a record is chained to (its ``prev_hash`` is the hash of) a record that now sits
  elsewhere: positions were swapped or renumbered;
- ``content edited``: a record's content no longer gives its ``record_hash``;
- ``rewritten``: a record's content *and* ``record_hash`` were changed consistently, which the next
  record's ``prev_hash`` still exposes;
- ``prev_hash mismatch``: a record's own ``prev_hash`` was changed;
- ``duplicate position``, ``outside the chain`` (``chain_seq`` 0: written around slamon), ``after
  the chain head`` (appended without moving the head), ``head mismatch``, ``anchor mismatch`` (the
  chain no longer holds a head recorded earlier, e.g. in an export's manifest).

An unkeyed hash chain shows changes made by anyone who did not rewrite everything after them, head
included; a head recorded outside the database (an export's manifest, ``--expect``) closes that gap.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from monitor.store.chain import (
    CHAIN_COLUMNS,
    CHAINED,
    CHAINED_TABLES,
    GENESIS,
    ChainHead,
    content_hash,
    read_head,
)
from monitor.store.tables import table

WINDOW = 5000  # positions read per round: memory stays flat whatever the size of the chain


@dataclass(frozen=True, slots=True)
class ChainRecord:
    table: str
    key: tuple[Any, ...]
    seq: int
    prev_hash: str
    record_hash: str
    values: dict[str, Any] = field(repr=False)
    refs: dict[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in zip(CHAINED[self.table].key, self.key, strict=True))
        return f"{self.table}({fields})"

    def recomputed(self) -> str:
        return content_hash(self.table, self.values, self.seq, self.prev_hash, self.refs)


@dataclass(frozen=True, slots=True)
class ChainBreak:
    seq: int
    problem: str
    detail: str
    record: str | None = None  # table(key=value, ...) when the broken record exists

    def __str__(self) -> str:
        where = f"{self.record} at seq {self.seq}" if self.record else f"seq {self.seq}"
        return f"{where}: {self.problem}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    records: int  # records verified before the first break (all of them when intact)
    head: ChainHead  # the last verified record's position and hash
    broken: ChainBreak | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None


def verify_chain(session: Session, expect: ChainHead | None = None, window: int = WINDOW) -> VerifyReport:
    walk = _Walk(session, expect)
    broken = walk.run(window)
    return VerifyReport(walk.count, ChainHead(walk.prev.seq if walk.prev else 0, walk.prev_hash), broken)


class _Walk:
    def __init__(self, session: Session, expect: ChainHead | None) -> None:
        self.session = session
        self.expect = expect
        self.count = 0
        self.prev: ChainRecord | None = None
        self.prev_hash = GENESIS

    def run(self, window: int) -> ChainBreak | None:
        stored = read_head(self.session)
        if stored is None:
            return ChainBreak(0, "head missing", "the chain_head row (id 1) is gone")
        last = max([stored.seq, *(self._max_seq(name) for name in CHAINED_TABLES)])
        for lo in range(1, last + 1, window):
            for rec in records_between(self.session, lo, lo + window):
                found = self._check(rec)
                if found is not None:
                    return found
                self.count += 1
                self.prev, self.prev_hash = rec, rec.record_hash
        return self._check_end(stored)

    def _check(self, rec: ChainRecord) -> ChainBreak | None:
        expected = (self.prev.seq if self.prev else 0) + 1
        if self.prev is not None and rec.seq == self.prev.seq:
            detail = f"{self.prev.name} holds the same position"
            return ChainBreak(rec.seq, "duplicate position", detail, rec.name)
        if rec.seq > expected:
            after = (
                f"after {self.prev.name} (seq {self.prev.seq})" if self.prev else "at the start of the chain"
            )
            detail = f"no record at seq {expected}, {after} and before {rec.name} (seq {rec.seq}): deleted"
            return ChainBreak(expected, "record missing", detail)
        recomputed = rec.recomputed()
        if rec.prev_hash != self.prev_hash:
            holder = self._holder_of(rec.prev_hash)
            if holder is not None and holder.seq != rec.seq - 1:
                detail = f"it was chained after {holder.name}, which now sits at seq {holder.seq}"
                return ChainBreak(rec.seq, "reordered", detail, rec.name)
            if recomputed == rec.record_hash and self.prev is not None:
                detail = (
                    f"its content and record_hash were changed together: {rec.name} (seq {rec.seq}) "
                    f"was chained to record_hash {rec.prev_hash[:16]}..., it now has {self.prev_hash[:16]}..."
                )
                return ChainBreak(self.prev.seq, "rewritten", detail, self.prev.name)
            detail = (
                f"prev_hash {rec.prev_hash[:16]}... is not the record_hash before it "
                f"({self.prev_hash[:16]}...): its prev_hash was changed"
            )
            return ChainBreak(rec.seq, "prev_hash mismatch", detail, rec.name)
        if recomputed != rec.record_hash:
            detail = f"stored record_hash {rec.record_hash[:16]}..., content gives {recomputed[:16]}..."
            return ChainBreak(rec.seq, "content edited", detail, rec.name)
        if self.expect is not None and rec.seq == self.expect.seq and rec.record_hash != self.expect.hash:
            detail = (
                f"the expected head hash is {self.expect.hash[:16]}..., "
                f"the chain has {rec.record_hash[:16]}...: rewritten up to here"
            )
            return ChainBreak(rec.seq, "anchor mismatch", detail, rec.name)
        return None

    def _check_end(self, stored: ChainHead) -> ChainBreak | None:
        last_seq = self.prev.seq if self.prev else 0
        if stored.seq > last_seq:
            detail = (
                f"the chain head says the chain ends at seq {stored.seq}; the last record is seq {last_seq}"
            )
            return ChainBreak(last_seq + 1, "record missing", detail)
        if stored.seq < last_seq:
            beyond = next(records_between(self.session, stored.seq + 1, stored.seq + 2), None)
            detail = (
                f"the chain head is at seq {stored.seq}: this record was appended around the chain's lock"
            )
            return ChainBreak(stored.seq + 1, "after the chain head", detail, beyond.name if beyond else None)
        if stored.hash != self.prev_hash:
            detail = (
                f"chain_head.hash {stored.hash[:16]}... is not the last record's {self.prev_hash[:16]}..."
            )
            return ChainBreak(stored.seq, "head mismatch", detail)
        if self.expect is not None and self.expect.seq > last_seq:
            detail = f"the expected head is seq {self.expect.seq}; the chain ends at seq {last_seq}"
            return ChainBreak(last_seq + 1, "anchor mismatch", detail)
        for name in CHAINED_TABLES:
            outside = _first(self.session, name, _select(name).where(table(name).c.chain_seq <= 0))
            if outside is not None:
                detail = "chain_seq 0: stored without going through the chain (a direct INSERT)"
                return ChainBreak(outside.seq, "outside the chain", detail, outside.name)
        return None

    def _max_seq(self, name: str) -> int:
        value = self.session.execute(select(func.max(table(name).c.chain_seq))).scalar()
        return int(value or 0)

    def _holder_of(self, record_hash: str) -> ChainRecord | None:
        """The record with this hash, if any (a full scan: only run once, on a break)."""
        for name in CHAINED_TABLES:
            found = _first(self.session, name, _select(name).where(table(name).c.record_hash == record_hash))
            if found is not None:
                return found
        return None


def records_between(session: Session, lo: int, hi: int) -> Iterator[ChainRecord]:
    """Chained records with ``lo <= chain_seq < hi`` from every table, in position order (a table's
    rank breaks ties, so a duplicate position is seen next to the record it duplicates)."""
    per_table = []
    for rank, name in enumerate(CHAINED_TABLES):
        seq = table(name).c.chain_seq
        stmt = _select(name).where(seq >= lo, seq < hi).order_by(seq)
        per_table.append([(rec.seq, rank, rec) for rec in _records(session, name, stmt)])
    for _, _, rec in heapq.merge(*per_table, key=lambda item: (item[0], item[1])):
        yield rec


def _select(name: str) -> Select[Any]:
    t = table(name)
    own = [c for c in t.c if c.name != "id"]
    if name == "call_evidence":
        call = table("call")
        return select(*own, call.c.site, call.c.call_id).select_from(
            t.outerjoin(call, t.c.call_pk == call.c.id)
        )
    if name == "sla_evaluation":
        call = table("call")
        return select(*own, call.c.site.label("call_site"), call.c.call_id.label("call_call_id")).select_from(
            t.outerjoin(call, t.c.call_pk == call.c.id)
        )
    return select(*own)


def _records(session: Session, name: str, stmt: Select[Any]) -> list[ChainRecord]:
    spec = CHAINED[name]
    out = []
    for row in session.execute(stmt).mappings():
        values = dict(row)
        refs: dict[str, Any] = {}
        if name == "sla_evaluation":
            refs["call"] = (
                None if values["call_pk"] is None else [values["call_site"], values["call_call_id"]]
            )
        out.append(
            ChainRecord(
                table=name,
                key=tuple(values[k] for k in spec.key),
                seq=int(values[CHAIN_COLUMNS[0]]),
                prev_hash=str(values["prev_hash"]),
                record_hash=str(values["record_hash"]),
                values=values,
                refs=refs,
            )
        )
    return out


def _first(session: Session, name: str, stmt: Select[Any]) -> ChainRecord | None:
    found = _records(session, name, stmt.limit(1))
    return found[0] if found else None
