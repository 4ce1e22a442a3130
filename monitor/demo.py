"""``slamon demo`` / ``make demo``: the real daemon on embedded defaults.

SQLite under ``./var``, the built-in AMI simulator generating dealership traffic over real TCP (the
same client, tracker, store and API as production), and a live board in the terminal. Secrets for
the demo (HMAC key, AMI secret, an API token) are generated into ``./var`` with mode 0600.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import sys
import time
from collections import deque
from pathlib import Path

from adapters.asterisk.simulator import AmiSimulator
from adapters.asterisk.synthetic import TrafficGenerator, TrafficProfile
from adapters.imap.demo import DemoMailbox
from monitor.config import ApiSettings, MailboxSettings, MonitorSettings, PbxSettings, Settings, SiteSettings
from monitor.domain.calls import CompletedCall
from monitor.mailboxes import MailRuntime
from monitor.runtime import Daemon
from monitor.tokens import create_token
from monitor.views import call_table_header, call_table_row

DEMO_SITE = "demo"


def _secret_file(path: Path, make: str) -> Path:
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make)
    return path


def demo_settings(var: Path, listen: str, ami_port: int) -> Settings:
    return Settings(
        monitor=MonitorSettings(
            database_url=f"sqlite:///{var}/slamon.db",
            listen=listen,
            hmac_key_file=_secret_file(var / "hmac.key", secrets.token_hex(32)),
        ),
        api=ApiSettings(tokens_file=var / "tokens"),
        # Open around the clock so the demo measures SLAs whatever the hour you try it.
        site=[SiteSettings(id=DEMO_SITE, timezone="America/Detroit", country="US", subdivision="MI")],
        pbx=[
            PbxSettings(
                site=DEMO_SITE,
                host="127.0.0.1",
                port=ami_port,
                username="monitor",
                secret_file=var / "ami.secret",
                service_numbers=["600"],
                ping_interval_s=5.0,
            )
        ],
        # Fed by the built-in demo mailbox (no IMAP server is contacted); dealer mail is @dealer.example.
        mailbox=[
            MailboxSettings(
                site=DEMO_SITE,
                name="service",
                host="127.0.0.1",
                tls="none",
                username="service@dealer.example",
                dealer_domains=["dealer.example"],
            )
        ],
    )


class Board:
    """Redraws live calls and the latest measured calls every ``interval`` seconds."""

    def __init__(self, daemon: Daemon, interval: float = 2.0) -> None:
        self.daemon = daemon
        self.interval = interval
        self.recent: deque[CompletedCall] = deque(maxlen=10)
        self.customer_calls = 0
        self.tty = sys.stdout.isatty()

    def sink(self, completed: CompletedCall) -> None:
        if completed.record.direction != "inbound":
            return
        self.customer_calls += 1
        self.recent.appendleft(completed)
        if not self.tty:
            print(call_table_row(completed.record), flush=True)

    async def run(self, daemon: Daemon) -> None:
        while not daemon.stop.is_set():
            if self.tty and daemon.started.is_set():
                self.draw()
            await asyncio.sleep(self.interval)

    def _inquiries(self, now: float) -> list[str]:
        mail = self.daemon.mail
        if mail is None:
            return []
        views = [v for probe in mail.probes for v in probe.inquiries(now)]
        open_ = [v for v in views if v.status == "open"]
        met = sum(1 for v in views if v.status == "met")
        breached = sum(1 for v in views if v.status == "breached")
        risk = sum(1 for v in open_ if v.at_risk)
        lines = ["", f"EMAIL INQUIRIES: {len(open_)} open ({risk} at risk), {met} met, {breached} breached"]
        lines.append("  received  customer              kind      business min  left min  status")
        for v in sorted(views, key=lambda v: -v.received_at)[:8]:
            received = time.strftime("%H:%M:%S", time.localtime(v.received_at))
            state = v.status + (" AT RISK" if v.at_risk and v.status == "open" else "")
            lines.append(
                f"  {received}  {v.customer_masked[:20]:<20}  {v.requested_contact or 'email':<8}  "
                f"{v.business_seconds_elapsed / 60:>12.1f}  {v.remaining_s / 60:>8.1f}  {state}"
            )
        return lines

    def draw(self) -> None:
        now = time.time()
        lines = ["\x1b[H\x1b[2J" + f"slamon demo  {time.strftime('%H:%M:%S')}   (Ctrl-C to stop)", ""]
        live = [c for site in self.daemon.sites for c in site.live(now)]
        lines.append(f"LIVE CALLS ({len(live)})")
        lines.append("  state      queue     since arrival  rings  hold s  advisor")
        for c in sorted(live, key=lambda c: -c.since_arrival_s):
            lines.append(
                f"  {c.state:<10} {c.queue or '-':<9} {c.since_arrival_s:>10.1f} s  {c.rings:>5}  "
                f"{c.hold_s:>6.1f}  {c.agent or '-'}"
            )
        lines += self._inquiries(now)
        lines += ["", "LATEST MEASURED CALLS", call_table_header()]
        lines += [call_table_row(c.record) for c in self.recent]
        for site in self.daemon.sites:
            stats = site.service.stats
            state = "up" if site.source.up else "DOWN"
            lines.append("")
            lines.append(
                f"site {site.site}: AMI {state}, {site.source.events_total} events, "
                f"{site.source.parse_errors} parse errors, {self.customer_calls} customer calls measured "
                f"({stats.completed} incl. internal and outbound)"
            )
        print("\n".join(lines), flush=True)


def run_demo(*, var: Path, listen: str, calls_per_hour: float, seed: int | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    var = var.resolve()
    var.mkdir(parents=True, exist_ok=True)
    ami_secret = _secret_file(var / "ami.secret", secrets.token_urlsafe(24)).read_text().strip()

    async def main() -> None:
        profile = TrafficProfile(calls_per_hour=calls_per_hour)
        traffic = TrafficGenerator(
            profile, seed=seed if seed is not None else secrets.randbits(32), start=time.time() + 1.0
        )
        sim = AmiSimulator(
            traffic.calls(), secret=ami_secret, speed=1.0, timestamp_events=True, wait_for_clients=1
        )
        port = await sim.start()
        settings = demo_settings(var, listen, port)
        daemon = Daemon(settings)
        demo_mail = DemoMailbox(site=DEMO_SITE, mailbox="service")

        async def feed_mail(mail: MailRuntime) -> None:
            await demo_mail.run(mail.feed, daemon.stop)

        daemon.mail_feed = feed_mail
        board = Board(daemon)
        daemon.extra_sinks.append(board.sink)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, daemon.stop.set)
        tokens_file = settings.api.tokens_file or var / "tokens"
        token = create_token(tokens_file, "auditor")
        board_token = create_token(tokens_file, "wallboard")

        async def announce(d: Daemon) -> None:
            await d.started.wait()
            base = f"http://{listen.rpartition(':')[0]}:{d.port}"
            print(
                f"slamon demo: simulated PBX on 127.0.0.1:{port}, {calls_per_hour:.0f} calls/h, "
                f"SQLite at {var}/slamon.db\n"
                f"  metrics:    {base}/metrics\n"
                f"  API docs:   {base}/docs\n"
                f"  calls API:  curl -H 'Authorization: Bearer {token}' {base}/api/v1/calls\n"
                f"  live calls: curl -H 'Authorization: Bearer {token}' {base}/api/v1/calls/live\n"
                f"  wallboard:  {base}/wallboard#token={board_token}",
                flush=True,
            )
            if not board.tty:
                print(call_table_header(), flush=True)
            await asyncio.sleep(3.0)
            await board.run(d)

        try:
            await daemon.run([announce])
        finally:
            await sim.close()
        print(
            f"\nslamon demo stopped: {sum(s.service.stats.completed for s in daemon.sites)} calls measured."
        )

    asyncio.run(main())
    return 0
