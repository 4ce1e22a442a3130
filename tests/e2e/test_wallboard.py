"""Acceptance: the wallboard in a real headless Chromium (Debian's ``chromium`` driven by playwright)
against the in-process daemon and the AMI simulator over TCP.

The page loads with a ``wallboard`` token from the URL fragment; a queue call whose advisor answers
only after ~29 s (the recorded ``b_queue_ring12_answer`` call with its ringing stretched by 15 s)
turns the ringing tile to the breach colour without a reload; dropping the PBX connection (and
refusing new ones) brings up the source-down banner. Screenshots are kept as test artifacts.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import ConsoleMessage, Page, async_playwright, expect

from adapters.asterisk.captures import load_jsonl
from adapters.asterisk.simulator import AmiSimulator
from monitor.config import ApiSettings, Settings, SiteSettings
from monitor.runtime import Daemon
from monitor.tokens import create_token
from tests.e2e.test_daemon_captures import daemon_settings, wait_until
from tests.paths import CAPTURES, REPO
from tests.services import require

STRETCH_S = 15.0  # DialBegin -> DialEnd goes from 12 s to 27 s: answered ~29 s after arrival (5 rings)
BREACH_RGB = "rgb(196, 22, 28)"  # --breach in wallboard.css
ARTIFACTS = REPO / "var" / "test-artifacts"


def stretched_queue_call() -> list[tuple[float, str]]:
    """The recorded queue call, with everything from the advisor's answer on moved ``STRETCH_S`` later."""
    items = load_jsonl(CAPTURES / "b_queue_ring12_answer.jsonl")
    answered = next(t for t, raw in items if raw.startswith("Event: DialEnd"))
    return [(t + STRETCH_S if t >= answered else t, raw) for t, raw in items]


async def on_cue(items: list[tuple[float, str]], go: asyncio.Event) -> AsyncIterator[tuple[float, str]]:
    """Plays nothing until ``go``; then the items re-timed so the first event happens now, as a PBX
    on NTP would stamp them (the simulator paces by these times)."""
    await go.wait()
    first = next(t for t, raw in items if raw.startswith("Event:") and "FullyBooted" not in raw[:20])
    shift = time.time() - first
    for t, raw in items:
        yield t + shift, raw


def board_settings(tmp_path: Path, port: int, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = daemon_settings(tmp_path, port, monkeypatch)
    return settings.model_copy(update={"api": ApiSettings(tokens_file=tmp_path / "tokens")})


async def text(page: Page, selector: str) -> str:
    return (await page.text_content(selector) or "").strip()


async def test_wallboard_in_chromium_turns_red_past_three_rings_and_shows_source_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium = require("/usr/bin/chromium", "chromium")
    go = asyncio.Event()
    sim = AmiSimulator(on_cue(stretched_queue_call(), go), secret="sim-secret", speed=1.0)
    port = await sim.start()
    settings = board_settings(tmp_path, port, monkeypatch)
    token = create_token(tmp_path / "tokens", "wallboard")
    daemon = Daemon(settings)
    task = asyncio.create_task(daemon.run())
    shots = tmp_path / "artifacts"
    shots.mkdir()
    problems: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error" and "favicon" not in msg.location.get("url", ""):
            problems.append(f"console: {msg.text}")

    try:
        await daemon.started.wait()
        await wait_until(lambda: daemon.sites[0].source.up, 10, "AMI connected")
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium)
            try:
                page = await browser.new_page(viewport={"width": 1600, "height": 900})
                page.on("console", on_console)
                page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
                await page.goto(f"http://127.0.0.1:{daemon.port}/wallboard#token={token}")
                await page.wait_for_selector("#board[aria-busy=false]", timeout=10_000)
                assert await page.title() == "slamon wallboard"
                assert "token" not in page.url, "the token leaves the address bar (kept in sessionStorage)"
                assert await page.evaluate("sessionStorage.getItem('slamon.wallboard.token')") == token
                assert await text(page, "#ringing-count") == "0"
                assert await page.is_hidden("#banner")
                assert await page.is_hidden("#token-form")
                await page.evaluate("window.sameDocument = true")  # gone if the page ever reloads
                await page.screenshot(path=str(shots / "wallboard-idle.png"))

                go.set()  # the simulated PBX starts the call
                # (expect, not wait_for_function: the page's CSP forbids evaluating strings)
                await expect(page.locator("#ringing-count")).to_have_text("1", timeout=15_000)
                first_level = await page.get_attribute("#tile-ringing", "data-level")
                assert first_level in ("ok", "warn"), "not breached on arrival"
                # ~1.6 s of greeting, then the caller joins the queue: also a waiting call
                await expect(page.locator("#waiting-count")).to_have_text("1", timeout=5_000)

                await page.wait_for_selector("#tile-ringing[data-level=breach]", timeout=30_000)
                classes = await page.get_attribute("#tile-ringing", "class") or ""
                assert "level-breach" in classes.split()
                # computed style, once the 0.3 s colour transition has run
                await expect(page.locator("#tile-ringing")).to_have_css(
                    "background-color", BREACH_RGB, timeout=3_000
                )
                chip = await text(page, "#ringing-list li")
                assert chip.startswith("4 rings"), chip
                assert await page.get_attribute("#ringing-list li", "data-level") == "breach"
                assert await page.evaluate("window.sameDocument === true"), "updated without a reload"
                live = await daemon.wallboard_snapshot("detroit", time.time())
                assert live["calls"]["ringing"]["level"] == "breach", "the server agrees"
                await page.screenshot(path=str(shots / "wallboard-breach.png"))

                # The PBX link breaks and the PBX refuses new connections.
                sim.drop_connections()
                await sim.close()
                await page.wait_for_selector("#banner[data-source-down=yes]", state="visible", timeout=10_000)
                banner = await text(page, "#banner")
                assert "AMI" in banner and "DOWN" in banner, banner
                assert await page.evaluate("window.sameDocument === true")
                final = shots / "wallboard-source-down.png"
                await page.screenshot(path=str(final))
                assert problems == [], problems
            finally:
                await browser.close()
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 30)
        await sim.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    kept = ARTIFACTS / "wallboard.png"
    shutil.copyfile(final, kept)
    assert kept.stat().st_size > 10_000
    print(f"\nwallboard screenshots: {shots} (final copied to {kept})")


async def _first_snapshot(lines: AsyncIterator[str]) -> dict[str, Any]:
    event = ""
    async for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "snapshot":
            data: dict[str, Any] = json.loads(line[6:])
            return data
    raise AssertionError("the stream ended without a snapshot")


async def test_stream_over_http_and_the_daemon_stops_with_a_board_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = AmiSimulator([], secret="sim-secret")
    port = await sim.start()
    settings = board_settings(tmp_path, port, monkeypatch)
    token = create_token(tmp_path / "tokens", "wallboard")
    daemon = Daemon(settings)
    task = asyncio.create_task(daemon.run())
    try:
        await daemon.started.wait()
        await wait_until(lambda: daemon.sites[0].source.up, 10, "AMI connected")
        base = f"http://127.0.0.1:{daemon.port}"
        async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
            assert (await client.get("/api/v1/wallboard/stream")).status_code == 401
            r = await client.get("/api/v1/wallboard/snapshot", params={"access_token": "slm_nope"})
            assert r.status_code == 401
            params = {"access_token": token, "site": "detroit"}
            async with client.stream("GET", "/api/v1/wallboard/stream", params=params) as stream:
                assert stream.status_code == 200
                lines = stream.aiter_lines()
                snap = await _first_snapshot(lines)
                assert snap["site"] == "detroit" and snap["sources"][0]["up"] is True
                started = time.monotonic()
                await _first_snapshot(lines)
                assert time.monotonic() - started < 1.6, "pushed every second even when nothing changes"
                daemon.stop.set()  # with the board still connected
                await asyncio.wait_for(task, 15)
                async with asyncio.timeout(10):
                    async for _ in lines:
                        pass  # the stream ends with the daemon
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 30)
        await sim.close()


async def test_wallboard_asks_for_a_token_once_and_switches_sites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium = require("/usr/bin/chromium", "chromium")
    sim = AmiSimulator([], secret="sim-secret")
    port = await sim.start()
    settings = board_settings(tmp_path, port, monkeypatch)
    lansing = SiteSettings(id="lansing", timezone="Europe/Berlin")  # no PBX there: no source to be down
    daemon = Daemon(settings.model_copy(update={"site": [*settings.site, lansing]}))
    token = create_token(tmp_path / "tokens", "wallboard")
    task = asyncio.create_task(daemon.run())
    try:
        await daemon.started.wait()
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium)
            try:
                page = await browser.new_page()
                await page.goto(f"http://127.0.0.1:{daemon.port}/wallboard#token=slm_wrong")
                await expect(page.locator("#token-form")).to_be_visible(timeout=10_000)
                await expect(page.locator("#token-message")).to_contain_text("401")
                await page.fill("#token-input", token)
                await page.click("#token-form button")
                await page.wait_for_selector("#board[aria-busy=false]", timeout=10_000)
                await expect(page.locator("#token-form")).to_be_hidden()
                await expect(page.locator("#site-name")).to_have_text("· detroit")
                assert await page.eval_on_selector_all(
                    "#site-select option", "os => os.map(o => o.value)"
                ) == [
                    "detroit",
                    "lansing",
                ]
                await page.select_option("#site-select", "lansing")
                await expect(page.locator("#site-name")).to_have_text("· lansing", timeout=5_000)
                assert page.url.endswith("/wallboard?site=lansing")
                await page.reload()  # token from sessionStorage, site from the address: nothing asked
                await page.wait_for_selector("#board[aria-busy=false]", timeout=10_000)
                await expect(page.locator("#site-name")).to_have_text("· lansing")
                await expect(page.locator("#token-form")).to_be_hidden()
                await expect(page.locator("#banner")).to_be_hidden()
            finally:
                await browser.close()
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 30)
        await sim.close()
