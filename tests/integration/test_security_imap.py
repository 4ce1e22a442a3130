"""IMAP certificate verification cannot be weakened (extends test_imap_security.py, which covers a
self-signed certificate without ca_file and plain IMAP off loopback): a host name the certificate does
not name fails, a ca_file that did not sign the certificate fails, no setting turns verification off,
and the one weaker mode (tls = "none", loopback only) warns at every start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from adapters.imap.errors import ImapTlsError
from adapters.imap.guard import make_ssl_context
from adapters.imap.source import ImapSource
from adapters.imap.state import MemoryImapStateStore
from monitor.config import ConfigError, MailboxSettings, load_settings
from tests.integration.dovecot import Collector, make_source
from tests.services import Dovecot, throwaway_dovecot

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tls_dovecot() -> Iterator[Dovecot]:
    with throwaway_dovecot(users=1, tls=True) as server:
        yield server


@contextlib.asynccontextmanager
async def forwarder(bind: str, target_port: int) -> AsyncIterator[int]:
    """A TCP relay on ``bind`` to Dovecot (which listens on 127.0.0.1 only): the same server and
    certificate reached under another address."""

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        finally:
            dst.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    server = await asyncio.start_server(handle, bind, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


@pytest.mark.service
@pytest.mark.parametrize("mode", ["imaps", "starttls"])
async def test_a_host_name_the_certificate_does_not_name_fails(tls_dovecot: Dovecot, mode: str) -> None:
    user = tls_dovecot.users[0]
    target = tls_dovecot.imaps_port if mode == "imaps" else tls_dovecot.port
    assert target is not None and tls_dovecot.cert is not None
    # Control: through the relay at 127.0.0.1 (named in the certificate) the sync works...
    async with forwarder("127.0.0.1", target) as port:
        good = make_source(
            tls_dovecot, user, Collector(), tls=mode, host="127.0.0.1", port=port, ca_file=tls_dovecot.cert
        )
        assert "INBOX" in await good.sync_once()
    # ...and at 127.0.0.2 (same server, same trusted CA, a name not in the certificate) it fails.
    async with forwarder("127.0.0.2", target) as port:
        bad = make_source(
            tls_dovecot, user, Collector(), tls=mode, host="127.0.0.2", port=port, ca_file=tls_dovecot.cert
        )
        with pytest.raises(
            ImapTlsError, match=r"certificate of 127\.0\.0\.2:\d+ not trusted: IP address mismatch"
        ):
            await bad.sync_once()


@pytest.mark.service
async def test_a_ca_file_that_did_not_sign_the_certificate_fails(
    tls_dovecot: Dovecot, tmp_path: Path
) -> None:
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl is needed"
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
            *("-keyout", str(tmp_path / "k.pem"), "-out", str(other_ca)),
        ],
        check=True,
        capture_output=True,
    )
    source = make_source(
        tls_dovecot,
        tls_dovecot.users[0],
        Collector(),
        tls="imaps",
        port=tls_dovecot.imaps_port,
        ca_file=other_ca,
    )
    with pytest.raises(ImapTlsError, match=r"not trusted: self-signed certificate"):
        await source.sync_once()


def test_the_context_always_verifies() -> None:
    ctx = make_ssl_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname is True
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_no_setting_turns_verification_off(tmp_path: Path) -> None:
    base = 'site = "d"\nhost = "mail.example"\nusername = "svc"\n'
    for extra in (
        'tls = "imaps-insecure"\n',
        "verify = false\n",
        "insecure = true\n",
        "check_hostname = false\n",
    ):
        cfg = tmp_path / "slamon.toml"
        cfg.write_text(f'[[site]]\nid = "d"\n[[mailbox]]\n{base}{extra}')
        with pytest.raises(ConfigError, match=r"mailbox\.0\.") as raised:
            load_settings(cfg)
        assert "tls" in str(raised.value) or "Extra inputs are not permitted" in str(raised.value)
    # Nowhere in the code is a non-verifying context built.
    weakening = re.compile(r"CERT_NONE|CERT_OPTIONAL|check_hostname\s*=\s*False|_create_unverified_context")
    for path in [*(ROOT / "adapters").rglob("*.py"), *(ROOT / "monitor").rglob("*.py")]:
        assert not weakening.search(path.read_text(encoding="utf-8")), path


def test_plain_imap_to_loopback_warns_at_every_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "pw").write_text("pw")

    def start(tls: str) -> None:
        settings = MailboxSettings(
            site="d", host="127.0.0.1", port=1143, tls=tls, username="svc", password_file=tmp_path / "pw"
        )
        ImapSource.from_settings(settings, store=MemoryImapStateStore(), on_messages=lambda batch: None)

    caplog.set_level(logging.WARNING, logger="adapters.imap.guard")
    start("none")
    start("none")
    start("imaps")
    warnings = [r.getMessage() for r in caplog.records if r.name == "adapters.imap.guard"]
    assert (
        warnings
        == [
            "IMAP mailbox 'svc': tls = \"none\" - plain IMAP to 127.0.0.1, no encryption and no certificate "
            "check (allowed only because 127.0.0.1 is a loopback address)"
        ]
        * 2
    )
