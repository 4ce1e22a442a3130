"""Ports: what the service layer needs from the outside world, as ``typing.Protocol``s.

Implementations live elsewhere (``monitor.store.repository`` for SQL, ``tests/fakes.py`` for tests).
Repositories never commit: whoever opened the session (the service layer, the batch writer) owns the
transaction.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.domain.calls import CompletedCall, Evidence
from monitor.domain.events import MonitoringGap

# The record in the contract's shape (CONTRACTS section 4): masked caller, never the caller key.
CallDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallPage:
    """One page of a keyset-paginated listing; ``next_cursor`` is opaque, None on the last page."""

    items: builtins.list[CallDict] = field(default_factory=builtins.list)
    next_cursor: str | None = None


class InvalidCursor(ValueError):
    """A cursor that this store did not hand out (or from a listing in the other direction)."""


class CallRepository(Protocol):
    def add(self, completed: CompletedCall, thresholds: Mapping[str, float] | None = None) -> bool:
        """Store a finished call once; False (and nothing written) if (site, call_id) is stored."""
        ...

    def get(self, site: str, call_id: str) -> tuple[CallDict, builtins.list[Evidence]] | None: ...

    def count(self, site: str | None = None) -> int: ...

    def list(
        self,
        site: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 100,
        after: str | None = None,
        *,
        newest_first: bool = False,
    ) -> CallPage:
        """Calls with ``start <= arrived_at < end`` ordered by (arrived_at, id)."""
        ...


class GapRepository(Protocol):
    def add(self, gap: MonitoringGap) -> bool:
        """Store a gap once; False if (site, source, start) is already stored."""
        ...

    def list(
        self, site: str | None = None, start: float | None = None, end: float | None = None
    ) -> builtins.list[MonitoringGap]:
        """Gaps overlapping ``[start, end)``, oldest first."""
        ...


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds for measuring intervals; unaffected by wall-clock steps."""
        ...
