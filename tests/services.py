"""Helpers for tests that need a real service (PostgreSQL, Dovecot, Prometheus...).

A missing binary skips the test on a developer machine and fails it under ``CI=true``, so CI can never
go green by silently skipping what it was meant to exercise.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass
class Postgres:
    """A running throwaway PostgreSQL server that a test may stop and start again (same port, same
    data): a database outage for real, clients see connection refused."""

    url: str
    _pg_ctl: list[str]
    _data: str
    _logfile: str
    _options: str
    running: bool = True

    def stop(self) -> None:
        """Shut down now (``-m fast``: open sessions are disconnected, nothing waits for them)."""
        _run([*self._pg_ctl, "-D", self._data, "-m", "fast", "-w", "stop"], cwd="/")
        self.running = False

    def start(self) -> None:
        """Start again on the same port (after :meth:`stop`); returns once it accepts connections."""
        cmd = [*self._pg_ctl, "-D", self._data, "-l", self._logfile, "-w", "-t", "30", "-o", self._options]
        done = _run([*cmd, "start"], cwd="/", check=False)
        if done.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not restart: {Path(self._logfile).read_text()[-2000:]}")
        self.running = True


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A private PostgreSQL 15 server (SERVICES.md section 3), yielding
    ``postgresql+psycopg://app:<pw>@127.0.0.1:<port>/appdb``; stopped and deleted afterwards."""
    with throwaway_postgres_server() as server:
        yield server.url


@contextmanager
def throwaway_postgres_server() -> Iterator[Postgres]:
    """:func:`throwaway_postgres` as a :class:`Postgres` the test can stop and start."""
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
    server: Postgres | None = None
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
                url = f"postgresql+psycopg://app:{password}@127.0.0.1:{port}/appdb"
                server = Postgres(url, [*as_owner, pg_ctl], data, logfile, options)
                break
        if server is None:
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
        yield server
    finally:
        if server is not None and server.running:
            _run([*as_owner, pg_ctl, "-D", data, "-m", "fast", "-w", "stop"], cwd="/", check=False)
        shutil.rmtree(tmp, ignore_errors=True)


DOVECOT_CONF = """\
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
protocols = imap
listen = 127.0.0.1
disable_plaintext_auth = no
mail_uid = vmail
mail_gid = vmail
first_valid_uid = 1
mail_location = maildir:{tmp}/mail/%u
{ssl}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {tmp}/users
}}
userdb {{
  driver = static
  args = home={tmp}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
{imaps_ssl}  }}
}}
"""


@dataclass
class Dovecot:
    """A running throwaway Dovecot: plain IMAP on ``port`` (and IMAPS on ``imaps_port`` with ``cert``)."""

    tmp: Path
    conf: Path
    port: int
    imaps_port: int | None
    cert: Path | None
    passwords: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def users(self) -> list[str]:
        return list(self.passwords)

    def maildir(self, user: str) -> Path:
        return self.tmp / "mail" / user

    def start(self, timeout: float = 15.0) -> None:
        dovecot = require("/usr/sbin/dovecot", "dovecot-imapd")
        self.proc = subprocess.Popen([dovecot, "-F", "-c", str(self.conf)], stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        # A bare TCP connect is not enough: the master owns the socket even when imap-login fails.
        while True:
            if self.proc.poll() is not None:
                log = (self.tmp / "dovecot.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"dovecot exited with {self.proc.returncode}: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2.0) as s:
                    if s.recv(200).startswith(b"* OK"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dovecot did not greet within {timeout:.0f}s")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM to the master and wait for it (about 1 s), then SIGTERM to its children still left.

        An imap process serving a connected client (one in IDLE, say) outlives the master by about
        10 s before it sends ``BYE Server shutting down.`` (measured with Dovecot 2.3.19); a stopped
        server here means every one of its processes is gone.
        """
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        children = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def imap_pids(self) -> list[int]:
        """The ``imap`` processes serving logged-in clients (children of the master we started)."""
        if self.proc is None:
            return []
        pids = []
        for pid in _children(self.proc.pid):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "imap":
                    pids.append(pid)
        return pids

    def doveadm(self, *args: str) -> str:
        doveadm = require("/usr/bin/doveadm", "dovecot-core")
        done = _run([doveadm, "-c", str(self.conf), *args], cwd=str(self.tmp))
        return done.stdout


def _children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (read from /proc before the parent exits and they are re-parented)."""
    found: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name (2nd field) may contain spaces: parse after its closing parenthesis.
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _ensure_vmail() -> None:
    try:
        pwd.getpwnam("vmail")
    except KeyError:
        useradd = require("useradd", "passwd")
        _run(
            [
                *(useradd, "--system", "--user-group", "--no-create-home"),
                *("--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "vmail"),
            ],
            cwd="/",
        )


@contextmanager
def throwaway_dovecot(users: int = 1, *, tls: bool = False, extra_conf: str = "") -> Iterator[Dovecot]:
    """A private Dovecot 2.3 IMAP server (SERVICES.md sections 1-2) with ``users`` accounts
    ``user1..userN`` (random passwords), a ``\\Sent`` special-use folder, and with ``tls`` a
    self-signed certificate for localhost/127.0.0.1 on an extra IMAPS port (plain port offers
    STARTTLS). ``extra_conf`` is appended to the configuration. Stopped and deleted afterwards."""
    require("/usr/sbin/dovecot", "dovecot-imapd")
    if os.geteuid() != 0:  # mail processes run as vmail: the master must be able to switch to it
        message = "the throwaway Dovecot needs root (it runs mail processes as the vmail user)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    _ensure_vmail()
    vmail = pwd.getpwnam("vmail")
    # Directly under /tmp and 0711: the dovecot and vmail users must traverse every ancestor.
    tmp = Path(tempfile.mkdtemp(prefix="slamon-dovecot-", dir="/tmp"))
    tmp.chmod(0o711)
    server: Dovecot | None = None
    try:
        (tmp / "mail").mkdir(mode=0o700)
        os.chown(tmp / "mail", vmail.pw_uid, vmail.pw_gid)
        passwords = {f"user{i}": secrets.token_hex(8) for i in range(1, users + 1)}
        (tmp / "users").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in passwords.items()))
        (tmp / "users").chmod(0o644)
        cert: Path | None = None
        ssl_conf, imaps_ssl = "ssl = no", ""
        imaps_port = 0
        if tls:
            openssl = require("openssl", "openssl")
            cert, key = tmp / "cert.pem", tmp / "key.pem"
            _run(
                [
                    *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
                    *("-nodes", "-days", "2", "-subj", "/CN=localhost"),
                    *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
                    *("-keyout", str(key), "-out", str(cert)),
                ],
                cwd=str(tmp),
            )
            ssl_conf = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"
            imaps_ssl = "    ssl = yes\n"
        for _attempt in range(3):  # another process may take the free port before dovecot binds it
            port = free_port()
            imaps_port = free_port() if tls else 0
            conf = tmp / "dovecot.conf"
            conf.write_text(
                DOVECOT_CONF.format(
                    tmp=tmp, port=port, imaps_port=imaps_port, ssl=ssl_conf, imaps_ssl=imaps_ssl
                )
                + extra_conf
            )
            server = Dovecot(tmp, conf, port, imaps_port or None, cert, passwords)
            try:
                server.start()
                break
            except RuntimeError:
                server.stop()
                server = None
        if server is None:
            raise RuntimeError(f"dovecot did not start: {(tmp / 'dovecot.log').read_text(errors='replace')}")
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
