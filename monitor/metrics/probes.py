"""What the metrics read at scrape time: ports onto live state, and the figures of each site's policy.

The daemon's objects (``SiteRuntime``, ``AmiSource``, the inquiry service) satisfy these protocols;
tests pass plain fakes. Nothing here holds personal data: probes hand over states, durations and
bounded names only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from monitor.domain.live import LiveCall

DIRECT_QUEUE = "direct"  # queue label of calls that reached an advisor without a queue
OUTCOMES = ("answered", "abandoned", "missed", "voicemail", "after_hours", "failed")
STANDARDS = ("answer_rings", "hold", "abandon", "first_reply", "acknowledge")
RESULTS = ("met", "breached")
INQUIRY_STANDARD = {"internet_inquiry": "first_reply", "written": "acknowledge"}


class SourceProbe(Protocol):
    """A connection to a PBX (``ami``) or a mailbox server (``imap``)."""

    site: str
    source: str  # ami | imap

    @property
    def up(self) -> bool: ...

    @property
    def last_event_at(self) -> float | None: ...

    @property
    def events_total(self) -> int: ...

    @property
    def parse_errors(self) -> int: ...


class SiteProbe(Protocol):
    """A site's calls in progress and its opening hours."""

    site: str

    def live(self, now: float) -> Sequence[LiveCall]: ...

    def business_open(self, now: float) -> bool: ...


class InquiryState(Protocol):
    """One inquiry as of the scrape (``monitor.domain.inquiries.InquiryView`` satisfies it)."""

    @property
    def kind(self) -> str: ...

    @property
    def first_human_reply_at(self) -> float | None: ...

    @property
    def business_seconds_elapsed(self) -> float: ...

    @property
    def at_risk(self) -> bool: ...


class InquiryProbe(Protocol):
    """A configured mailbox. ``kind`` is the kind its new messages open: its series exist (at 0)
    before any inquiry does, so rules and dashboards see the mailbox from the first scrape.
    ``inquiries`` may return every inquiry; only those still waiting for a first human reply count.
    """

    @property
    def site(self) -> str: ...

    @property
    def mailbox(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def inquiries(self, now: float) -> Iterable[InquiryState]: ...


@dataclass(frozen=True, slots=True)
class IdleMailbox:
    """A configured mailbox whose inquiries are not wired to the metrics (yet): zeros only."""

    site: str
    mailbox: str
    kind: str

    def inquiries(self, now: float) -> Iterable[InquiryState]:
        return ()


@dataclass(frozen=True, slots=True)
class SiteThresholds:
    """A site's allowances in seconds (email ones in business seconds), exported as
    ``slamon_sla_threshold_seconds`` so alert rules follow per-site policy without editing."""

    site: str
    answer_s: float = 18.0  # answer_within_rings x the ring cycle
    hold_s: float = 30.0
    first_reply_s: float = 3600.0
    acknowledge_s: float = 75600.0

    def by_standard(self) -> dict[str, float]:
        return {
            "answer_rings": self.answer_s,
            "hold": self.hold_s,
            "first_reply": self.first_reply_s,
            "acknowledge": self.acknowledge_s,
        }
