"""The store and the batch writer on SQLite (the default database)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from monitor.domain.calls import CompletedCall
from monitor.service.writer import BatchResult, BatchWriter, Item, write_batch
from monitor.store.engine import make_engine, safe_url, upgrade
from tests.integration import store_cases
from tests.integration.store_cases import realistic_call


@pytest.fixture
def url(tmp_path: Path) -> str:
    # A directory that does not exist yet: make_engine creates it.
    return f"sqlite:///{tmp_path}/var/slamon.db"


def test_migrations_upgrade_from_empty(url: str) -> None:
    store_cases.check_migrations_from_empty(url)


def test_engine_pragmas(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    engine.dispose()


def test_round_trip(url: str) -> None:
    store_cases.check_round_trip(url)


def test_add_twice_stores_once(url: str) -> None:
    store_cases.check_add_twice_stores_once(url)


def test_keyset_pagination(url: str) -> None:
    store_cases.check_keyset_pagination(url)


def test_gaps_idempotent(url: str) -> None:
    store_cases.check_gaps_idempotent(url)


def test_policy_versions(url: str) -> None:
    store_cases.check_policy_versions(url)


def test_concurrent_writers_store_once(url: str) -> None:
    store_cases.check_concurrent_writers_store_once(url)


def test_caller_never_in_clear(url: str) -> None:
    store_cases.check_caller_never_in_clear(url)


async def test_writer_drains_on_close_and_survives_a_transient_error(url: str) -> None:
    await store_cases.check_writer_drains_and_survives_errors(url)


async def test_writer_flush_without_run_loop(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    writer = BatchWriter(engine)
    writer.submit(realistic_call())
    assert writer.pending == 1
    assert await writer.flush(timeout_s=10)
    assert writer.pending == 0 and writer.stats.written == 1
    assert await writer.close()
    with pytest.raises(RuntimeError):
        writer.submit(realistic_call())
    engine.dispose()


async def test_writer_sets_aside_an_item_the_database_refuses() -> None:
    bad = realistic_call(call_id="bad.0")
    written: list[str] = []

    def write(items: Sequence[Item]) -> BatchResult:
        if bad in items:
            raise IntegrityError("INSERT ...", None, ValueError("violates check constraint"))
        written.extend(i.record.call_id for i in items if isinstance(i, CompletedCall))
        return BatchResult(calls_written=len(items))

    writer = BatchWriter(write=write, max_batch=8, retry_initial_s=0.001, retry_max_s=0.001)
    calls = [realistic_call(call_id=f"{i}.0") for i in range(20)]
    for c in calls[:5]:
        writer.submit(c)
    writer.submit(bad)
    for c in calls[5:]:
        writer.submit(c)
    assert await writer.close(timeout_s=10)
    assert sorted(written) == sorted(c.record.call_id for c in calls)
    assert list(writer.rejected) == [bad] and writer.stats.rejected == 1
    assert writer.stats.written == 20


async def test_writer_never_logs_the_password(caplog: pytest.LogCaptureFixture) -> None:
    # Nothing listens on port 1: every attempt fails with a connection error.
    engine = make_engine("postgresql+psycopg://app:s3cret-pw@127.0.0.1:1/appdb?connect_timeout=2")
    writer = BatchWriter(engine, retry_initial_s=0.05)
    writer.submit(realistic_call())
    with caplog.at_level(logging.INFO):
        assert await writer.flush(timeout_s=0.5) is False
        assert await writer.close(timeout_s=0.2) is False
    assert writer.stats.errors >= 1 and writer.pending == 1
    assert "s3cret-pw" not in caplog.text
    assert safe_url(engine) in caplog.text and "***" in caplog.text
    engine.dispose()


async def test_writer_holds_sources_back_at_the_high_water_mark_and_drops_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    written: list[str] = []

    def write(items: Sequence[Item]) -> BatchResult:
        written.extend(i.record.call_id for i in items if isinstance(i, CompletedCall))
        return BatchResult(calls_written=len(items))

    writer = BatchWriter(write=write, high_water=4, low_water=1, max_batch=2)
    with caplog.at_level(logging.WARNING):
        for i in range(6):
            writer.submit(realistic_call(call_id=f"{i}.0"))
            assert writer.paused is (i >= 3)  # the mark is reached at the 4th item
    assert writer.pending == 6 and writer.stats.max_pending == 6 and writer.pauses == 1
    assert caplog.text.count("stop reading") == 1  # once per pause, not per item
    assert await writer.flush(timeout_s=5)
    assert not writer.paused and writer.room.is_set() and "read again" in caplog.text
    assert written == [f"{i}.0" for i in range(6)]  # nothing refused, in order
    assert await writer.close()


async def test_writer_does_not_block_the_event_loop(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)

    def slow(items: Sequence[Item]) -> BatchResult:
        time.sleep(0.3)  # a slow database, in the worker thread
        return write_batch(engine, items)

    writer = BatchWriter(engine, write=slow)
    writer.submit(realistic_call())
    flush = asyncio.create_task(writer.flush())
    ticks = 0
    loop = asyncio.get_running_loop()
    begin = loop.time()
    while not flush.done():
        await asyncio.sleep(0.01)
        ticks += 1
    assert loop.time() - begin >= 0.3 and ticks >= 10
    assert await flush
    engine.dispose()
