"""Counting bad input by reason, with logs that cannot flood.

Every adapter that drops or repairs input (AMI framing and translation, MIME parsing) reports it
here: the count per reason is exact, while the log gets the first occurrence of each reason and
then at most one line per reason every ``every_s`` seconds, saying how many were not logged in
between. A PBX or mailbox sending thousands of bad messages a second therefore costs a few log
lines, not thousands.

Callers pass a ``detail`` that is safe to log: sizes, header *names*, exception types. Never message
content: it carries customers' numbers, addresses and names.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["Rejections"]


class Rejections:
    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        *,
        every_s: float = 60.0,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.by_reason: dict[str, int] = {}
        self._log = logger
        self._what = what
        self._every_s = every_s
        self._level = level
        self._clock = clock
        self._next_log: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    def add(self, reason: str, detail: str = "", n: int = 1) -> None:
        count = self.by_reason.get(reason, 0) + n
        self.by_reason[reason] = count
        now = self._clock()
        due = self._next_log.get(reason)
        if due is not None and now < due:
            self._unlogged[reason] = self._unlogged.get(reason, 0) + n
            return
        self._next_log[reason] = now + self._every_s
        unlogged = self._unlogged.pop(reason, 0)
        self._log.log(
            self._level,
            "%s: %s%s (%d so far; %d since the last report; next report of this reason in %.0fs at the "
            "earliest)",
            self._what,
            reason,
            f" - {detail}" if detail else "",
            count,
            unlogged + n,
            self._every_s,
        )
