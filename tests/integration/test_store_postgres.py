"""The store and the batch writer on a throwaway PostgreSQL 15 (skipped without it, failed under CI)."""

from __future__ import annotations

import pytest

from tests.integration import store_cases

pytestmark = pytest.mark.service


def test_migrations_upgrade_from_empty(postgres_url: str) -> None:
    store_cases.check_migrations_from_empty(postgres_url)


def test_round_trip(postgres_url: str) -> None:
    store_cases.check_round_trip(postgres_url)


def test_add_twice_stores_once(postgres_url: str) -> None:
    store_cases.check_add_twice_stores_once(postgres_url)


def test_keyset_pagination(postgres_url: str) -> None:
    store_cases.check_keyset_pagination(postgres_url)


def test_gaps_idempotent(postgres_url: str) -> None:
    store_cases.check_gaps_idempotent(postgres_url)


def test_policy_versions(postgres_url: str) -> None:
    store_cases.check_policy_versions(postgres_url)


def test_concurrent_writers_store_once(postgres_url: str) -> None:
    store_cases.check_concurrent_writers_store_once(postgres_url)


def test_caller_never_in_clear(postgres_url: str) -> None:
    store_cases.check_caller_never_in_clear(postgres_url)


async def test_writer_drains_on_close_and_survives_a_transient_error(postgres_url: str) -> None:
    await store_cases.check_writer_drains_and_survives_errors(postgres_url)
