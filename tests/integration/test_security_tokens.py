"""Secrets compared in constant time, proven structurally (no timing): every known token entry goes
through ``hmac.compare_digest`` whatever token is presented, through the real API path too; and no
``==``/``!=``/``in`` or dict lookup touches a secret anywhere in monitor/ or adapters/ (AST scan)."""

from __future__ import annotations

import ast
import hmac
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from monitor.api.app import create_app
from monitor.api.deps import AppContext
from monitor.store.engine import make_engine, upgrade
from monitor.tokens import ROLES, Role, create_token, load_tokens, role_of

ROOT = Path(__file__).resolve().parents[2]
SECRETISH = re.compile(r"secret|passw|token|hmac_key|api_key|credential", re.I)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, object]]:
    """Every hmac.compare_digest call, with its arguments (the real function still decides)."""
    calls: list[tuple[object, object]] = []
    real: Callable[..., bool] = hmac.compare_digest

    def spy(a: object, b: object) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


@pytest.fixture
def table(tmp_path: Path) -> tuple[dict[str, Role], dict[str, Role]]:
    """(token -> role for the 6 tokens created, the loaded hash -> role table)."""
    tokens_file = tmp_path / "tokens"
    made = {create_token(tokens_file, role): role for role in (*ROLES, *ROLES)}
    return made, load_tokens(tokens_file)


def test_every_entry_is_compared_whatever_the_token(
    table: tuple[dict[str, Role], dict[str, Role]], counted: list[tuple[object, object]]
) -> None:
    made, known = table
    assert len(known) == 6
    first = next(iter(made))
    presented = [*made, "", "slm_unknown", first[:-1], first + "x", "x" * 10_000]
    for token in presented:
        counted.clear()
        role = role_of(token, known)
        assert role == made.get(token)
        # No early exit on a match or a miss: all six entries, hashed (never the raw token).
        assert len(counted) == 6, token
        assert sorted(str(known_hash) for known_hash, _ in counted) == sorted(known)
        assert all(digest == counted[0][1] and digest != token for _, digest in counted)


def test_api_requests_compare_against_every_entry(
    tmp_path: Path, table: tuple[dict[str, Role], dict[str, Role]], counted: list[tuple[object, object]]
) -> None:
    made, known = table
    engine = make_engine(f"sqlite:///{tmp_path}/t.db")
    upgrade(engine)
    ctx = AppContext(engine=engine, tokens=known, metrics_registry=CollectorRegistry())
    auditor = next(t for t, r in made.items() if r == "auditor")
    wallboard = next(t for t, r in made.items() if r == "wallboard")
    cases: list[tuple[str, dict[str, str], int]] = [
        ("/api/v1/calls", {"Authorization": f"Bearer {auditor}"}, 200),
        ("/api/v1/calls", {"Authorization": "Bearer slm_wrong"}, 401),
        ("/api/v1/calls", {"Authorization": f"Bearer {wallboard}"}, 403),
        (f"/api/v1/wallboard/snapshot?access_token={wallboard}", {}, 503),  # no wallboard here
        ("/api/v1/wallboard/snapshot?access_token=slm_wrong", {}, 401),
    ]
    try:
        with TestClient(create_app(ctx)) as client:
            for path, headers, status in cases:
                counted.clear()
                assert client.get(path, headers=headers).status_code == status, path
                assert len(counted) == len(known), path
    finally:
        engine.dispose()


def _idents(node: ast.AST) -> Iterator[str]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            yield sub.id
        elif isinstance(sub, ast.Attribute):
            yield sub.attr
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.value


def _secretish(node: ast.AST) -> bool:
    return any(SECRETISH.search(name) for name in _idents(node))


def _suspect(node: ast.AST) -> bool:
    if isinstance(node, ast.Compare):
        eq_or_in = any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops)
        return eq_or_in and _secretish(node)
    if isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Store):
        return isinstance(node.slice, ast.Name | ast.Attribute | ast.Call) and _secretish(node.slice)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return any(isinstance(a, ast.Name | ast.Attribute) and _secretish(a) for a in node.args)
    return False


def secret_comparisons(source: str) -> list[str]:
    """``==``/``!=``/``in``/``not in`` with a secret-looking operand, and subscripts or ``.get()``
    keyed by one (a dict lookup keyed by the raw token exits early)."""
    return [
        f"{getattr(n, 'lineno', 0)}: {ast.unparse(n)}" for n in ast.walk(ast.parse(source)) if _suspect(n)
    ]


def test_the_scan_finds_what_it_is_meant_to_find() -> None:
    bad = (
        "if presented == self._secret: pass\n"
        "ok = token in known_tokens\n"
        "role = table[token]\n"
        "role = table.get(access_token)\n"
        "if h.get('secret') != expected: pass\n"
    )
    assert len(secret_comparisons(bad)) == 5
    good = "if hmac.compare_digest(a, b): pass\nrole = table.get(digest)\nx = y == 'x'\n"
    assert secret_comparisons(good) == []


def test_no_secret_is_compared_with_eq_or_in_anywhere() -> None:
    files = sorted(p for d in ("monitor", "adapters") for p in (ROOT / d).rglob("*.py"))
    assert len(files) > 50
    offenders = {
        str(p.relative_to(ROOT)): hits
        for p in files
        if (hits := secret_comparisons(p.read_text(encoding="utf-8")))
    }
    assert offenders == {}
