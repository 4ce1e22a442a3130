"""Query parameters shared by the resources, and turning them into store filters.

``from``/``to`` accept ISO 8601 (a date, or a date-time with or without offset) or epoch seconds; a
value without an offset is local time of the ``site`` filter's zone (UTC without a site filter). Every
string is length-limited and every limit bounded, so an oversized request gets a 422, never a 500.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

from fastapi import Path, Query
from fastapi.exceptions import RequestValidationError

from monitor.api.schemas import Direction, InquiryKind, InquiryStatus, Outcome

MAX_PAGE = 1000
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refuse it here rather than fail there
_NAME: dict[str, Any] = {"max_length": 128, "pattern": NO_NUL}

SiteQ = Annotated[
    str | None,
    Query(max_length=64, pattern=NO_NUL, description="Site id (as in slamon.toml).", examples=["detroit"]),
]
FromQ = Annotated[
    datetime | None,
    Query(
        alias="from",
        description="Start of the period (inclusive). ISO 8601 or epoch seconds; without an offset, "
        "local time of the site.",
        examples=["2026-11-01", "2026-11-01T00:00:00-04:00"],
    ),
]
ToQ = Annotated[
    datetime | None,
    Query(
        description="End of the period (exclusive). ISO 8601 or epoch seconds; without an offset, local "
        "time of the site.",
        examples=["2026-12-01"],
    ),
]
LimitQ = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Page size (1..{MAX_PAGE}).")]
CursorQ = Annotated[
    str | None,
    Query(max_length=256, pattern=NO_NUL, description="The next_cursor of the previous page (opaque)."),
]
QueueQ = Annotated[str | None, Query(description="Queue name.", examples=["service"], **_NAME)]
AgentQ = Annotated[
    str | None, Query(description="The advisor who answered (answered_by).", examples=["201"], **_NAME)
]
OutcomeQ = Annotated[Outcome | None, Query(description="Call outcome.")]
DirectionQ = Annotated[Direction | None, Query(description="Call direction.")]
MailboxQ = Annotated[str | None, Query(description="Mailbox label.", examples=["service"], **_NAME)]
InquiryKindQ = Annotated[InquiryKind | None, Query(description="Inquiry kind.")]
InquiryStatusQ = Annotated[InquiryStatus | None, Query(description="Inquiry status as last evaluated.")]
IdPath = Annotated[str, Path(max_length=128, pattern=NO_NUL, description="The record's id.")]
AtRiskQ = Annotated[bool | None, Query(description="Only inquiries at risk (true) or not (false).")]


def invalid(name: str, message: str, value: Any = None) -> NoReturn:
    """A 422 shaped like FastAPI's own validation errors (so it matches the documented schema)."""
    raise RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": message, "input": value}]
    )


def epoch(value: datetime | None, zone: ZoneInfo, name: str) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    try:
        return value.timestamp()
    except (OverflowError, ValueError, OSError):
        invalid(name, "instant out of range", str(value))


def period(start: datetime | None, end: datetime | None, zone: ZoneInfo) -> tuple[float | None, float | None]:
    a, b = epoch(start, zone, "from"), epoch(end, zone, "to")
    if a is not None and b is not None and b <= a:
        invalid("to", "'to' must be after 'from'", str(end))
    return a, b
