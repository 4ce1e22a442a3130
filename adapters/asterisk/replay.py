"""Offline replay of AMI captures through the live pipeline (``slamon replay``).

``*.jsonl`` captures carry a receive time per message; raw AMI byte streams carry none, so a raw
stream is accepted only when its events have ``Timestamp:`` headers (``timestampevents = yes``):
guessing times would produce figures that look exact and are not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from adapters.asterisk.framing import AmiMessage, AmiParser
from adapters.asterisk.pipeline import AmiCallPipeline
from adapters.asterisk.translate import event_time


class ReplayError(ValueError):
    pass


def read_capture(path: Path) -> Iterator[tuple[AmiMessage, float | None]]:
    """Messages of a capture with their receive time (``None`` for raw streams)."""
    parser = AmiParser()
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    t, raw = float(item["t"]), str(item["raw"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise ReplayError(
                        f"{path}:{lineno}: not a capture line ({exc.__class__.__name__})"
                    ) from None
                for message in parser.feed(raw.encode("utf-8")):
                    yield message, t
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReplayError(f"{path}: {exc.strerror}") from None
    messages = parser.feed(data)
    events = [m for m in messages if m.headers.get("Event")]
    if events and not any("Timestamp" in m.headers for m in events):
        raise ReplayError(
            f"{path}: raw AMI stream without Timestamp: headers; event times would be guessed. "
            "Record with timestampevents = yes in manager.conf, or replay the .jsonl capture."
        )
    for message in messages:
        yield message, None


def replay_file(path: Path, pipeline: AmiCallPipeline) -> int:
    """Feed one capture; returns the number of messages read."""
    count = 0
    last_t = 0.0
    for message, t in read_capture(path):
        count += 1
        received = last_t if t is None else t
        last_t = event_time(message.headers, received)
        pipeline.on_message(message, received)
    return count
