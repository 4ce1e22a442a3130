"""The domain is pure: it imports only the standard library, zoneinfo and holidays."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "monitor" / "domain"
ALLOWED_THIRD_PARTY = {"holidays"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_domain_imports_only_stdlib_zoneinfo_holidays() -> None:
    files = sorted(DOMAIN.rglob("*.py"))
    assert len(files) >= 5
    offenders = []
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            if (
                top in sys.stdlib_module_names
                or top in ALLOWED_THIRD_PARTY
                or name.startswith("monitor.domain")
            ):
                continue
            offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_rule_detects_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sqlmodel\nfrom monitor.store import tables\n")
    found = {n for n in _imports(bad) if n.split(".")[0] not in sys.stdlib_module_names}
    assert found == {"sqlmodel", "monitor.store"}
