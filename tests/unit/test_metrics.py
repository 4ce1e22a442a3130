"""SlamonMetrics and its scrape-time gauges on a fresh registry, with fake probes (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from monitor.domain.calls import CallRecord, CompletedCall, Hold
from monitor.domain.live import LiveCall
from monitor.metrics import IdleMailbox, InquiryState, SiteThresholds, SlamonMetrics

NOW = 1_795_499_000.0


@dataclass
class FakeSite:
    site: str = "detroit"
    calls: list[LiveCall] = field(default_factory=list)
    open: bool = True

    def live(self, now: float) -> Sequence[LiveCall]:
        return self.calls

    def business_open(self, now: float) -> bool:
        return self.open


@dataclass(frozen=True)
class FakeInquiry:
    kind: str
    business_seconds_elapsed: float
    at_risk: bool = False
    first_human_reply_at: float | None = None


@dataclass
class FakeMailbox:
    site: str = "detroit"
    mailbox: str = "service"
    kind: str = "internet_inquiry"
    items: list[FakeInquiry] = field(default_factory=list)

    def inquiries(self, now: float) -> Iterable[InquiryState]:
        return self.items


class BrokenSite(FakeSite):
    def live(self, now: float) -> Sequence[LiveCall]:
        raise RuntimeError("tracker exploded")


def _metrics(*sites: SiteThresholds) -> SlamonMetrics:
    return SlamonMetrics(sites or (SiteThresholds("detroit"),), clock=lambda: NOW, process=False)


def _value(m: SlamonMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def _call(state: str, since: float, rings: int = 0, queue: str = "service", hold: float = 0.0) -> LiveCall:
    return LiveCall("1795498999.1", queue, state, since, rings, hold, "201")  # type: ignore[arg-type]


def test_a_caller_ringing_19_s_shows_19_s_and_4_rings_at_the_scrape() -> None:
    m = _metrics()
    site = FakeSite(calls=[_call("waiting", 19.0, 4), _call("ringing", 7.0, 2, queue="")])
    m.add_site(site)
    assert _value(m, "slamon_longest_ringing_call_seconds", site="detroit", queue="service") == 19.0
    assert _value(m, "slamon_longest_ringing_call_rings", site="detroit", queue="service") == 4
    assert _value(m, "slamon_calls_ringing", site="detroit", queue="service") == 1
    assert _value(m, "slamon_calls_waiting", site="detroit", queue="service") == 1
    assert _value(m, "slamon_longest_waiting_call_seconds", site="detroit", queue="service") == 19.0
    assert _value(m, "slamon_calls_ringing", site="detroit", queue="direct") == 1
    assert _value(m, "slamon_calls_waiting", site="detroit", queue="direct") == 0
    assert _value(m, "slamon_business_open", site="detroit") == 1


def test_a_queue_seen_once_keeps_reporting_zero_and_its_counters_exist() -> None:
    m = _metrics()
    site = FakeSite(calls=[_call("waiting", 3.0, 1)])
    m.add_site(site)
    assert _value(m, "slamon_calls_total", site="detroit", queue="service", outcome="abandoned") is None
    assert _value(m, "slamon_calls_waiting", site="detroit", queue="service") == 1  # the scrape sees it
    assert _value(m, "slamon_calls_total", site="detroit", queue="service", outcome="abandoned") == 0
    site.calls = []
    assert _value(m, "slamon_calls_waiting", site="detroit", queue="service") == 0
    assert _value(m, "slamon_longest_ringing_call_seconds", site="detroit", queue="service") == 0


def test_holds_and_talking_calls() -> None:
    m = _metrics()
    m.add_site(
        FakeSite(calls=[_call("on_hold", 80.0, hold=31.5), _call("on_hold", 50, hold=4), _call("talking", 9)])
    )
    assert _value(m, "slamon_calls_on_hold", site="detroit") == 2
    assert _value(m, "slamon_longest_current_hold_seconds", site="detroit") == 31.5
    assert _value(m, "slamon_calls_ringing", site="detroit", queue="service") == 0


def test_a_failing_probe_loses_only_its_own_samples() -> None:
    m = _metrics(SiteThresholds("detroit"), SiteThresholds("lansing"))
    m.add_site(BrokenSite(site="detroit"))
    m.add_site(FakeSite(site="lansing", open=False))
    assert _value(m, "slamon_business_open", site="lansing") == 0
    assert _value(m, "slamon_calls_ringing", site="detroit", queue="direct") is None


def test_inquiry_gauges_count_only_unanswered_ones() -> None:
    m = _metrics()
    box = FakeMailbox(
        items=[
            FakeInquiry("internet_inquiry", 3000.0, at_risk=True),
            FakeInquiry("internet_inquiry", 600.0),
            FakeInquiry("internet_inquiry", 5000.0, at_risk=True, first_human_reply_at=NOW - 10),
            FakeInquiry("written", 4000.0),
        ]
    )
    m.add_mailbox(box)
    labels = {"site": "detroit", "mailbox": "service", "kind": "internet_inquiry"}
    assert _value(m, "slamon_inquiries_open", **labels) == 2
    assert _value(m, "slamon_inquiries_at_risk", **labels) == 1
    assert _value(m, "slamon_oldest_open_inquiry_business_seconds", **labels) == 3000.0
    written = {**labels, "kind": "written"}
    assert _value(m, "slamon_inquiries_open", **written) == 1
    box.items = []  # a kind seen once keeps its series, at 0
    assert _value(m, "slamon_inquiries_open", **written) == 0
    assert _value(m, "slamon_oldest_open_inquiry_business_seconds", **labels) == 0


def test_a_configured_mailbox_reports_zeros_before_any_inquiry() -> None:
    m = _metrics()
    m.add_mailbox(IdleMailbox("detroit", "letters", "written"))
    labels = {"site": "detroit", "mailbox": "letters", "kind": "written"}
    for name in (
        "slamon_inquiries_open",
        "slamon_inquiries_at_risk",
        "slamon_oldest_open_inquiry_business_seconds",
    ):
        assert _value(m, name, **labels) == 0
    assert _value(m, "slamon_inquiry_first_reply_business_seconds_count", **labels) == 0


def test_buckets_include_every_sites_thresholds() -> None:
    m = _metrics(
        SiteThresholds("detroit"), SiteThresholds("leeds", answer_s=9.0, hold_s=45.0, first_reply_s=1234.0)
    )
    text = m.registry.get_sample_value
    m.prepare_queue("leeds", "service")
    for name, le in (
        ("slamon_call_time_to_answer_seconds_bucket", "18.0"),
        ("slamon_call_time_to_answer_seconds_bucket", "9.0"),
        ("slamon_queue_wait_seconds_bucket", "9.0"),
        ("slamon_queue_wait_seconds_bucket", "18.0"),
        ("slamon_call_hold_seconds_bucket", "45.0"),
        ("slamon_call_hold_seconds_bucket", "30.0"),
    ):
        assert text(name, {"site": "leeds", "queue": "service", "le": le}) == 0, (name, le)
    m.add_mailbox(IdleMailbox("leeds", "service", "internet_inquiry"))
    for le in ("1234.0", "3600.0", "75600.0"):
        labels = {"site": "leeds", "mailbox": "service", "kind": "internet_inquiry", "le": le}
        assert text("slamon_inquiry_first_reply_business_seconds_bucket", labels) == 0
    assert _value(m, "slamon_sla_threshold_seconds", site="leeds", standard="answer_rings") == 9.0
    assert _value(m, "slamon_sla_threshold_seconds", site="detroit", standard="acknowledge") == 75600.0


def _record(**over: object) -> CompletedCall:
    fields: dict[str, object] = {
        "call_id": "1795498999.0",
        "site": "detroit",
        "direction": "inbound",
        "caller": "+1313555****",
        "caller_key": "k",
        "dialed": "600",
        "queue": "service",
        "arrived_at": NOW,
        "answered_at": NOW + 18.0,
        "ended_at": NOW + 90.0,
        "outcome": "answered",
        "answered_by": "201",
        "queue_wait_s": 16.0,
        "rings_to_answer": 3,
        "holds": [Hold(NOW + 30, NOW + 65, "201")],
        "sla": {"answer_rings": "met", "hold": "breached", "abandon": "n/a"},
    }
    fields.update(over)
    return CompletedCall(CallRecord(**fields))  # type: ignore[arg-type]


def test_observe_call_counts_evaluations_and_exact_threshold_bucket() -> None:
    m = _metrics()
    assert (
        _value(m, "slamon_sla_evaluations_total", site="detroit", standard="first_reply", result="met") == 0
    )
    m.observe_call(_record())
    m.observe_call(_record(direction="outbound"))  # not a customer-care figure
    s = {"site": "detroit"}
    assert _value(m, "slamon_calls_total", **s, queue="service", outcome="answered") == 1
    assert _value(m, "slamon_sla_evaluations_total", **s, standard="answer_rings", result="met") == 1
    assert _value(m, "slamon_sla_evaluations_total", **s, standard="hold", result="breached") == 1
    assert _value(m, "slamon_sla_evaluations_total", **s, standard="abandon", result="breached") == 0
    # exactly 18.0 s is within three US rings, and the le="18.0" bucket counts it
    assert _value(m, "slamon_call_time_to_answer_seconds_bucket", **s, queue="service", le="18.0") == 1
    assert _value(m, "slamon_call_hold_seconds_bucket", **s, queue="service", le="30.0") == 0
    assert _value(m, "slamon_call_hold_seconds_bucket", **s, queue="service", le="45.0") == 1
    assert _value(m, "slamon_queue_wait_seconds_count", **s, queue="service") == 1


def test_observe_inquiry_maps_kind_to_its_standard() -> None:
    m = _metrics()
    m.observe_inquiry("detroit", "service", "internet_inquiry", 1800.0, "met")
    m.observe_inquiry("detroit", "letters", "written", None, "breached")
    s = {"site": "detroit"}
    assert _value(m, "slamon_sla_evaluations_total", **s, standard="first_reply", result="met") == 1
    assert _value(m, "slamon_sla_evaluations_total", **s, standard="acknowledge", result="breached") == 1
    labels = {**s, "mailbox": "service", "kind": "internet_inquiry"}
    assert _value(m, "slamon_inquiry_first_reply_business_seconds_bucket", **labels, le="3600.0") == 1
    assert (
        _value(m, "slamon_inquiry_first_reply_business_seconds_count", **s, mailbox="letters", kind="written")
        is None
    )
