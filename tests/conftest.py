"""Shared fixtures. Keep this small: fixtures used by one module live in that module."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import text

from monitor.store.engine import make_engine
from tests.services import throwaway_postgres

# Hypothesis profiles, chosen with HYPOTHESIS_PROFILE. "ci" (the default, `make test`) runs a fixed,
# derandomized number of examples so a run is reproducible; "fuzz" (`make fuzz`) explores 25x more,
# randomly. Property tests leave max_examples to the profile so `make fuzz` scales all of them.
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
_COMMON = {"deadline": None, "print_blob": True, "suppress_health_check": _SLOW_OK}
settings.register_profile("ci", derandomize=True, max_examples=200, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("fuzz", derandomize=False, max_examples=5000, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
