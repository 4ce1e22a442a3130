"""Shared fixtures. Keep this small: fixtures used by one module live in that module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from monitor.store.engine import make_engine
from tests.services import throwaway_postgres


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """One throwaway PostgreSQL server for the whole session (starting one takes about 1.5 s)."""
    with throwaway_postgres() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> str:
    """The session's PostgreSQL database, emptied: each test starts from a database without tables."""
    engine = make_engine(postgres_server_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return postgres_server_url
