"""ImapSource transport security and login against a real throwaway Dovecot: IMAPS and STARTTLS with
a self-signed certificate, plain IMAP refused off loopback, a wrong password reported without it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from adapters.imap.errors import ImapAuthError, ImapConfigError, ImapTlsError
from adapters.imap.session import ImapSession
from adapters.imap.source import ImapSource
from adapters.imap.state import MemoryImapStateStore
from monitor.config import MailboxSettings
from tests.integration.dovecot import WAIT, Collector, Mail, make_message, make_source, running
from tests.services import Dovecot, throwaway_dovecot

pytestmark = pytest.mark.service

T0 = 1_767_000_000.0


@pytest.fixture(scope="module")
def tls_dovecot() -> Iterator[Dovecot]:
    with throwaway_dovecot(users=3, tls=True) as server:
        yield server


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_imaps_with_ca_file(tls_dovecot: Dovecot, host: str) -> None:
    user = tls_dovecot.users[0]
    with Mail(tls_dovecot, user) as mail:
        mail.append("INBOX", make_message(1), when=T0)
        in_inbox = len(mail.flags("INBOX"))
    rec = Collector()
    source = make_source(
        tls_dovecot, user, rec, tls="imaps", host=host, port=tls_dovecot.imaps_port, ca_file=tls_dovecot.cert
    )
    assert (await source.sync_once())["INBOX"] == in_inbox


async def test_starttls_with_ca_file(tls_dovecot: Dovecot) -> None:
    user = tls_dovecot.users[1]
    source = make_source(tls_dovecot, user, Collector(), tls="starttls", ca_file=tls_dovecot.cert)
    assert await source.sync_once() == {"INBOX": 0, "Sent": 0}


@pytest.mark.parametrize("mode", ["imaps", "starttls"])
async def test_self_signed_certificate_without_ca_file_fails_clearly(tls_dovecot: Dovecot, mode: str) -> None:
    port = tls_dovecot.imaps_port if mode == "imaps" else tls_dovecot.port
    source = make_source(tls_dovecot, tls_dovecot.users[0], Collector(), tls=mode, port=port)
    with pytest.raises(ImapTlsError, match=r"certificate .* not trusted: self-signed certificate .*ca_file"):
        await source.sync_once()


def test_plain_imap_to_a_non_loopback_host_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("secret")
    settings = MailboxSettings(
        site="detroit",
        host="mail.example",
        port=143,
        tls="none",
        username="svc",
        password_file=tmp_path / "pw",
    )
    with pytest.raises(ImapConfigError, match=r"refusing plain IMAP to mail\.example.*imaps.*starttls"):
        ImapSource.from_settings(settings, store=MemoryImapStateStore(), on_messages=lambda batch: None)
    with pytest.raises(ImapConfigError, match="refusing plain IMAP"):
        asyncio.run(ImapSession.open("192.0.2.1", 143, tls="none"))


async def test_wrong_password_is_a_clear_error_without_the_password(caplog: pytest.LogCaptureFixture) -> None:
    secret = "Wr0ng-Pa55-" + "q7x"  # as if the secret file were stale
    rec = Collector()
    caplog.set_level(logging.DEBUG)
    # Its own server: Dovecot slows down later logins from an address that failed (auth penalty);
    # without the 2 s failure delay the retries in run() come quickly.
    with throwaway_dovecot(extra_conf="auth_failure_delay = 0\n") as server:
        user = server.users[0]
        source = make_source(server, user, rec, password=SecretStr(secret))
        with pytest.raises(ImapAuthError) as raised:
            await source.sync_once()
        async with running(source):  # the continuous mode logs it and keeps retrying
            await rec.until(lambda: source.last_error is not None, timeout=WAIT)

    expected = f"IMAP login refused for user {user!r} at 127.0.0.1:{server.port}: Authentication failed."
    assert str(raised.value) == expected
    assert "login refused" in (source.last_error or "")
    for text in (str(raised.value), repr(raised.value), caplog.text, repr(source), repr(source.__dict__)):
        assert secret not in text
    assert rec.states == [] and not source.up


async def test_from_settings_reads_the_password_from_its_file(tls_dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot, user = tls_dovecot, tls_dovecot.users[2]
    secret_file = tmp_path / "imap.secret"
    secret_file.write_text(dovecot.passwords[user] + "\n")
    settings = MailboxSettings(
        site="detroit",
        host="127.0.0.1",
        port=dovecot.port,
        tls="none",
        username=user,
        password_file=secret_file,
        name="service",
    )
    rec = Collector()
    source = ImapSource.from_settings(settings, store=MemoryImapStateStore(), on_messages=rec.on_messages)
    assert source.mailbox == "service"
    assert await source.sync_once() == {"INBOX": 0, "Sent": 0}
