"""Streamed exports of calls, inquiries and breaches as CSV or JSON Lines, in constant memory.

Each export is a generator of byte chunks: it opens its own read session (the HTTP response outlives
the request's dependencies), walks the rows through a server-side cursor and hands out ~64 KiB at a
time, so memory stays flat whatever the number of rows. Lines are the public shapes of
:mod:`monitor.service.public`: masked numbers and addresses only.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from monitor.domain.calendar import BusinessCalendar
from monitor.service.public import (
    BREACH_CSV_COLUMNS,
    CALL_CSV_COLUMNS,
    INQUIRY_CSV_COLUMNS,
    ThresholdFor,
    breach_csv_row,
    breach_item,
    call_csv_row,
    inquiry_csv_row,
    inquiry_item,
)
from monitor.store.breaches import BreachFilter, SqlBreachQueries
from monitor.store.queries import CallFilter, InquiryFilter, SqlCallQueries, SqlInquiryQueries

Format = Literal["csv", "jsonl"]
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
CHUNK_BYTES = 64 * 1024
ZoneFor = Callable[[str], ZoneInfo]


def _chunks(lines: Iterable[str]) -> Iterator[bytes]:
    buffer: list[str] = []
    size = 0
    for line in lines:
        buffer.append(line)
        size += len(line)
        if size >= CHUNK_BYTES:
            yield "".join(buffer).encode("utf-8")
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode("utf-8")


def _csv_line(values: Sequence[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return out.getvalue()


def _jsonl_line(item: Any) -> str:
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False) + "\n"


def _cached(zone_for: ZoneFor) -> ZoneFor:
    zones: dict[str, ZoneInfo] = {}

    def get(site: str) -> ZoneInfo:
        zone = zones.get(site)
        if zone is None:
            zone = zones[site] = zone_for(site)
        return zone

    return get


def export_calls(engine: Engine, f: CallFilter, fmt: Format, zone_for: ZoneFor) -> Iterator[bytes]:
    """Calls oldest first: CSV columns :data:`CALL_CSV_COLUMNS`, or the stored call record per line
    (CONTRACTS section 4, byte for byte as measured)."""
    zone = _cached(zone_for)

    def lines() -> Iterator[str]:
        with Session(engine) as session:
            rows = SqlCallQueries(session).stream_rows(f)
            if fmt == "csv":
                yield _csv_line(CALL_CSV_COLUMNS)
                for row in rows:
                    m = row._mapping
                    yield _csv_line(call_csv_row(m, zone(m["site"])))
            else:
                for row in rows:
                    yield row.record_json + "\n"

    return _chunks(lines())


def export_inquiries(
    engine: Engine,
    f: InquiryFilter,
    fmt: Format,
    zone_for: ZoneFor,
    calendar_for: Callable[[str], BusinessCalendar | None],
) -> Iterator[bytes]:
    """Inquiries oldest first: the inquiry item of CONTRACTS section 5 per line, or CSV columns
    :data:`INQUIRY_CSV_COLUMNS` (evidence as a count of messages)."""
    zone = _cached(zone_for)

    def lines() -> Iterator[str]:
        with Session(engine) as session:
            if fmt == "csv":
                yield _csv_line(INQUIRY_CSV_COLUMNS)
            for row in SqlInquiryQueries(session).stream_rows(f):
                m = row._mapping
                item = inquiry_item(m, zone(m["site"]), calendar_for(m["site"]))
                yield _csv_line(inquiry_csv_row(item)) if fmt == "csv" else _jsonl_line(item)

    return _chunks(lines())


def export_breaches(
    engine: Engine, f: BreachFilter, fmt: Format, zone_for: ZoneFor, threshold_for: ThresholdFor | None
) -> Iterator[bytes]:
    """Breaches oldest first (by their subject's start): the breach item per line, or CSV columns
    :data:`BREACH_CSV_COLUMNS`."""
    zone = _cached(zone_for)

    def lines() -> Iterator[str]:
        with Session(engine) as session:
            if fmt == "csv":
                yield _csv_line(BREACH_CSV_COLUMNS)
            for row in SqlBreachQueries(session).stream_rows(f):
                item = breach_item(row, zone(row["site"]), threshold_for)
                yield _csv_line(breach_csv_row(item)) if fmt == "csv" else _jsonl_line(item)

    return _chunks(lines())
