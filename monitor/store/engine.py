"""Engines and schema upgrades. SQLite (WAL) is the default; PostgreSQL through psycopg 3.

Nothing here runs at import time: the composition root calls :func:`make_engine` once and passes the
engine on; :func:`upgrade` is what ``slamon db upgrade`` and the tests run.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine, create_engine, event, make_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str | URL) -> Engine:
    """An engine for ``url``. For a SQLite file its directory is created, and every connection gets
    WAL (readers never block the writer), ``synchronous=NORMAL`` (durable at checkpoints, which is
    enough for WAL) and enforced foreign keys (off by default in SQLite)."""
    parsed = make_url(url)
    # hide_parameters: a failing statement's error message must not carry row values (evidence text,
    # caller keys) into logs.
    if parsed.get_backend_name() == "sqlite":
        _ensure_sqlite_dir(parsed)
        engine = create_engine(parsed, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, hide_parameters=True, pool_pre_ping=True)


def safe_url(url: str | URL | Engine) -> str:
    """The URL with its password replaced by ``***``: the only form that may be logged."""
    if isinstance(url, Engine):
        url = url.url
    return make_url(url).render_as_string(hide_password=True)


def upgrade(database: str | URL | Engine, revision: str = "head") -> None:
    """Apply the alembic migrations up to ``revision`` (creating the schema on an empty database)."""
    engine = database if isinstance(database, Engine) else make_engine(database)
    try:
        with engine.begin() as connection:
            cfg = _alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    finally:
        if engine is not database:
            engine.dispose()


def schema_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def _alembic_config() -> Config:
    # No alembic.ini needed in code: the ini next to the migrations is for the alembic CLI only.
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _ensure_sqlite_dir(url: URL) -> None:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()
