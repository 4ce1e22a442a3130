"""The evidence chain and its verifier, on SQLite and on a throwaway PostgreSQL 15 (the PostgreSQL
cases fail under CI=true when it is missing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration import audit_cases


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.service)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/audit.db"
    return str(request.getfixturevalue("postgres_url"))


def test_untouched_store_verifies(url: str) -> None:
    audit_cases.check_untouched_store_verifies(url)


def test_edited_evaluation_is_named(url: str) -> None:
    audit_cases.check_edit_detected(url)


def test_edited_evidence_is_named(url: str) -> None:
    audit_cases.check_evidence_edit_detected(url)


def test_deleted_record_is_a_gap_in_the_chain(url: str) -> None:
    audit_cases.check_delete_detected(url)


def test_deleted_last_record_is_detected_by_the_head(url: str) -> None:
    audit_cases.check_tail_delete_detected(url)


def test_swapped_positions_are_reported_as_reordered(url: str) -> None:
    audit_cases.check_reorder_detected(url)


def test_swapped_positions_across_tables(url: str) -> None:
    audit_cases.check_reorder_across_tables_detected(url)


def test_rewritten_record_and_anchored_head(url: str) -> None:
    audit_cases.check_rewrite_detected_and_anchor(url)


def test_row_inserted_around_the_chain(url: str) -> None:
    audit_cases.check_direct_insert_detected(url)


def test_concurrent_writers_do_not_fork_the_chain(url: str) -> None:
    audit_cases.check_concurrent_writers_do_not_fork(url)


def test_inquiry_corrections_are_new_revisions(url: str) -> None:
    audit_cases.check_inquiry_corrections_are_appended(url)


def test_upgrade_chains_rows_written_before_the_chain(url: str) -> None:
    audit_cases.check_upgrade_chains_existing_rows(url)
