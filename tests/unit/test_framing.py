"""AMI framing: real capture streams, line endings, chunking, UTF-8, garbage and size bounds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.asterisk.framing import NOISE_EVENTS, AmiMessage, AmiParser

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CAPTURES = SHARED / "fixtures" / "asterisk" / "captures"
KEEP_ALL: frozenset[str] = frozenset()


def _stream(name: str) -> bytes:
    return (CAPTURES / f"{name}.ami.txt").read_bytes()


def _jsonl_raws(name: str) -> list[str]:
    with (CAPTURES / f"{name}.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line)["raw"] for line in fh]


def _parse_chunks(chunks: list[bytes], **kw: object) -> tuple[list[AmiMessage], AmiParser]:
    parser = AmiParser(**kw)  # type: ignore[arg-type]
    out: list[AmiMessage] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out, parser


def _split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, prev = [], 0
    for p in points:
        pieces.append(data[prev:p])
        prev = p
    pieces.append(data[prev:])
    return pieces


CAPTURE_NAMES = sorted(p.name.removesuffix(".ami.txt") for p in CAPTURES.glob("*.ami.txt"))
C_STREAM = _stream("c_queue_hold35")


@pytest.mark.parametrize("name", CAPTURE_NAMES)
def test_real_stream_splits_into_the_recorded_messages(name: str) -> None:
    msgs, parser = _parse_chunks([_stream(name)], skip_events=KEEP_ALL)
    raws = _jsonl_raws(name)
    assert parser.banner == "Asterisk Call Manager/9.0.0"
    assert raws[0] == parser.banner + "\r\n"
    assert [m.raw for m in msgs] == raws[1:]
    assert parser.parse_errors == 0
    assert parser.messages == len(raws) - 1


def test_headers_and_convenience_accessors() -> None:
    msgs, _ = _parse_chunks([C_STREAM], skip_events=KEEP_ALL)
    login = msgs[0]
    assert login.response == "Success"
    assert login.action_id == "cap-login"
    assert login.get("Message") == "Authentication accepted"
    assert login.get("Nope", "x") == "x"
    assert login.event == ""
    newchannel = next(m for m in msgs if m.event == "Newchannel")
    assert newchannel.headers["CallerIDNum"] == "+13135550103"
    assert newchannel.headers["AccountCode"] == ""  # "AccountCode: " -> empty value, not an error
    assert newchannel.multi is None
    assert "Newchannel" in repr(newchannel)


def test_noise_is_counted_not_returned() -> None:
    all_msgs, _ = _parse_chunks([C_STREAM], skip_events=KEEP_ALL)
    msgs, parser = _parse_chunks([C_STREAM])
    assert not any(m.event in {"VarSet", "RTCPSent"} for m in msgs)
    assert parser.skipped > 0
    assert parser.skipped + parser.messages == len(all_msgs)
    expected = [m for m in all_msgs if m.event not in NOISE_EVENTS or m.event == "Newexten"]
    kept_newexten = [m for m in msgs if m.event == "Newexten"]
    # Newexten survives only when it enters an application a call's outcome depends on.
    assert {m.get("Application") for m in kept_newexten} <= {"Queue", "Playback", "Answer", "Dial", "Hangup"}
    assert any(m.get("Application") == "Queue" for m in kept_newexten)
    assert [m for m in msgs if m.event != "Newexten"] == [m for m in expected if m.event != "Newexten"]


def test_newexten_into_voicemail_is_kept() -> None:
    msgs, _ = _parse_chunks([_stream("h2_after_hours_voicemail")])
    apps = [m.get("Application") for m in msgs if m.event == "Newexten"]
    assert "VoiceMail" in apps
    assert "NoOp" not in apps and "Set" not in apps


def test_repeated_keys_keep_every_value_in_order() -> None:
    data = (
        b"Event: UserEvent\r\nChanVariable: A=1\r\nChannel: SIP/1\r\nChanVariable: B=2\r\n"
        b"ChanVariable: C=3\r\nVariable: x\r\nVariable: y\r\n\r\n"
    )
    [msg], parser = _parse_chunks([data], expect_banner=False)
    assert msg.headers["ChanVariable"] == "A=1"
    assert msg.multi == {"ChanVariable": ["A=1", "B=2", "C=3"], "Variable": ["x", "y"]}
    assert msg.getall("ChanVariable") == ["A=1", "B=2", "C=3"]
    assert msg.getall("Channel") == ["SIP/1"]
    assert msg.getall("Missing") == []
    assert parser.parse_errors == 0


def test_value_containing_colon_space_is_kept_whole() -> None:
    [msg], _ = _parse_chunks([b"Response: Error\r\nMessage: a: b: c\r\n\r\n"], expect_banner=False)
    assert msg.get("Message") == "a: b: c"


def test_lf_and_mixed_line_endings_give_the_same_headers() -> None:
    crlf, _ = _parse_chunks([C_STREAM], skip_events=KEEP_ALL)
    lf, p_lf = _parse_chunks([C_STREAM.replace(b"\r\n", b"\n")], skip_events=KEEP_ALL)
    assert p_lf.banner == "Asterisk Call Manager/9.0.0"
    assert [m.headers for m in lf] == [m.headers for m in crlf]
    # Mixed: every other line ending loses its CR (including some blank-line terminators).
    lines = C_STREAM.split(b"\r\n")
    mixed = b"".join(line + (b"\r\n" if i % 2 else b"\n") for i, line in enumerate(lines[:-1])) + lines[-1]
    mx, p_mx = _parse_chunks([mixed], skip_events=KEEP_ALL)
    assert [m.headers for m in mx] == [m.headers for m in crlf]
    assert p_lf.parse_errors == p_mx.parse_errors == 0


@given(cuts=st.lists(st.integers(min_value=0, max_value=len(C_STREAM)), max_size=40))
def test_any_chunking_of_a_real_stream_gives_identical_messages(cuts: list[int]) -> None:
    whole, p1 = _parse_chunks([C_STREAM])
    chunked, p2 = _parse_chunks(_split_at(C_STREAM, cuts))
    assert chunked == whole
    assert (p2.messages, p2.skipped, p2.parse_errors, p2.banner) == (
        p1.messages,
        p1.skipped,
        p1.parse_errors,
        p1.banner,
    )


def test_one_byte_chunks_of_a_real_stream() -> None:
    stream = _stream("h2_after_hours_voicemail")
    whole, _ = _parse_chunks([stream])
    bytewise, _ = _parse_chunks([stream[i : i + 1] for i in range(len(stream))])
    assert bytewise == whole


def test_utf8_split_across_reads_is_decoded() -> None:
    data = "Event: Newchannel\r\nCallerIDName: Zoë Ünal 日本\r\n\r\n".encode()
    idx = data.index("ë".encode()) + 1  # inside the two-byte sequence
    idx2 = data.index("日".encode()) + 2  # inside the three-byte sequence
    [msg], parser = _parse_chunks([data[:idx], data[idx:idx2], data[idx2:]], expect_banner=False)
    assert msg.get("CallerIDName") == "Zoë Ünal 日本"
    assert parser.parse_errors == 0


def test_invalid_utf8_becomes_replacement_character() -> None:
    [msg], _ = _parse_chunks([b"Event: X\r\nName: a\xffb\xc3\r\n\r\n"], expect_banner=False)
    assert msg.get("Name") == "a\ufffdb\ufffd"


def test_line_without_separator_is_an_error_but_the_message_survives() -> None:
    data = b"Event: Hangup\r\ngarbage line\r\nUniqueid: 1.2\r\n\r\nEvent: Next\r\n\r\n"
    msgs, parser = _parse_chunks([data], expect_banner=False)
    assert [m.event for m in msgs] == ["Hangup", "Next"]
    assert msgs[0].get("Uniqueid") == "1.2"
    assert parser.parse_errors == 1


def test_extra_blank_lines_between_messages_are_harmless() -> None:
    data = b"Event: A\r\n\r\n\r\n\r\nEvent: B\n\n\n\nEvent: C\r\n\r\n"
    msgs, parser = _parse_chunks([data], expect_banner=False)
    assert [m.event for m in msgs] == ["A", "B", "C"]
    assert parser.parse_errors == 0


def test_banner_only_when_first_line_has_no_separator() -> None:
    _, headless = _parse_chunks([b"Event: A\r\n\r\n"])
    assert headless.banner is None and headless.banner_done
    msgs, other = _parse_chunks([b"SSH-2.0-OpenSSH_9.2\r\n"])
    assert other.banner == "SSH-2.0-OpenSSH_9.2" and msgs == []
    _, pending = _parse_chunks([b"Asterisk Call Man"])
    assert not pending.banner_done


@pytest.mark.parametrize("chunk", [1, 7, 4096, 65536])
def test_megabyte_line_is_discarded_with_bounded_memory(chunk: int) -> None:
    huge = b"Event: Big\r\nData: " + b"x" * 1_000_000 + b"\r\n\r\n"
    data = b"Event: Before\r\n\r\n" + huge + b"Event: After\r\nK: v\r\n\r\n"
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    parser = AmiParser(expect_banner=False)
    out: list[AmiMessage] = []
    peak = 0
    for piece in pieces:
        out.extend(parser.feed(piece))
        peak = max(peak, len(parser._buf))
    assert [m.event for m in out] == ["Before", "After"]
    assert out[1].get("K") == "v"
    assert parser.parse_errors == 1
    assert peak <= 8192 + 65536


def test_oversize_message_of_short_lines_is_discarded() -> None:
    big = b"Event: Big\r\n" + b"".join(b"K%d: v\r\n" % i for i in range(20_000)) + b"\r\n"
    data = big + b"Event: After\r\n\r\n"
    for size in (len(data), 1000):
        msgs, parser = _parse_chunks([data[i : i + size] for i in range(0, len(data), size)])
        assert [m.event for m in msgs] == ["After"]
        assert parser.parse_errors == 1


def test_long_line_inside_a_complete_message_is_an_error() -> None:
    data = b"Event: Big\r\nData: " + b"y" * 9000 + b"\r\n\r\nEvent: Ok\r\n\r\n"
    msgs, parser = _parse_chunks([data], expect_banner=False)
    assert [m.event for m in msgs] == ["Ok"]
    assert parser.parse_errors == 1


@given(chunks=st.lists(st.binary(max_size=300), max_size=20))
def test_never_crashes_on_arbitrary_bytes(chunks: list[bytes]) -> None:
    parser = AmiParser(max_line=64, max_message=256)
    for chunk in chunks:
        for msg in parser.feed(chunk):
            assert msg.headers
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in msg.headers.items())
        assert len(parser._buf) <= 256 + 300


@given(
    garbage=st.binary(max_size=200).filter(lambda b: b"\n\n" not in b and b"\n\r\n" not in b),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_messages_after_garbage_still_arrive(garbage: bytes, cuts: list[int]) -> None:
    data = b"Event: A\r\n\r\n" + garbage + b"\r\n\r\nEvent: Z\r\nUniqueid: 9\r\n\r\n"
    msgs, _ = _parse_chunks(_split_at(data, cuts), expect_banner=False)
    assert msgs[0].event == "A"
    assert msgs[-1].event == "Z" and msgs[-1].get("Uniqueid") == "9"


_PIECES = st.sampled_from(
    [
        b"\r",
        b"\n",
        b"\r\n",
        b": ",
        b"Event: ",
        b"VarSet",
        b"Newexten",
        b"Application: Queue",
        b"K",
        b"v",
        b"\xc3",
        b"\xa9",
        b"\xff",
        b"x" * 40,
        b"Asterisk Call Manager/9.0.0",
    ]
)


@given(
    parts=st.lists(_PIECES, max_size=60), cuts=st.lists(st.integers(min_value=0, max_value=800), max_size=8)
)
def test_chunking_never_changes_the_result_even_for_junk(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(parts)
    kw = {"max_line": 48, "max_message": 160}
    whole, p1 = _parse_chunks([data], **kw)
    chunked, p2 = _parse_chunks(_split_at(data, cuts), **kw)
    assert chunked == whole
    assert (p2.messages, p2.skipped, p2.parse_errors, p2.banner) == (
        p1.messages,
        p1.skipped,
        p1.parse_errors,
        p1.banner,
    )
