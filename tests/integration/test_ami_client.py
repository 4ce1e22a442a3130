"""AmiClient over real TCP: login and secrets, actions, list actions, callbacks, backoff."""

from __future__ import annotations

import asyncio
import logging
import pickle
from pathlib import Path
from typing import Any

import pytest

from adapters.asterisk.actions import (
    AmiActionError,
    AmiAuthError,
    AmiConnectionError,
    AmiProtocolError,
    AmiSecret,
    AmiTimeout,
)
from adapters.asterisk.captures import load_jsonl
from adapters.asterisk.client import AmiClient, backoff_delay
from adapters.asterisk.framing import AmiMessage
from adapters.asterisk.session import AmiStats
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
    open_session,
    start_server,
    start_sim,
    ticks,
)

SECRET = "s3cr3t-Never-Show-Me"
STATS = AmiStats()


# -- secret handling ---------------------------------------------------------------------------------
def test_secret_wrapper_never_shows_its_value(tmp_path: Path) -> None:
    secret = AmiSecret(SECRET)
    assert repr(secret) == str(secret) == f"{secret}" == f"{secret:>20}" == "***"
    assert secret.reveal() == SECRET
    assert secret.redact(f"echo {SECRET}!") == "echo ***!"
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    path = tmp_path / "ami.secret"
    path.write_text(SECRET + "\n")
    assert AmiSecret.from_file(path).reveal() == SECRET
    client = AmiClient("h", 1, "monitor", SECRET, on_message=lambda m, t: None)
    assert SECRET not in repr(client) and SECRET not in repr(vars(client))


async def test_wrong_secret_raises_auth_error_without_the_secret(sims: list[AmiSimulator]) -> None:
    _, port = await start_sim(sims)
    session = await open_session(port)
    with pytest.raises(AmiAuthError) as err:
        await session.login("monitor", AmiSecret(SECRET), events=True, timeout=WAIT)
    session.abort()
    assert (
        str(err.value) == f"AMI login refused for user 'monitor' at 127.0.0.1:{port}: Authentication failed"
    )
    assert SECRET not in repr(err.value) and SECRET not in str(err.getrepr())


async def test_client_retries_refused_login_and_never_logs_the_secret(
    sims: list[AmiSimulator],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    _, port = await start_sim(sims)
    rec = Recorder()
    delays: list[float] = []
    client: AmiClient

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) >= 3:
            await client.close()

    client = make_client(port, rec, secret=SECRET, sleep=fake_sleep, rand=lambda: 1.0)
    await asyncio.wait_for(client.run(), WAIT)
    assert len(delays) == 3 and rec.states == [] and rec.gaps == []
    assert client.last_error is not None and SECRET not in client.last_error
    refused = [r for r in caplog.records if "AMI login refused for user 'monitor'" in r.getMessage()]
    assert refused and all(r.levelno == logging.ERROR for r in refused)
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in (record.exc_text or "")
    assert SECRET not in caplog.text
    out, err = capsys.readouterr()
    assert SECRET not in out and SECRET not in err


# -- session basics ----------------------------------------------------------------------------------
async def test_login_ping_and_callbacks(sims: list[AmiSimulator], running: Any) -> None:
    _, port = await start_sim(sims)
    rec = Recorder()
    fake_now = [5000.0]
    client = make_client(port, rec, clock=lambda: fake_now[0])
    with pytest.raises(AmiConnectionError):
        await client.action("Ping")  # not connected yet
    await running(client)
    await rec.until(lambda: bool(rec.connects) and bool(rec.events("FullyBooted")))
    assert rec.states == [True] and rec.connects == [5000.0] and rec.gaps == []
    assert client.connected
    pong = await client.action("Ping", timeout=WAIT)
    assert pong.get("Ping") == "Pong"
    assert rec.messages[0][1] == 5000.0  # received_at comes from the injected clock
    assert client.events_total == 1 and client.last_event_at == 5000.0
    await client.close()
    await rec.until(lambda: rec.states == [True, False])
    assert rec.gaps == []


async def test_banner_of_something_else_is_refused(servers: list[ScriptedServer]) -> None:
    port = await start_server(servers, idle, banner=b"SSH-2.0-OpenSSH_9.2\r\n")
    with pytest.raises(AmiProtocolError, match="not an Asterisk manager interface"):
        await open_session(port)


async def test_replies_are_matched_by_action_id_not_by_order(
    servers: list[ScriptedServer], running: Any
) -> None:
    async def reverse(conn: ScriptedConn) -> None:
        first, second = await conn.next_action(), await conn.next_action()
        for action in (second, first):  # answer the later one first
            await conn.send(
                f"Response: Success\r\nActionID: {action.action_id}\r\nGot: {action.get('Tag')}\r\n\r\n"
            )
        await idle(conn)

    port = await start_server(servers, reverse)
    rec = Recorder()
    client = make_client(port, rec, on_connected=None)
    await running(client)
    await rec.until(lambda: client.connected)
    a, b = await asyncio.gather(
        client.action("Slow", timeout=WAIT, Tag="a"), client.action("Fast", timeout=WAIT, Tag="b")
    )
    assert (a.get("Got"), b.get("Got")) == ("a", "b")
    assert a.action_id != b.action_id


async def test_action_errors_and_timeouts(servers: list[ScriptedServer], running: Any) -> None:
    async def script(conn: ScriptedConn) -> None:
        while True:
            action = await conn.next_action()
            name = action.get("Action")
            if name == "Silent":
                continue  # never answered
            status = "Error" if name == "Bad" else "Success"
            await conn.send(f"Response: {status}\r\nActionID: {action.action_id}\r\nMessage: {name}\r\n\r\n")

    port = await start_server(servers, script)
    rec = Recorder()
    client = make_client(port, rec)
    await running(client)
    await rec.until(lambda: client.connected)
    with pytest.raises(AmiActionError) as err:
        await client.action("Bad", timeout=WAIT)
    assert err.value.response.get("Message") == "Bad"
    with pytest.raises(AmiTimeout):
        await client.action("Silent", timeout=0.2)
    with pytest.raises(AmiActionError):
        await client.list_action("Bad", complete_event="BadComplete", timeout=WAIT)
    assert (await client.action("Ping", timeout=WAIT)).response == "Success"  # session still fine
    with pytest.raises(ValueError):
        await client.action("Ping", timeout=WAIT, Bad="x\r\nAction: Logoff")


async def test_list_actions_gather_items_and_keep_them_out_of_the_event_stream(
    sims: list[AmiSimulator], running: Any
) -> None:
    source = load_jsonl(CAPTURES / "c_queue_hold35.jsonl")
    cut = next(i for i, (_, raw) in enumerate(source) if event_name(raw) == "AgentCalled")
    sim, port = await start_sim(sims, source[: cut + 1], speed=0, wait_for_clients=1)
    rec = Recorder()
    client = make_client(port, rec)
    await running(client)
    await rec.until(lambda: client.connected)
    await asyncio.wait_for(sim.finished.wait(), WAIT)
    channels = await client.list_action("CoreShowChannels", complete_event="CoreShowChannelsComplete")
    assert {m.event for m in channels} == {"CoreShowChannel"}
    assert "1795499029.4" in {m.get("Uniqueid") for m in channels}
    queue = await client.list_action("QueueStatus", complete_event="QueueStatusComplete")
    assert [m.event for m in queue if m.event == "QueueEntry"] == ["QueueEntry"]
    assert {m.event for m in queue} <= {"QueueParams", "QueueMember", "QueueEntry"}
    with pytest.raises(AmiActionError):
        await client.list_action("Bogus", complete_event="BogusComplete")
    listed = {"CoreShowChannel", "CoreShowChannelsComplete", "QueueParams", "QueueEntry", "QueueMember"}
    assert not [m for m in rec.events() if m.event in listed]


async def test_callback_failures_are_counted_and_reading_goes_on(
    sims: list[AmiSimulator], running: Any
) -> None:
    sim, port = await start_sim(sims, ticks(50), speed=0, wait_for_clients=1)
    seen: list[str] = []

    def fragile(msg: AmiMessage, received_at: float) -> None:
        seen.append(msg.get("N"))
        if msg.get("N").endswith("7"):
            raise RuntimeError("handler bug")

    client = AmiClient("127.0.0.1", port, "monitor", "simsecret", on_message=fragile)
    await running(client)
    await asyncio.wait_for(sim.finished.wait(), WAIT)
    async with asyncio.timeout(WAIT):
        while "49" not in seen:
            await asyncio.sleep(0.01)
    assert client.stats.callback_errors == 5
    assert client.reconnects == 0


# -- backoff -----------------------------------------------------------------------------------------
def test_backoff_is_exponential_capped_and_fully_jittered() -> None:
    top = [backoff_delay(n, base=0.5, cap=30.0, rand=lambda: 1.0) for n in range(9)]
    assert top == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff_delay(5, base=0.5, cap=30.0, rand=lambda: 0.0) == 0.0
    assert backoff_delay(10_000, base=0.5, cap=30.0, rand=lambda: 0.5) == 15.0


async def test_unreachable_server_backs_off_without_gap_or_state_reports() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()  # nothing listens there now
    rec = Recorder()
    delays: list[float] = []
    client: AmiClient

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 5:
            await client.close()

    client = make_client(port, rec, sleep=fake_sleep, rand=lambda: 0.5, backoff_base=0.5, backoff_cap=30.0)
    await asyncio.wait_for(client.run(), WAIT)
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert rec.states == [] and rec.gaps == [] and rec.connects == []
    assert client.last_error is not None and "failed" in client.last_error
