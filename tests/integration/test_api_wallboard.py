"""The wallboard API over a real store: who may read it (header or ``access_token``), the snapshot's
content, the event stream's format, today's figures from SQLite and PostgreSQL, and the page."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from adapters.asterisk.pipeline import AmiCallPipeline
from adapters.asterisk.replay import replay_file
from monitor.api.app import create_app
from monitor.api.deps import AppContext
from monitor.bootstrap import call_service, site_rules
from monitor.config import PolicySettings, Settings, SiteSettings
from monitor.domain.calls import CompletedCall
from monitor.domain.live import LiveCall
from monitor.service.wallboard import AnswerFigures, BoardSite, BoardSource, Wallboard
from monitor.service.writer import write_batch
from monitor.store.engine import make_engine, upgrade
from monitor.store.wallboard_queries import answer_figures_reader
from monitor.tokens import ROLES, Role, create_token, hash_token, load_tokens
from tests.paths import CAPTURES

# After the last capture call (2026-11-24 05:49 UTC, 00:49 in Detroit): all of them are "today".
NOW = 1_795_499_400.0
SNAPSHOT, STREAM = "/api/v1/wallboard/snapshot", "/api/v1/wallboard/stream"
# answer_within_rings = 2 makes the captures' calls a mix: 5 answered (3 within 2 rings), 1 abandoned.
SETTINGS = Settings(
    site=[SiteSettings(id="detroit", timezone="America/Detroit"), SiteSettings(id="lansing")],
    policy=PolicySettings(answer_within_rings=2),
)


def captured_calls() -> list[CompletedCall]:
    done: list[CompletedCall] = []
    service = call_service(SETTINGS, SETTINGS.site[0], b"api-test-key-0123456789", [done.append])
    for path in sorted(CAPTURES.glob("[a-h]*.jsonl")):
        replay_file(path, AmiCallPipeline(service))
    return done


@dataclass
class FakeCalls:
    calls: list[LiveCall] = field(default_factory=list)

    def live(self, now: float) -> Sequence[LiveCall]:
        return self.calls

    def business_open(self, now: float) -> bool:
        return True


@dataclass
class FakeSource:
    site: str = "detroit"
    source: str = "ami"
    up: bool = True
    last_event_at: float | None = NOW - 2


@dataclass
class Api:
    client: TestClient
    tokens: dict[Role, str]
    ami: FakeSource
    stop_after: list[int]


def make_api(tmp_path: Path, **ctx_args: Any) -> Api:
    engine = make_engine(f"sqlite:///{tmp_path}/wallboard.db")
    upgrade(engine)
    write_batch(engine, captured_calls())
    tokens_file = tmp_path / "tokens"
    tokens = {role: create_token(tokens_file, role) for role in ROLES}
    ami = FakeSource()
    calls = FakeCalls([LiveCall("c1", "service", "waiting", 19.5, 4, 0.0, "201")])
    stop_after = [3]  # the stream ends after this many snapshots (a TestClient reads whole bodies)

    def stopping() -> bool:
        stop_after[0] -= 1
        return stop_after[0] < 0

    boards = []
    for site in SETTINGS.site:
        rules = site_rules(SETTINGS, site)
        detroit = site.id == "detroit"
        boards.append(
            BoardSite(
                site.id,
                rules.policy,
                rules.ring_cycle_s,
                site.timezone,
                calls if detroit else FakeCalls(),
                sources=[BoardSource("ami", ami)] if detroit else [],
                short_abandon_s=SETTINGS.short_abandon_s(site.id),
            )
        )
    ctx = AppContext(
        engine=engine,
        tokens=load_tokens(tokens_file),
        metrics_registry=CollectorRegistry(),
        clock=lambda: NOW,
        wallboard=Wallboard(boards, answer_figures_reader(engine), stopping=stopping),
        **ctx_args,
    )
    return Api(TestClient(create_app(ctx)), tokens, ami, stop_after)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_role_reads_it_with_the_header_or_access_token(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    for role in ROLES:
        token = api.tokens[role]
        assert api.client.get(SNAPSHOT, headers=bearer(token)).status_code == 200, role
        assert api.client.get(SNAPSHOT, params={"access_token": token}).status_code == 200, role
        api.stop_after[0] = 1
        assert api.client.get(STREAM, params={"access_token": token}).status_code == 200, role


@pytest.mark.parametrize("path", [SNAPSHOT, STREAM])
def test_missing_or_wrong_token_is_401(tmp_path: Path, path: str) -> None:
    api = make_api(tmp_path)
    for kwargs in (
        {},
        {"headers": bearer("slm_wrong")},
        {"params": {"access_token": "slm_wrong"}},
        {"params": {"access_token": ""}},
        {"headers": {"Authorization": f"Basic {api.tokens['wallboard']}"}},
    ):
        r = api.client.get(path, **kwargs)
        assert r.status_code == 401, kwargs
        assert r.headers["www-authenticate"] == "Bearer"
        assert api.tokens["wallboard"] not in r.text


@pytest.mark.parametrize("path", [SNAPSHOT, STREAM])
def test_a_role_that_may_not_read_is_403(tmp_path: Path, path: str) -> None:
    """No configured role is refused today (all three may read); a role outside the readers is."""
    api = make_api(tmp_path)
    ctx: AppContext = api.client.app.state.ctx  # type: ignore[attr-defined]
    ctx.tokens[hash_token("slm_other")] = cast(Role, "exporter")
    assert api.client.get(path, headers=bearer("slm_other")).status_code == 403
    assert api.client.get(path, params={"access_token": "slm_other"}).status_code == 403


def test_access_token_is_accepted_only_on_the_wallboard_endpoints(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    token = api.tokens["admin"]
    assert api.client.get("/api/v1/calls/live", headers=bearer(token)).status_code == 200
    assert api.client.get("/api/v1/calls/live", params={"access_token": token}).status_code == 401
    assert api.client.get("/api/v1/calls", params={"access_token": token}).status_code == 401


def test_snapshot_content(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    snap = api.client.get(SNAPSHOT, headers=bearer(api.tokens["wallboard"])).json()
    assert snap["site"] == "detroit" and snap["sites"] == ["detroit", "lansing"], "first site by default"
    assert snap["at"] == NOW and snap["timezone"] == "America/Detroit" and snap["business_open"] is True
    assert snap["policy"]["answer_within_rings"] == 2 and snap["policy"]["answer_within_s"] == 12.0
    ringing = snap["calls"]["ringing"]
    assert ringing["count"] == 1 and ringing["level"] == "breach"
    assert ringing["items"] == [
        {"queue": "service", "state": "waiting", "since_arrival_s": 19.5, "rings": 4, "level": "breach"}
    ]
    assert snap["calls"]["waiting"] == {"count": 1, "longest_s": 19.5, "longest_rings": 4, "level": "breach"}
    assert snap["today"] == {
        "date": "2026-11-24",
        "answered": 5,
        "answered_within": 3,
        "abandoned": 1,
        "short_abandoned": 0,
        "answer_within_pct": 50.0,
        "formula": (
            "answered within 2 rings / (answered + abandoned); callers who hung up within 5 s are left out"
        ),
    }
    assert snap["sources"] == [{"source": "ami", "name": "ami", "up": True, "last_event_at": NOW - 2}]
    assert snap["sources_down"] == []
    assert "c1" not in json.dumps(snap) and "201" not in json.dumps(snap), "no call ids or advisors"
    other = api.client.get(SNAPSHOT, params={"site": "lansing"}, headers=bearer(api.tokens["auditor"])).json()
    assert other["site"] == "lansing" and other["today"]["answered"] == 0
    assert other["today"]["answer_within_pct"] is None
    r = api.client.get(SNAPSHOT, params={"site": "nowhere"}, headers=bearer(api.tokens["auditor"]))
    assert r.status_code == 404


def test_stream_pushes_snapshot_events(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    api.stop_after[0] = 2
    r = api.client.get(STREAM, params={"access_token": api.tokens["wallboard"], "site": "detroit"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-store"
    events = [block for block in r.text.replace("\r\n", "\n").split("\n\n") if block.strip()]
    snapshots = [e for e in events if "event: snapshot" in e]
    assert len(snapshots) >= 1
    first = dict(line.split(": ", 1) for line in snapshots[0].splitlines())
    assert first["retry"] == "3000"
    data = json.loads(first["data"])
    assert data["site"] == "detroit" and data["calls"]["ringing"]["count"] == 1
    api.ami.up = False
    api.stop_after[0] = 1
    down = api.client.get(STREAM, params={"access_token": api.tokens["wallboard"]}).text
    assert '"sources_down":["ami"]' in down


def test_without_a_running_wallboard_the_endpoints_say_so(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/none.db")
    token = create_token(tmp_path / "tokens", "wallboard")
    ctx = AppContext(
        engine=engine, tokens=load_tokens(tmp_path / "tokens"), metrics_registry=CollectorRegistry()
    )
    client = TestClient(create_app(ctx))
    assert client.get(SNAPSHOT, headers=bearer(token)).status_code == 503


def test_page_and_assets_are_served_without_a_token_and_hold_no_data(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    page = api.client.get("/wallboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert '<script src="/wallboard/wallboard.js"' in page.text and "tile-ringing" in page.text
    js = api.client.get("/wallboard/wallboard.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "EventSource" in js.text
    css = api.client.get("/wallboard/wallboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert api.client.get("/wallboard/other.js").status_code == 404


def check_answer_figures(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
        calls = captured_calls()
        write_batch(engine, calls)
        read = answer_figures_reader(engine)
        first, last = min(c.record.arrived_at for c in calls), max(c.record.arrived_at for c in calls)
        day = (first, last + 1)
        assert read("detroit", *day, 5.0) == AnswerFigures(answered=5, answered_within=3, abandoned=1)
        # The abandoned caller hung up after 20 s: a short abandon under a 25 s threshold.
        assert read("detroit", *day, 25.0) == AnswerFigures(5, 3, abandoned=0, short_abandoned=1)
        # [start, end): the first call (answered within 2 rings) is out when the window starts after it
        assert read("detroit", first + 0.001, last + 1, 5.0) == AnswerFigures(4, 2, 1)
        assert read("detroit", first, first, 5.0) == AnswerFigures(0, 0, 0)
        assert read("lansing", *day, 5.0) == AnswerFigures(0, 0, 0)
        assert AnswerFigures(5, 3, 1).within_pct == 50.0 and AnswerFigures(0, 0, 0).within_pct is None
    finally:
        engine.dispose()


def test_answer_figures_on_sqlite(tmp_path: Path) -> None:
    check_answer_figures(f"sqlite:///{tmp_path}/figures.db")


@pytest.mark.service
def test_answer_figures_on_postgresql(postgres_url: str) -> None:
    check_answer_figures(postgres_url)
