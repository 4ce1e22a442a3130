"""Helpers of the AMI fuzz tests: real captures as (time, bytes) items, run through the live parser,
pipeline, call service and tracker exactly as the daemon and ``slamon replay`` run them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from adapters.asterisk.captures import iter_jsonl
from adapters.asterisk.framing import AmiMessage, AmiParser
from adapters.asterisk.pipeline import AmiCallPipeline
from monitor.bootstrap import call_service
from monitor.config import Settings, open_24_7_site
from monitor.domain.calls import CompletedCall
from tests.paths import ASTERISK, scenarios

KEY = b"fuzz-hmac-key-0123456789abcdef"
Item = tuple[float, bytes]


@dataclass
class Run:
    parser: AmiParser
    pipeline: AmiCallPipeline
    completed: list[CompletedCall]
    live_after: int  # calls still open when the input ended (before close_all)

    @property
    def figures(self) -> list[dict[str, Any]]:
        """Every figure of every call, in the order the calls closed (evidence excluded)."""
        return [c.record.to_dict() for c in self.completed]

    def by_call(self) -> dict[str, dict[str, Any]]:
        return {c.record.call_id: c.record.to_dict() for c in self.completed}


def scenario_names() -> list[str]:
    return [s["name"] for s in scenarios()]


def scenario(name: str) -> dict[str, Any]:
    return next(s for s in scenarios() if s["name"] == name)


@cache
def capture_items(name: str) -> tuple[Item, ...]:
    """One item per recorded message (the banner first), with its receive time."""
    path = ASTERISK / scenario(name)["capture_jsonl"]
    return tuple((t, raw.encode("utf-8")) for t, raw in iter_jsonl(path))


def _service(out: list[CompletedCall]) -> AmiCallPipeline:
    settings = Settings(site=[open_24_7_site("detroit")])
    return AmiCallPipeline(call_service(settings, settings.site[0], KEY, [out.append]))


def run_messages(messages: list[tuple[AmiMessage, float]], parser: AmiParser | None = None) -> Run:
    out: list[CompletedCall] = []
    pipeline = _service(out)
    for message, t in messages:
        pipeline.on_message(message, t)
    return _finish(parser or AmiParser(), pipeline, out)


def feed(
    items: list[Item] | tuple[Item, ...], parser: AmiParser | None = None
) -> tuple[AmiParser, AmiCallPipeline, list[CompletedCall]]:
    """Feed each item as one read, stamped with its time (as the live source does); calls stay open."""
    parser = parser or AmiParser()
    out: list[CompletedCall] = []
    pipeline = _service(out)
    for t, data in items:
        for message in parser.feed(data):
            pipeline.on_message(message, t)
    return parser, pipeline, out


def run_items(items: list[Item] | tuple[Item, ...], parser: AmiParser | None = None) -> Run:
    """``feed``, then what a shutdown does."""
    return _finish(*feed(items, parser))


def _finish(parser: AmiParser, pipeline: AmiCallPipeline, out: list[CompletedCall]) -> Run:
    live = len(pipeline.service.tracker.live_calls)
    # What a shutdown does: nothing open is lost, it is closed and flagged approximate.
    pipeline.service.close_all(pipeline.last_event_at or 0.0, reason="end_of_input")
    return Run(parser, pipeline, out, live)


def messages_with_times(items: list[Item] | tuple[Item, ...]) -> list[tuple[AmiMessage, float]]:
    parser = AmiParser()
    return [(m, t) for t, data in items for m in parser.feed(data)]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, prev = [], 0
    for p in points:
        pieces.append(data[prev:p])
        prev = p
    pieces.append(data[prev:])
    return pieces
