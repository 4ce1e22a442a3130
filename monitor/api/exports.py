"""Streamed exports: calls, inquiries and breaches as CSV or JSON Lines, oldest first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import StreamingResponse

from monitor.api.breaches import thresholds
from monitor.api.deps import AuditorRole, ContextDep, site_zone
from monitor.api.filters import BreachFilterDep, CallFilterDep, InquiryFilterDep
from monitor.api.inquiries import site_calendars
from monitor.api.schemas import ErrorPublic
from monitor.service.exports import MEDIA_TYPES, Format, export_breaches, export_calls, export_inquiries

FormatPath = Annotated[Literal["csv", "jsonl"], Path(description="csv or jsonl")]

router = APIRouter(
    prefix="/api/v1/export",
    tags=["exports"],
    responses={
        401: {"model": ErrorPublic, "description": "Missing or unknown token"},
        403: {"model": ErrorPublic, "description": "The token's role may not read this"},
    },
)


def _content(example_csv: str, example_jsonl: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "The file, streamed (CSV with a header line, or one JSON object per line).",
            "content": {
                "text/csv": {"schema": {"type": "string"}, "example": example_csv},
                "application/x-ndjson": {"schema": {"type": "string"}, "example": example_jsonl},
            },
        }
    }


def _stream(name: str, fmt: Format, chunks: Iterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        chunks,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


@router.get(
    "/calls.{fmt}",
    response_class=StreamingResponse,
    summary="Export calls",
    description="Every matching call, oldest first: CSV (masked caller, epoch seconds and the local arrival "
    "time, the recorded SLA results) or JSON Lines (the call record as measured). Streamed in constant "
    "memory. Role: auditor.",
    responses=_content(
        "call_id,site,direction,caller,...\n1795498999.0,detroit,inbound,+1313555****,...\n",
        '{"call_id":"1795498999.0","site":"detroit","caller":"+1313555****",...}\n',
    ),
)
def export_calls_file(
    fmt: FormatPath,
    ctx: ContextDep,
    _role: AuditorRole,
    f: CallFilterDep,
) -> StreamingResponse:
    return _stream("calls", fmt, export_calls(ctx.engine, f, fmt, lambda s: site_zone(ctx, s)))


@router.get(
    "/inquiries.{fmt}",
    response_class=StreamingResponse,
    summary="Export inquiries",
    description="Every matching inquiry, oldest first: the inquiry item per JSON line, or CSV (evidence as "
    "a count of messages). Role: auditor.",
    responses=_content(
        "inquiry_id,site,mailbox,kind,customer,...\na1b2c3d4e5f60718,detroit,service,internet_inquiry,"
        "j***@example.com,...\n",
        '{"inquiry_id":"a1b2c3d4e5f60718","site":"detroit","customer":"j***@example.com",...}\n',
    ),
)
def export_inquiries_file(
    fmt: FormatPath,
    ctx: ContextDep,
    _role: AuditorRole,
    f: InquiryFilterDep,
) -> StreamingResponse:
    chunks = export_inquiries(ctx.engine, f, fmt, lambda s: site_zone(ctx, s), site_calendars(ctx))
    return _stream("inquiries", fmt, chunks)


@router.get(
    "/breaches.{fmt}",
    response_class=StreamingResponse,
    summary="Export breaches",
    description="Every matching breach (as in GET /api/v1/breaches), oldest subject first. Role: auditor.",
    responses=_content(
        "subject_kind,subject_id,site,standard,result,...\ncall,1795499149.8,detroit,answer_rings,breached,...\n",
        '{"subject_kind":"call","subject_id":"1795499149.8","standard":"answer_rings",...}\n',
    ),
)
def export_breaches_file(
    fmt: FormatPath,
    ctx: ContextDep,
    _role: AuditorRole,
    f: BreachFilterDep,
) -> StreamingResponse:
    chunks = export_breaches(ctx.engine, f, fmt, lambda s: site_zone(ctx, s), thresholds(ctx))
    return _stream("breaches", fmt, chunks)
