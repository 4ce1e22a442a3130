"""The calls API over a real store: bearer roles, keyset pages, evidence with hashes, masking."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from adapters.asterisk.pipeline import AmiCallPipeline
from adapters.asterisk.replay import replay_file
from monitor.api.app import create_app
from monitor.api.deps import AppContext
from monitor.bootstrap import call_service
from monitor.config import Settings, open_24_7_site
from monitor.domain.calls import CompletedCall
from monitor.service.writer import write_batch
from monitor.store.engine import make_engine, upgrade
from monitor.tokens import ROLES, create_token, load_tokens
from tests.paths import CAPTURES


def client(tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    engine = make_engine(f"sqlite:///{tmp_path}/api.db")
    upgrade(engine)
    settings = Settings(site=[open_24_7_site("detroit")])
    done: list[CompletedCall] = []
    service = call_service(settings, settings.site[0], b"api-test-key-0123456789", [done.append])
    for path in sorted(CAPTURES.glob("[a-h]*.jsonl")):
        replay_file(path, AmiCallPipeline(service))
    write_batch(engine, done)
    tokens_file = tmp_path / "tokens"
    tokens: dict[str, str] = {role: create_token(tokens_file, role) for role in ROLES}
    ctx = AppContext(engine=engine, tokens=load_tokens(tokens_file), metrics_registry=CollectorRegistry())
    return TestClient(create_app(ctx)), tokens


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_roles(tmp_path: Path) -> None:
    api, tokens = client(tmp_path)
    assert api.get("/api/v1/calls").status_code == 401
    assert api.get("/api/v1/calls", headers=auth("slm_wrong")).status_code == 401
    assert api.get("/api/v1/calls", headers=auth(tokens["wallboard"])).status_code == 403
    assert api.get("/api/v1/calls", headers=auth(tokens["auditor"])).status_code == 200
    assert api.get("/api/v1/calls", headers=auth(tokens["admin"])).status_code == 200
    assert api.get("/api/v1/calls/live", headers=auth(tokens["wallboard"])).status_code == 200
    assert api.get("/healthz").status_code == 200


def test_pages_cover_every_call_once_and_detail_has_masked_evidence(tmp_path: Path) -> None:
    api, tokens = client(tmp_path)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/calls", params=params, headers=auth(tokens["auditor"])).json()
        seen += [item["call_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 8
    detail = api.get(f"/api/v1/calls/{seen[0]}", headers=auth(tokens["auditor"])).json()
    assert detail["call"]["call_id"] == seen[0]
    assert detail["evidence"] and all(
        e["sha256"] == hashlib.sha256(e["raw"].encode()).hexdigest() for e in detail["evidence"]
    )
    body = api.get(f"/api/v1/calls/{seen[0]}", headers=auth(tokens["auditor"])).text
    assert "555010" not in body and "5550113" not in body
    assert api.get("/api/v1/calls/nope", headers=auth(tokens["auditor"])).status_code == 404
    assert (
        api.get("/api/v1/calls", params={"cursor": "garbage"}, headers=auth(tokens["auditor"])).status_code
        == 400
    )
