"""The evidence chain's hashing rules, without a database."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from types import ModuleType
from typing import Any

from monitor.store.chain import (
    CHAINED,
    GENESIS,
    UNHASHED,
    canonical,
    content_hash,
    link_hash,
)
from monitor.store.migrations import versions
from monitor.store.tables import table

SAMPLE: dict[type, Any] = {float: 3, int: 7, bool: 1, str: "x\r\nÿ"}  # 3 and 1: not yet of the column's type


def _migration() -> ModuleType:
    path = next(p for p in versions.__path__)  # namespace package: the versions directory
    spec = importlib.util.spec_from_file_location("m0003", f"{path}/0003_evidence_chain.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _python_type(table_name: str, field: str) -> type:
    cols = table(table_name).c
    col = cols[field] if field in cols else table("call").c[field]
    found: type = getattr(col.type, "impl", col.type).python_type
    return found


def test_every_column_of_a_chained_table_is_hashed_or_deliberately_not() -> None:
    for name, spec in CHAINED.items():
        columns = set(table(name).c.keys())
        hashed = set(spec.key) | set(spec.data)
        if name == "call_evidence":
            hashed -= {"site", "call_id"}  # the call's natural key stands in for call_pk
        assert hashed <= columns, name
        assert columns - hashed <= UNHASHED, (name, columns - hashed - UNHASHED)


def test_fast_path_gives_the_documented_bytes() -> None:
    for name, spec in CHAINED.items():
        values = {f: SAMPLE[_python_type(name, f)] for f in (*spec.key, *spec.data)}
        if name == "sla_evaluation":
            values["measured"] = None  # unknown figures hash as null
        refs = {"call": ["detroit", "1.0"]} if spec.refs else None
        normalised = {f: None if v is None else _python_type(name, f)(v) for f, v in values.items()}
        data = {f: normalised[f] for f in spec.data}
        if spec.refs:
            data["call"] = ["detroit", "1.0"]
        body = canonical(name, [normalised[k] for k in spec.key], 42, data)
        assert content_hash(name, values, 42, GENESIS, refs) == link_hash(GENESIS, body), name
        # The documented form: sorted keys, no spaces, UTF-8, floats as floats.
        parsed = json.loads(body)
        assert list(parsed) == ["data", "key", "seq", "table"] and parsed["table"] == name
        assert body == json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_hash_links_to_the_previous_record() -> None:
    body = canonical("monitoring_gap", ["detroit", "ami", 1.0], 1, {"end": 2.0, "reason": "lost"})
    assert body == (
        b'{"data":{"end":2.0,"reason":"lost"},"key":["detroit","ami",1.0],"seq":1,"table":"monitoring_gap"}'
    )
    assert link_hash(GENESIS, body) == hashlib.sha256(bytes(32) + body).hexdigest()
    first = link_hash(GENESIS, body)
    assert link_hash(first, body) != first  # the same content elsewhere in the chain hashes differently


def test_upgrade_backfill_hashes_what_the_writers_hash() -> None:
    """Migration 0003 keeps its own copy of the hashed fields (frozen at that revision); at this
    revision it must be the writers' exactly, or upgraded rows would not verify."""
    frozen = _migration().SPEC
    assert set(frozen) == set(CHAINED)
    codes = {float: "f", int: "i", bool: "b", str: "s"}
    for name, spec in CHAINED.items():
        key_spec, data_spec = frozen[name]
        assert tuple(k for k, _ in key_spec) == spec.key, name
        assert tuple(f for f, _ in data_spec) == spec.data, name
        for field, code in (*key_spec, *data_spec):
            assert codes[_python_type(name, field)] == code, (name, field)
