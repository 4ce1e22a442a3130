"""Bearer tokens and roles on every API endpoint (SQLite and PostgreSQL): 401 without a token or with
a wrong one, 403 for a role that may not read the resource; health, metrics and docs are open."""

from __future__ import annotations

import pytest

from tests.integration.api_store import ApiStore, auth, store

__all__ = ["store"]
pytestmark = pytest.mark.service

AUDIT = {"auditor", "admin"}
BOARD = {"wallboard", "auditor", "admin"}
ENDPOINTS = {
    "/api/v1/calls": AUDIT,
    "/api/v1/calls/s1.parts": AUDIT,
    "/api/v1/calls/live": BOARD,
    "/api/v1/inquiries": AUDIT,
    "/api/v1/breaches": AUDIT,
    "/api/v1/sla/summary?from=2026-11-01&to=2026-12-01": BOARD,
    "/api/v1/export/calls.csv": AUDIT,
    "/api/v1/export/calls.jsonl": AUDIT,
    "/api/v1/export/inquiries.csv": AUDIT,
    "/api/v1/export/inquiries.jsonl": AUDIT,
    "/api/v1/export/breaches.csv": AUDIT,
    "/api/v1/export/breaches.jsonl": AUDIT,
}


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_roles_per_endpoint(store: ApiStore, path: str) -> None:
    api = store.api
    missing = api.get(path)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert api.get(path, headers=auth("slm_not-a-token")).status_code == 401
    assert api.get(path, headers={"Authorization": "Basic YXVkaXRvcjpwdw=="}).status_code == 401
    assert api.get(path, headers={"Authorization": store.tokens["auditor"]}).status_code == 401  # no scheme
    for role, token in store.tokens.items():
        status = api.get(path, headers=auth(token)).status_code
        assert status == (200 if role in ENDPOINTS[path] else 403), (role, status)


def test_inquiry_detail_roles(store: ApiStore) -> None:
    path = f"/api/v1/inquiries/{store.inquiries[0].inquiry_id}"
    assert store.api.get(path).status_code == 401
    assert store.api.get(path, headers=auth(store.tokens["wallboard"])).status_code == 403
    assert store.api.get(path, headers=auth(store.tokens["admin"])).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
def test_open_endpoints(store: ApiStore, path: str) -> None:
    response = store.api.get(path, follow_redirects=False)
    assert response.status_code == 200


def test_openapi_documents_every_endpoint_with_examples_and_auth_errors(store: ApiStore) -> None:
    spec = store.api.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/calls",
        "/api/v1/calls/{call_id}",
        "/api/v1/inquiries",
        "/api/v1/inquiries/{inquiry_id}",
        "/api/v1/breaches",
        "/api/v1/sla/summary",
        "/api/v1/export/calls.{fmt}",
        "/api/v1/export/inquiries.{fmt}",
        "/api/v1/export/breaches.{fmt}",
    ):
        operation = paths[path]["get"]
        assert operation["summary"] and operation["description"] and operation["tags"], path
        assert {"401", "403", "200"} <= set(operation["responses"]), path
    schemas = spec["components"]["schemas"]
    for name in ("CallPublic", "InquiryPublic", "BreachPublic", "SummaryPublic", "CallDetailPublic"):
        assert schemas[name]["examples"], name
    assert any(
        s["type"] == "http" and s["scheme"] == "bearer"
        for s in spec["components"]["securitySchemes"].values()
    )
