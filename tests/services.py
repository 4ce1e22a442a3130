"""Helpers for tests that need a real service (PostgreSQL, Dovecot, Prometheus...).

A missing binary skips the test on a developer machine and fails it under ``CI=true``, so CI can never
go green by silently skipping what it was meant to exercise.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def require(binary_or_path: str, package: str) -> str:
    """The executable's path; skip (or fail under CI) when it is missing, naming the Debian package."""
    if os.sep in binary_or_path:
        found: str | None = binary_or_path if os.path.isfile(binary_or_path) else None
    else:
        found = shutil.which(binary_or_path)
    if found is not None and os.access(found, os.X_OK):
        return found
    message = f"{binary_or_path} not found: install the Debian package {package!r} (make test does)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run(args: list[str], *, cwd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, check=check, capture_output=True, text=True, timeout=60)


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A private PostgreSQL 15 server (SERVICES.md section 3), yielding
    ``postgresql+psycopg://app:<pw>@127.0.0.1:<port>/appdb``; stopped and deleted afterwards."""
    initdb = require(str(PG_BIN / "initdb"), "postgresql-15")
    pg_ctl = require(str(PG_BIN / "pg_ctl"), "postgresql-15")
    psql = require(str(PG_BIN / "psql"), "postgresql-client-15")
    # initdb refuses root; as root, run the server as the postgres user in a dir it owns, directly
    # under /tmp (pytest's tmp_path ancestors are 0700 and unreachable for it).
    as_owner: list[str] = []
    tmp = tempfile.mkdtemp(prefix="slamon-pg-", dir="/tmp")
    if os.geteuid() == 0:
        as_owner = [require("runuser", "util-linux"), "-u", "postgres", "--"]
        shutil.chown(tmp, "postgres", "postgres")
    data, logfile = f"{tmp}/data", f"{tmp}/postgres.log"
    password = secrets.token_hex(16)
    started = False
    try:
        _run(
            [
                *as_owner,
                *(initdb, "-D", data, "-U", "postgres", "-A", "trust", "--auth-host=scram-sha-256"),
                *("-E", "UTF8", "--locale=C.UTF-8", "--no-sync"),
            ],
            cwd="/",
        )
        for _attempt in range(3):  # another process may grab the free port before the server does
            port = free_port()
            options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={tmp} -c fsync=off"
            start = [*as_owner, pg_ctl, "-D", data, "-l", logfile, "-w", "-t", "30", "-o", options, "start"]
            if _run(start, cwd="/", check=False).returncode == 0:
                started = True
                break
        if not started:
            raise RuntimeError(
                f"PostgreSQL did not start: {Path(logfile).read_text(errors='replace')[-2000:]}"
            )
        _run(
            [
                *(psql, "-h", tmp, "-p", str(port), "-U", "postgres", "-d", "postgres"),
                *("-v", "ON_ERROR_STOP=1", "-q"),
                *("-c", f"CREATE ROLE app LOGIN PASSWORD '{password}'"),
                *("-c", "CREATE DATABASE appdb OWNER app"),
            ],
            cwd="/",
        )
        yield f"postgresql+psycopg://app:{password}@127.0.0.1:{port}/appdb"
    finally:
        if started:
            _run([*as_owner, pg_ctl, "-D", data, "-m", "fast", "-w", "stop"], cwd="/", check=False)
        shutil.rmtree(tmp, ignore_errors=True)
