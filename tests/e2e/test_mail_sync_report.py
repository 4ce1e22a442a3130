"""`slamon sync` and `slamon report inquiries` as processes against a real Dovecot: read-only, resumable,
auto-replies ignored, first human reply measured in business time, open inquiries at risk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.integration.dovecot import Mail
from tests.paths import EMAIL
from tests.services import throwaway_dovecot

SLAMON = str(Path(sys.executable).with_name("slamon"))
TZ = ZoneInfo("America/Detroit")


def t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp()


def eml(msg_id: str, sender: str, to: str, subject: str, body: str, *, date: float, extra: str = "") -> bytes:
    from email.utils import formatdate

    head = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {msg_id}\r\n"
        f"Date: {formatdate(date)}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n{extra}\r\n"
    )
    return head.encode() + body.encode()


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SLAMON, *args], capture_output=True, text=True, timeout=120, env=env)


def test_sync_then_report(tmp_path: Path) -> None:
    with throwaway_dovecot(1) as server:
        user = server.users[0]
        with Mail(server, user) as mail:
            q1 = eml(
                "<q1@example.com>",
                "Jane Roe <jane@example.com>",
                "service@dealer.example",
                "Brake noise on my Civic",
                "Hi, my brakes squeal. Can I bring it in Thursday?",
                date=t("2026-11-24T09:59:50"),
            )
            mail.append("INBOX", q1, when=t("2026-11-24T10:00:00"))
            ack = eml(
                "<ack1@dealer.example>",
                "Service <service@dealer.example>",
                "jane@example.com",
                "Re: Brake noise on my Civic",
                "We received your request and will answer shortly.",
                date=t("2026-11-24T10:00:02"),
                extra="Auto-Submitted: auto-replied\r\nIn-Reply-To: <q1@example.com>\r\n",
            )
            mail.append("Sent", ack, when=t("2026-11-24T10:00:02"))
            reply = eml(
                "<r1@dealer.example>",
                "Sam Advisor <sam@dealer.example>",
                "jane@example.com",
                "Re: Brake noise on my Civic",
                "Thursday 9:00 works, see you then.",
                date=t("2026-11-24T10:42:00"),
                extra="In-Reply-To: <q1@example.com>\r\n",
            )
            mail.append("Sent", reply, when=t("2026-11-24T10:42:01"))
            q2 = eml(
                "<q2@example.org>",
                "Ed Poe <ed@example.org>",
                "service@dealer.example",
                "Price for a timing belt?",
                "How much is a timing belt on a 2015 Accord?",
                date=t("2026-11-24T17:29:00"),
            )
            mail.append("INBOX", q2, when=t("2026-11-24T17:30:00"))
            ooo = (EMAIL / "auto" / "001-sisimai-rfc3834-01.eml").read_bytes()  # a real out-of-office reply
            mail.append("INBOX", ooo, when=t("2026-11-24T11:00:00"))
            before = {f: mail.flags(f) for f in ("INBOX", "Sent")}

        password = tmp_path / "imap.secret"
        password.write_text(server.passwords[user])
        config = tmp_path / "slamon.toml"
        config.write_text(f"""
[monitor]
database_url = "sqlite:///{tmp_path}/slamon.db"

[[site]]
id = "detroit"
timezone = "America/Detroit"
country = "US"
subdivision = "MI"
[site.hours]
mon = ["07:30-18:00"]
tue = ["07:30-18:00"]
wed = ["07:30-18:00"]
thu = ["07:30-18:00"]
fri = ["07:30-18:00"]

[[mailbox]]
site = "detroit"
name = "service"
host = "127.0.0.1"
port = {server.port}
tls = "none"
username = "{user}"
password_file = "{password}"
dealer_domains = ["dealer.example"]
""")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLAMON_")} | {
            "SLAMON_HMAC_KEY": "mail-e2e-key-0123456789abc"
        }
        first = run("sync", "--config", str(config), env=env)
        assert first.returncode == 0, first.stderr
        assert "detroit/service: 5 message(s) read" in first.stdout
        again = run("sync", "--config", str(config), env=env)
        assert (
            again.returncode == 0 and "detroit/service: 0 message(s) read" in again.stdout
        )  # resumed by UID
        with Mail(server, user) as mail:
            assert {f: mail.flags(f) for f in ("INBOX", "Sent")} == before  # nothing marked \\Seen or changed

        report = run(
            "report",
            "inquiries",
            "--config",
            str(config),
            "--at",
            "2026-11-25T07:50:00-05:00",
            "--format",
            "jsonl",
            env=env,
        )
        assert report.returncode == 0, report.stderr
        items = [json.loads(line) for line in report.stdout.splitlines()]
        assert len(items) == 2, items  # the out-of-office reply and the auto-acknowledgement open nothing
        met, waiting = items
        assert met["status"] == "met" and met["first_human_reply_at"] == "2026-11-24T10:42:00-05:00"
        assert met["business_seconds_to_first_human_reply"] == 2520 and met["auto_replies"] == 1
        assert waiting["status"] == "open" and waiting["at_risk"] is True  # 3,000 of 3,600 s used overnight
        assert waiting["deadline_at"] == "2026-11-25T08:00:00-05:00"
        assert all(addr not in report.stdout for addr in ("jane@example.com", "ed@example.org", "Jane Roe"))
        later = run(
            "report",
            "inquiries",
            "--config",
            str(config),
            "--at",
            "2026-11-25T08:00:01-05:00",
            "--format",
            "jsonl",
            env=env,
        )
        assert json.loads(later.stdout.splitlines()[1])["status"] == "breached"
