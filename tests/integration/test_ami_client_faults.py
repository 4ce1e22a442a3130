"""AmiClient over real TCP under faults: dropped and stalled connections, hostile bytes, a real
capture replayed fast."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from adapters.asterisk.captures import load_jsonl
from adapters.asterisk.framing import AmiParser
from adapters.asterisk.sim_state import event_name
from adapters.asterisk.simulator import AmiSimulator
from tests.integration.ami_doubles import (
    CAPTURES,
    WAIT,
    Recorder,
    ScriptedConn,
    ScriptedServer,
    idle,
    make_client,
    start_server,
    start_sim,
    ticks,
)


async def test_dropped_connection_reconnects_reports_gap_and_keeps_delivering(
    sims: list[AmiSimulator], running: Any
) -> None:
    sim, port = await start_sim(sims, ticks(400), speed=1.0, wait_for_clients=1)
    rec = Recorder()
    client = make_client(port, rec, ping_interval=1.0)
    await running(client)
    await rec.until(lambda: len(rec.events("Tick")) >= 10)
    dropped_at = time.time()
    sim.drop_connections()
    await rec.until(lambda: bool(rec.gaps))
    resumed_at = time.time()
    [(start, end, reason)] = rec.gaps
    assert dropped_at - 0.05 <= start <= end <= resumed_at + 0.05
    assert reason
    last_before = int(rec.events("Tick")[-1].get("N"))
    await rec.until(lambda: int(rec.events("Tick")[-1].get("N")) >= last_before + 10)
    numbers = [int(m.get("N")) for m in rec.events("Tick")]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert rec.states == [True, False, True]
    assert len(rec.connects) == 2 and client.reconnects == 1
    assert client.last_error == reason


async def test_stalled_connection_is_declared_dead_within_about_two_ping_intervals(
    sims: list[AmiSimulator], running: Any
) -> None:
    interval = 0.2
    sim, port = await start_sim(sims)
    rec = Recorder()
    client = make_client(port, rec, ping_interval=interval)
    await running(client)
    await rec.until(lambda: rec.states == [True])
    await asyncio.sleep(3 * interval)  # a few healthy pings first
    assert rec.states == [True]
    loop = asyncio.get_running_loop()
    stalled_at = loop.time()
    sim.stall(None)
    await rec.until(lambda: rec.states == [True, False])
    detected_after = loop.time() - stalled_at
    # ~2 intervals by design; the margin only absorbs scheduler jitter on a busy machine.
    assert detected_after <= 2.5 * interval + 0.5
    await rec.until(lambda: rec.states == [True, False, True] and bool(rec.gaps))
    assert "half-open" in rec.gaps[0][2]
    assert (await client.action("Ping", timeout=WAIT)).get("Ping") == "Pong"


async def test_garbage_huge_line_and_split_utf8_do_not_break_the_stream(
    servers: list[ScriptedServer], running: Any
) -> None:
    async def nasty(conn: ScriptedConn) -> None:
        await conn.send("Event: Before\r\nN: 1\r\n\r\n")
        await conn.send(b"\x00\xff\xfe garbage without separator\r\n\x01\x02\r\n\r\n")
        huge = b"Event: Huge\r\nData: " + b"x" * 1_000_000 + b"\r\n\r\n"
        for i in range(0, len(huge), 65536):
            await conn.send(huge[i : i + 65536])
        named = "Event: Named\r\nCallerIDName: Zoë Ünal 日本\r\n\r\n".encode()
        cut = named.index("日".encode()) + 1
        await conn.send(named[:cut])
        await asyncio.sleep(0.05)  # make sure the halves arrive in separate reads
        await conn.send(named[cut:])
        await conn.send("Event: After\r\nN: 2\r\n\r\n")
        await idle(conn)

    port = await start_server(servers, nasty)
    rec = Recorder()
    client = make_client(port, rec)
    await running(client)
    await rec.until(lambda: bool(rec.events("After")))
    assert [m.event for m in rec.events()] == ["Before", "Named", "After"]
    assert rec.events("Named")[0].get("CallerIDName") == "Zoë Ünal 日本"
    assert client.parse_errors >= 3  # two separator-less lines, one oversize line
    assert client.reconnects == 0 and rec.gaps == []


async def test_real_capture_replayed_at_speed_50_arrives_complete_with_original_times(
    sims: list[AmiSimulator], running: Any
) -> None:
    source = load_jsonl(CAPTURES / "c_queue_hold35.jsonl")
    played = [(t, raw) for t, raw in source if event_name(raw) not in ("", "FullyBooted")]
    noise_filter = AmiParser(expect_banner=False)  # the client's default noise rules
    expected = [(t, raw) for t, raw in played if noise_filter.feed(raw.encode())]
    assert noise_filter.skipped > len(expected)  # the capture really is mostly noise
    sim, port = await start_sim(sims, source, speed=50.0, wait_for_clients=1)
    rec = Recorder()
    client = make_client(port, rec)
    await running(client)
    await asyncio.wait_for(sim.finished.wait(), WAIT)
    await rec.until(lambda: len(rec.messages) >= len(expected) + 1)
    got = [m for m in rec.events() if m.event != "FullyBooted"]
    assert [(m.event, m.get("Uniqueid"), m.get("Timestamp")) for m in got] == [
        (event_name(raw), _uniqueid(raw), f"{t:.6f}") for t, raw in expected
    ]
    assert client.events_total == len(played) + 1  # noise counted too (+ FullyBooted)
    assert client.parse_errors == 0


def _uniqueid(raw: str) -> str:
    [msg] = AmiParser(skip_events=frozenset(), expect_banner=False).feed(raw.encode())
    return msg.get("Uniqueid")
