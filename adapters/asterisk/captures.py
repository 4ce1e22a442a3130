"""Reading recorded AMI traffic: ``*.jsonl`` captures and raw AMI byte streams.

Both give ``(t, raw_message)`` items - the shape :class:`adapters.asterisk.simulator.AmiSimulator`
plays. A jsonl capture carries the receive time ``t`` of every message; a raw stream has no times of
its own, so ``t`` comes from the message's ``Timestamp:`` header (Asterisk ``timestampevents=yes``)
or is ``None``. The banner line is kept as the first item, like in the jsonl captures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from adapters.asterisk.framing import AmiParser

__all__ = ["CaptureError", "iter_capture", "iter_jsonl", "iter_raw_stream", "load_jsonl", "load_raw_stream"]

_CHUNK = 65536


class CaptureError(ValueError):
    """A capture file is not in the expected format."""


def iter_jsonl(path: str | Path) -> Iterator[tuple[float, str]]:
    """Items of a ``{"t": epoch, "raw": "<message>"}``-per-line capture, in file order."""
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                t, raw = float(item["t"]), item["raw"]
            except (ValueError, KeyError, TypeError) as exc:
                raise CaptureError(f"{path}:{lineno}: not a capture line ({type(exc).__name__})") from None
            if not isinstance(raw, str):
                raise CaptureError(f"{path}:{lineno}: 'raw' is not a string")
            yield t, raw


def iter_raw_stream(path: str | Path) -> Iterator[tuple[float | None, str]]:
    """Messages of a raw AMI byte stream (nothing skipped), read in chunks."""
    parser = AmiParser(skip_events=frozenset())
    banner_given = False
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            messages = parser.feed(chunk)
            if not banner_given and parser.banner_done:
                banner_given = True
                if parser.banner is not None:
                    yield None, parser.banner + "\r\n"
            for msg in messages:
                yield _timestamp(msg.headers.get("Timestamp")), msg.raw


def iter_capture(path: str | Path) -> Iterator[tuple[float | None, str]]:
    """``iter_jsonl`` for ``*.jsonl`` files, ``iter_raw_stream`` for anything else."""
    if Path(path).suffix.lower() == ".jsonl":
        yield from iter_jsonl(path)
    else:
        yield from iter_raw_stream(path)


def load_jsonl(path: str | Path) -> list[tuple[float, str]]:
    return list(iter_jsonl(path))


def load_raw_stream(path: str | Path) -> list[tuple[float | None, str]]:
    return list(iter_raw_stream(path))


def _timestamp(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None
