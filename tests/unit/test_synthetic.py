"""Synthetic AMI traffic: wire format against the real captures, ground truth against the events."""

from __future__ import annotations

import collections
import functools
import itertools
import json
import re
import time
from pathlib import Path

import pytest

from adapters.asterisk.synthetic import ExpectedCall, TrafficGenerator, TrafficProfile, generate_stream

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "asterisk" / "captures"
START = 1_795_500_000.0
# More of the rare scenarios, so a few hundred calls exercise every branch.
RICH = TrafficProfile(
    calls_per_hour=150,
    p_blind_transfer=0.10,
    p_attended_transfer=0.10,
    p_agent_offline=0.10,
    p_after_hours=0.04,
    p_abandon=0.5,
)
LINE = re.compile(r"[A-Za-z0-9_-]+: [^\r\n]*")

Message = tuple[float, str]
Headers = list[tuple[str, str]]


def parse(raw: str) -> Headers:
    assert raw.endswith("\r\n\r\n"), raw[-40:]
    lines = raw[:-4].split("\r\n")
    for line in lines:
        assert LINE.fullmatch(line), repr(line)
    return [(k, v) for k, _, v in (line.partition(": ") for line in lines)]


@functools.lru_cache(maxsize=4)
def run(seed: int, n: int, rich: bool = False) -> tuple[list[ExpectedCall], list[Message]]:
    gen = TrafficGenerator(RICH if rich else TrafficProfile(), seed=seed, start=START)
    messages = list(gen.calls(n))
    return gen.expected, messages


@functools.lru_cache(maxsize=4)
def parsed(seed: int, n: int, rich: bool = False) -> list[tuple[float, dict[str, str]]]:
    # First occurrence wins, as the Dest*/Channel headers never repeat within one event.
    return [(t, dict(reversed(parse(raw)))) for t, raw in run(seed, n, rich)[1]]


def by_call(seed: int, n: int, rich: bool = False) -> dict[str, list[tuple[float, dict[str, str]]]]:
    calls: dict[str, list[tuple[float, dict[str, str]]]] = collections.defaultdict(list)
    for t, h in parsed(seed, n, rich):
        # Transfer and Local channel events carry the linked id under a prefix.
        linkedid = h.get("Linkedid") or h.get("TransfereeLinkedid") or h.get("LocalOneLinkedid")
        if linkedid:
            calls[linkedid].append((t, h))
    return calls


def test_same_seed_same_bytes_other_seed_other_traffic() -> None:
    a = list(TrafficGenerator(TrafficProfile(), seed=11, start=START).calls(40))
    b = list(TrafficGenerator(TrafficProfile(), seed=11, start=START).calls(40))
    c = list(TrafficGenerator(TrafficProfile(), seed=12, start=START).calls(40))
    assert a == b
    assert a != c
    assert generate_stream(5000, seed=3) == generate_stream(5000, seed=3)


def test_messages_are_time_ordered_crlf_key_value_blocks() -> None:
    _, messages = run(1, 300)
    times = [t for t, _ in messages]
    assert times == sorted(times)
    assert times[0] >= START
    for _, raw in messages:
        assert "\n" not in raw.replace("\r\n", "")
        headers = parse(raw)
        assert headers[0][0] == "Event"
        assert headers[1][0] == "Privilege"


def test_endless_stream_keeps_going() -> None:
    gen = TrafficGenerator(TrafficProfile(calls_per_hour=600), seed=5, start=START)
    first = list(itertools.islice(gen.calls(), 20_000))
    assert len(first) == 20_000
    assert len(gen.expected) > 20
    with pytest.raises(RuntimeError):
        gen.calls()


def test_message_mix_is_dominated_by_noise_like_the_captures() -> None:
    counts = collections.Counter(h["Event"] for _, h in parsed(1, 300))
    total = sum(counts.values())
    share = {name: c / total for name, c in counts.items()}
    noise = ("VarSet", "RTCPSent", "DeviceStateChange", "Newexten", "QueueMemberStatus", "NewConnectedLine")
    assert counts.most_common(1)[0][0] == "VarSet"
    assert 0.45 <= share["VarSet"] <= 0.70
    assert 0.75 <= sum(share[n] for n in noise) <= 0.95
    top = [name for name, _ in counts.most_common(5)]
    assert {"DeviceStateChange", "Newexten", "RTCPSent"} <= set(top)


def test_every_channel_is_hung_up_and_silent_afterwards() -> None:
    for linkedid, events in by_call(2, 300, True).items():
        opened = [h["Uniqueid"] for _, h in events if h["Event"] == "Newchannel"]
        hung = [h["Uniqueid"] for _, h in events if h["Event"] == "Hangup"]
        assert sorted(opened) == sorted(hung), linkedid
        assert linkedid in opened
        dead: set[str] = set()
        for _, h in events:
            assert h.get("Uniqueid") not in dead, (linkedid, h["Event"])
            if h["Event"] == "Hangup":
                dead.add(h["Uniqueid"])


def test_sequence_numbers_increase_globally_from_the_given_start() -> None:
    gen = TrafficGenerator(RICH, seed=4, start=START, first_uniqueid_seq=100)
    uids: list[int] = []
    sip: list[int] = []
    for _, raw in gen.calls(150):
        h = dict(parse(raw))
        if h["Event"] != "Newchannel":
            continue
        epoch, seq = h["Uniqueid"].split(".")
        assert abs(int(epoch) - float(h["Uniqueid"].split(".")[0])) < 1
        uids.append(int(seq))
        if h["Channel"].startswith("SIP/"):
            sip.append(int(h["Channel"].rsplit("-", 1)[1], 16))
        else:
            assert re.fullmatch(r"Local/2\d\d@internal-[0-9a-f]{8};[12]", h["Channel"])
    assert uids[0] == 100 and sip[0] == 100
    assert uids == sorted(set(uids)) and sip == sorted(set(sip))


def test_event_shapes_are_those_of_the_real_captures() -> None:
    assert CAPTURES.is_dir(), f"shared Asterisk captures missing at {CAPTURES}"
    shapes: dict[str, set[tuple[str, ...]]] = collections.defaultdict(set)
    for path in CAPTURES.glob("[a-h]*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            raw = json.loads(line)["raw"]
            if raw.startswith("Event: "):
                shapes[raw[7 : raw.index("\r\n")]].add(tuple(k for k, _ in parse(raw)))
    seen: set[str] = set()
    for _, raw in run(2, 300, True)[1]:
        keys = tuple(k for k, _ in parse(raw))
        name = raw[7 : raw.index("\r\n")]
        if name not in shapes:
            continue  # attended transfer / Local channel / DTMF events: not in the captures
        if name == "AgentComplete" and "DestChannel" not in keys:
            continue  # after an attended transfer AgentComplete has no Dest* block (README, f2)
        assert keys in shapes[name], name
        seen.add(name)
    assert len(seen) >= 30


def test_scenarios_and_sla_breaches_are_all_present() -> None:
    calls, _ = run(2, 300, True)
    kinds = collections.Counter(c.scenario for c in calls)
    assert {"queue", "direct", "internal", "outbound", "after_hours"} <= set(kinds)
    outcomes = {c.outcome for c in calls}
    assert outcomes == {"answered", "abandoned", "missed", "voicemail", "failed"}
    queue = [c for c in calls if c.scenario == "queue"]
    assert any(len(c.legs) >= 2 and not c.legs[0].answered and c.legs[-1].answered for c in queue)
    assert any(not leg.reached_ringing for c in queue for leg in c.legs)  # unreachable phone
    assert {t.kind for c in calls for t in c.transfers} == {"blind", "attended"}
    assert any(h.end - h.start > 30 for c in calls for h in c.holds)
    assert any(leg.ring_s > 18 for c in calls for leg in c.legs)
    direct = {c.outcome for c in calls if c.scenario == "direct"}
    assert {"answered", "voicemail", "missed"} <= direct
    ordered = sorted(calls, key=lambda c: c.arrived_at)
    overlaps = sum(
        1 for a, b in itertools.pairwise(ordered) if a.ended_at is not None and b.arrived_at < a.ended_at
    )
    assert overlaps > len(calls) // 4


def test_busy_advisor_is_never_offered_a_queue_call() -> None:
    live: dict[str, set[str]] = collections.defaultdict(set)
    for _, h in parsed(2, 300, True):
        name = h["Event"]
        channel = h.get("Channel", "")
        if name == "Newchannel" and re.fullmatch(r"SIP/2\d\d-[0-9a-f]{8}", channel):
            live[channel[4:7]].add(h["Uniqueid"])
        elif name == "Hangup":
            for uids in live.values():
                uids.discard(h["Uniqueid"])
        elif name == "AgentCalled":
            ext = h["Interface"][4:]
            assert live[ext] == {h["DestUniqueid"]}, (ext, live[ext])


def _check_call(truth: ExpectedCall, events: list[tuple[float, dict[str, str]]]) -> None:
    first = events[0][1]
    assert first["Event"] == "Newchannel" and first["Uniqueid"] == truth.call_id
    assert events[0][0] == truth.arrived_at
    assert first["Channel"] == truth.caller_channel
    end = [t for t, h in events if h["Event"] == "Hangup" and h["Uniqueid"] == truth.call_id]
    assert end == [truth.ended_at]
    # Advisor legs: DialBegin -> first DialEnd of the same destination is exactly ring_s.
    begins: dict[str, float] = {}
    ringing: set[str] = set()
    legs = []
    for t, h in events:
        dest = h.get("DestChannel", "")
        if not re.fullmatch(r"SIP/2\d\d-[0-9a-f]{8}", dest):
            continue
        uid = h["DestUniqueid"]
        if h["Event"] == "DialBegin":
            begins[uid] = t
        elif h["Event"] == "DialState":
            ringing.add(uid)
        elif h["Event"] == "DialEnd" and uid in begins:
            legs.append((dest[4:7], t - begins.pop(uid), uid in ringing, h["DialStatus"] == "ANSWER"))
    assert len(legs) == len(truth.legs)
    for got, want in zip(legs, truth.legs, strict=True):
        assert got[0] == want.agent
        assert got[1] == pytest.approx(want.ring_s, abs=1e-9)
        assert got[2:] == (want.reached_ringing, want.answered)
    names = collections.Counter(h["Event"] for _, h in events)
    if truth.answered_at is not None:
        assert any(
            h["Event"] == "DialEnd" and h["DialStatus"] == "ANSWER" and t == truth.answered_at
            for t, h in events
        )
    if truth.queue_wait_s is not None:
        join = next(t for t, h in events if h["Event"] == "QueueCallerJoin")
        leave = next(t for t, h in events if h["Event"] == "QueueCallerLeave")
        assert leave - join == pytest.approx(truth.queue_wait_s, abs=1e-9)
    else:
        assert names["QueueCallerJoin"] == 0
    holds = [t for t, h in events if h["Event"] == "Hold"]
    assert holds == [h.start for h in truth.holds]
    ends = {t for t, h in events if h["Event"] in ("Unhold", "MusicOnHoldStop")}
    assert all(h.end in ends and h.end > h.start for h in truth.holds)
    transfer_times = [t for t, h in events if h["Event"] in ("BlindTransfer", "AttendedTransfer")]
    assert transfer_times == [x.at for x in truth.transfers]
    assert (names["QueueCallerAbandon"] == 1) == (truth.outcome == "abandoned")
    assert (names["MessageWaiting"] == 1) == (truth.outcome == "voicemail")
    if truth.outcome == "abandoned":
        assert truth.queue_wait_s is not None
    if truth.outcome == "answered":
        assert truth.answered_by is not None and truth.answered_at is not None


def test_ground_truth_matches_the_emitted_events() -> None:
    calls, _ = run(2, 300, True)
    grouped = by_call(2, 300, True)
    assert set(grouped) == {c.call_id for c in calls}
    for truth in calls:
        _check_call(truth, grouped[truth.call_id])


def test_bulk_stream_for_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    small = generate_stream(150_000, seed=1)
    assert small.count(b"\r\n\r\n") >= 150_000
    uids = re.findall(rb"Event: Newchannel\r\n(?:[^\r]*\r\n){13}Uniqueid: (\d+\.\d+)\r\n", small)
    chans = re.findall(rb"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: (\S+)\r\n", small)
    assert len(uids) == len(chans) > 1000
    assert len(set(uids)) == len(uids) and len(set(chans)) == len(chans)
    t0 = time.perf_counter()
    data = generate_stream(1_000_000)
    elapsed = time.perf_counter() - t0
    count = data.count(b"\r\n\r\n")
    assert count >= 1_000_000
    assert data.endswith(b"\r\n\r\n") and data.startswith(b"Event: ")
    with capsys.disabled():
        print(f"\ngenerate_stream(1_000_000): {count} messages, {len(data) / 1e6:.0f} MB in {elapsed:.2f} s")


def test_a_rebooted_pbx_numbers_channels_afresh_with_new_epochs() -> None:
    """Asterisk's Uniqueid is ``<epoch at channel creation>.<sequence since boot>``: after a reboot the
    sequence starts again at 0 and only the epoch part keeps the ids apart."""
    before = TrafficGenerator(RICH, seed=5, start=START, first_uniqueid_seq=40)
    first = list(before.calls(10))
    reboot = first[-1][0] + 20.0
    after = TrafficGenerator(RICH, seed=6, start=reboot + 8.0, booted_at=reboot)
    assert after.booted_at == reboot and before.booted_at == START - 3600
    second = list(after.calls(10))

    def uids(messages: list[Message]) -> list[tuple[float, str]]:
        return [
            (t, h["Uniqueid"])
            for t, h in ((t, dict(parse(raw))) for t, raw in messages)
            if h["Event"] == "Newchannel"
        ]

    old, new = uids(first), uids(second)
    assert old[0][1].endswith(".40") and new[0][1].endswith(".0")
    for t, uid in old + new:
        assert uid.split(".")[0] == str(int(t))  # the creation second, not the boot time
    assert all(int(uid.split(".")[0]) > reboot for _, uid in new)
    assert not {u for _, u in old} & {u for _, u in new}
    logins = {dict(parse(raw)).get("LoginTime") for _, raw in second if "QueueMemberStatus" in raw[:30]}
    assert logins == {str(int(reboot))}  # static queue members log in when the PBX boots
    with pytest.raises(ValueError):
        TrafficGenerator(RICH, seed=6, start=reboot, booted_at=reboot + 1)
