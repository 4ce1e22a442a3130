"""Acceptance: every capture replayed through the pipeline matches the SIP-measured ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.asterisk.pipeline import AmiCallPipeline
from adapters.asterisk.replay import replay_file
from monitor.bootstrap import call_service
from monitor.config import Settings, open_24_7_site
from monitor.domain.calls import CompletedCall
from monitor.domain.privacy import key_number
from tests.ground_truth import ExpectedCall, expected_calls, us_rings
from tests.paths import ASTERISK, scenarios

TOLERANCE_S = 0.25
KEY = b"test-hmac-key-0123456789abcdef"


def replay(path: Path) -> list[CompletedCall]:
    settings = Settings(site=[open_24_7_site("detroit")])
    out: list[CompletedCall] = []
    service = call_service(settings, settings.site[0], KEY, [out.append])
    replay_file(path, AmiCallPipeline(service))
    assert not service.tracker.live_calls, "every captured call ends inside its capture"
    return out


def _capture_files(scenario: dict[str, Any]) -> list[Path]:
    files = [ASTERISK / scenario["capture_jsonl"]]
    if scenario["name"].startswith("ts_"):
        files.append(ASTERISK / scenario["capture_raw"])  # raw streams replay only with Timestamp:
    return files


CASES = [(s["name"], path) for s in scenarios() for path in _capture_files(s)]


@pytest.mark.parametrize(("name", "path"), CASES, ids=[f"{n}-{p.suffix[1:]}" for n, p in CASES])
def test_capture_matches_sip_ground_truth(name: str, path: Path) -> None:
    scenario = next(s for s in scenarios() if s["name"] == name)
    completed = replay(path)
    inbound = [c for c in completed if c.record.direction == "inbound"]
    expected = expected_calls(scenario)
    assert len(inbound) == len(expected)
    for exp in expected:
        record = next(c.record for c in inbound if c.record.caller_key == key_number(KEY, exp.caller_number))
        check_call(record.to_dict(), exp)
        assert len(next(c for c in inbound if c.record is record).evidence) > 0


def check_call(got: dict[str, Any], exp: ExpectedCall) -> None:
    assert got["outcome"] == exp.outcome
    assert got["answered_by"] == exp.answered_by
    assert got["dialed"] == exp.dialed
    assert got["arrived_at"] == pytest.approx(exp.arrived_at, abs=TOLERANCE_S)
    if exp.time_to_answer_s is None:
        assert got["time_to_answer_s"] is None
        assert got["rings_to_answer"] is None
    else:
        assert got["time_to_answer_s"] == pytest.approx(exp.time_to_answer_s, abs=TOLERANCE_S)
        assert got["rings_to_answer"] == us_rings(got["time_to_answer_s"])
        assert abs(got["rings_to_answer"] - us_rings(exp.time_to_answer_s)) <= 1
    if exp.queue_wait_s is None:
        assert got["queue_wait_s"] is None
    else:
        assert got["queue_wait_s"] == pytest.approx(exp.queue_wait_s, abs=TOLERANCE_S)
    assert [leg["agent"] for leg in got["legs"]] == [leg.agent for leg in exp.legs]
    for leg, want in zip(got["legs"], exp.legs, strict=True):
        assert leg["ring_s"] == pytest.approx(want.ring_s, abs=TOLERANCE_S)
        assert leg["answered"] == want.answered
        assert leg["reached_ringing"] is True
    assert [h["s"] for h in got["holds"]] == pytest.approx(list(exp.holds_s), abs=TOLERANCE_S)
    if exp.holds_s and max(exp.holds_s) > 30:
        assert got["sla"]["hold"] == "breached"
    if exp.transfer_to:
        assert [(t["kind"], t["to"]) for t in got["transfers"]] == [("blind", exp.transfer_to)]
    else:
        assert got["transfers"] == []
    assert exp.caller_number not in str(got)
    assert exp.caller_number[-4:] not in got["caller"]


def test_every_capture_is_covered() -> None:
    named = {Path(p).name for _, p in CASES}
    on_disk = {p.name for p in (ASTERISK / "captures").glob("*.jsonl")}
    assert on_disk <= named


def test_raw_stream_without_timestamps_is_refused() -> None:
    from adapters.asterisk.replay import ReplayError

    with pytest.raises(ReplayError, match="Timestamp"):
        replay(ASTERISK / "captures" / "b_queue_ring12_answer.ami.txt")
