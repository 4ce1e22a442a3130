"""The tracker against the synthetic generator's ground truth: thousands of interleaved calls of every
scenario (queue, rollover, offline phone, abandon, holds, blind and attended transfers, direct dial,
voicemail, night routing, internal and outbound calls), with the exact event shapes of the captures."""

from __future__ import annotations

import pytest

from adapters.asterisk.framing import AmiParser
from adapters.asterisk.pipeline import AmiCallPipeline
from adapters.asterisk.synthetic import ExpectedCall, TrafficGenerator, TrafficProfile
from monitor.bootstrap import call_service
from monitor.config import Settings, open_24_7_site
from monitor.domain.calls import CallRecord, CompletedCall
from monitor.domain.privacy import key_number

KEY = b"synthetic-test-key-0123456789"
EPS = 0.005


def expected_outcome(exp: ExpectedCall) -> str:
    if exp.scenario == "after_hours":
        return "after_hours"  # the PBX's night routing: straight to voicemail, no queue, no advisor
    if exp.direction == "outbound" and exp.outcome == "failed":
        return "missed"  # slamon: an outbound call nobody picked up
    return exp.outcome


def check(record: CallRecord, exp: ExpectedCall) -> None:
    assert record.direction == exp.direction
    assert record.outcome == expected_outcome(exp)
    assert record.arrived_at == pytest.approx(exp.arrived_at, abs=EPS)
    if exp.direction == "inbound":
        assert record.answered_by == exp.answered_by
        assert record.caller_key == key_number(KEY, exp.caller_number)
    if exp.answered_at is None or exp.direction == "internal":
        assert exp.direction == "internal" or record.answered_at is None
    else:
        assert record.answered_at == pytest.approx(exp.answered_at, abs=EPS)
    if exp.queue_wait_s is None:
        assert record.queue_wait_s is None
    else:
        assert record.queue_wait_s == pytest.approx(exp.queue_wait_s, abs=EPS)
    if exp.direction == "inbound":
        got = [(leg.agent, leg.reached_ringing, leg.answered) for leg in record.legs]
        assert got == [(leg.agent, leg.reached_ringing, leg.answered) for leg in exp.legs]
        assert [leg.ring_s for leg in record.legs] == pytest.approx([leg.ring_s for leg in exp.legs], abs=EPS)
    assert [(h.by,) for h in record.holds] == [(h.by,) for h in exp.holds]
    assert [h.start for h in record.holds] == pytest.approx([h.start for h in exp.holds], abs=EPS)
    assert [h.end for h in record.holds] == pytest.approx([h.end for h in exp.holds], abs=EPS)
    assert [(t.kind, t.from_agent, t.to) for t in record.transfers] == [
        (t.kind, t.from_agent, t.to_agent) for t in exp.transfers
    ]
    if exp.direction == "outbound":
        assert record.caller_key == key_number(KEY, exp.dialed)
        assert exp.dialed not in str(record.to_dict())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tracker_matches_generator_ground_truth(seed: int) -> None:
    settings = Settings(site=[open_24_7_site("x")])
    out: list[CompletedCall] = []
    service = call_service(settings, settings.site[0], KEY, [out.append])
    pipeline = AmiCallPipeline(service)
    generator = TrafficGenerator(TrafficProfile(calls_per_hour=150), seed=seed, start=1.8e9)
    parser = AmiParser(expect_banner=False)
    for t, raw in generator.calls(300):
        for message in parser.feed(raw.encode()):
            pipeline.on_message(message, t)
    assert parser.parse_errors == 0
    assert service.tracker.live_calls == {}
    records = {c.record.call_id: c.record for c in out}
    assert len(out) == len(records) == len(generator.expected) == 300
    scenarios = {exp.scenario for exp in generator.expected}
    assert {"queue", "direct", "outbound", "internal"} <= scenarios
    for exp in generator.expected:
        check(records[exp.call_id], exp)
