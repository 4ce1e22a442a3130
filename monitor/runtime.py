"""The daemon: every configured source, the call services, the batched store writer and the HTTP
API, run in one asyncio TaskGroup until a signal asks them to stop (then drained cleanly)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from sqlalchemy.engine import Engine

from adapters.asterisk.actions import AmiSecret
from adapters.asterisk.pipeline import AmiCallPipeline
from adapters.asterisk.source import AmiSource
from monitor.api.app import create_app
from monitor.api.deps import AppContext
from monitor.api.limits import server_config
from monitor.bootstrap import call_service, site_rules
from monitor.config import Settings, SiteSettings
from monitor.domain.calls import CompletedCall
from monitor.domain.live import live_calls
from monitor.domain.records import SiteRules
from monitor.mailboxes import MailRuntime
from monitor.memory import release_free_heap
from monitor.metrics import SiteThresholds, SlamonMetrics
from monitor.metrics.store import StoreCollector
from monitor.service.calls import CallService, CallSink
from monitor.service.checkpoint import Checkpointer
from monitor.service.policies import call_thresholds, register_policies
from monitor.service.startup import prepare_store
from monitor.service.summary import roll_up_calls
from monitor.service.wallboard import BoardSite, BoardSource, FiguresReader, Wallboard
from monitor.service.writer import BatchWriter
from monitor.store.engine import make_engine, safe_url, upgrade
from monitor.store.wallboard_queries import answer_figures_reader
from monitor.tokens import load_tokens

log = logging.getLogger(__name__)


@dataclass
class SiteRuntime:
    """One PBX's live state, as the metrics and API see it."""

    site: str
    rules: SiteRules
    service: CallService
    source: AmiSource

    def live(self, now: float) -> list[Any]:
        topo = self.rules.topology
        return live_calls(self.service.tracker.live_calls.values(), now, self.rules.ring_cycle_s, topo)

    def business_open(self, now: float) -> bool:
        return self.rules.calendar.is_open(now)


@dataclass
class Daemon:
    settings: Settings
    clock: Callable[[], float] = time.time
    extra_sinks: list[CallSink] = field(default_factory=list)
    sites: list[SiteRuntime] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    port: int | None = None
    # Replaces the IMAP sources (the demo mailbox): called with the mail runtime to feed it messages.
    mail_feed: Callable[[MailRuntime], Coroutine[Any, Any, None]] | None = None
    mail: MailRuntime | None = None
    wallboard: Wallboard | None = None
    checkpointer: Checkpointer | None = None
    writer: BatchWriter | None = None
    # Finished calls buffered for the store before the AMI sources stop reading (backpressure).
    store_high_water: int = 5_000

    def thresholds(self) -> list[SiteThresholds]:
        out = []
        for site in self.settings.site:
            rules = site_rules(self.settings, site)
            out.append(
                SiteThresholds(
                    site.id,
                    answer_s=rules.policy.answer_within_rings * rules.ring_cycle_s,
                    hold_s=rules.policy.max_hold_s,
                    first_reply_s=rules.policy.first_reply_business_s,
                    acknowledge_s=rules.policy.acknowledge_business_days * rules.calendar.weekday_length_s(),
                )
            )
        return out

    async def run(self, extra: Iterable[Callable[[Daemon], Coroutine[Any, Any, None]]] = ()) -> None:
        settings = self.settings
        engine = make_engine(settings.monitor.database_url)
        try:
            ready = await prepare_store(engine, self._set_up_store, self.stop)
        except BaseException:
            engine.dispose()
            raise
        if not ready:
            engine.dispose()
            log.info("stopped before the database %s became available", safe_url(engine))
            return
        log.info("store ready at %s", safe_url(engine))
        writer = self.writer = BatchWriter(
            engine, thresholds_for=call_thresholds(settings), high_water=self.store_high_water
        )
        metrics = SlamonMetrics(self.thresholds(), clock=self.clock)
        metrics.registry.register(StoreCollector(writer))
        key = settings.hmac_key()
        for pbx in settings.pbx:
            site_cfg = settings.site_by_id(pbx.site)
            sinks: list[CallSink] = [writer.submit, metrics.observe_call, *self.extra_sinks]
            service = call_service(settings, site_cfg, key, sinks)
            pipeline = AmiCallPipeline(service)
            source = AmiSource(
                site=site_cfg.id,
                host=pbx.host,
                port=pbx.port,
                username=pbx.username,
                secret=AmiSecret(pbx.secret().get_secret_value()),
                pipeline=pipeline,
                on_gap=writer.submit_gap,
                ping_interval=pbx.ping_interval_s,
                action_timeout=pbx.action_timeout_s,
                clock=self.clock,
            )
            source.client.room = writer.room  # a store that falls behind holds the PBX back
            self.sites.append(SiteRuntime(site_cfg.id, service.tracker.rules, service, source))
            metrics.add_site(self.sites[-1])
            metrics.add_source(source)
        for site_cfg in settings.site:
            if not any(s.site == site_cfg.id for s in self.sites):
                metrics.add_site(_IdleSite(site_cfg, settings))
        # Calls in progress when slamon last stopped (or died) resume; the time it was down is a gap.
        checkpointer = self.checkpointer = Checkpointer(engine, self.sites, self.clock)
        await checkpointer.restore()
        self.mail = MailRuntime(
            settings, engine, key, metrics=metrics, on_gap=writer.submit_gap, clock=self.clock
        )
        loaded = await asyncio.to_thread(self.mail.load_history)
        log.info("mailboxes: %d stored message(s) reloaded into %d mailbox(es)", loaded, len(self.mail.books))
        if self.mail_feed is None:
            self.mail.build_sources()
        for probe in self.mail.probes:
            metrics.add_mailbox(probe)
        for imap_source in self.mail.sources:
            metrics.add_source(imap_source)
        for site in self.sites:
            site.service.sinks.append(self.mail.on_call)
        self.wallboard = self._wallboard(answer_figures_reader(engine))
        ctx = AppContext(
            engine=engine,
            tokens=load_tokens(settings.api.tokens_file),
            metrics_registry=metrics.registry,
            settings=settings,
            live=self._live_json,
            ready=lambda: self._ready(writer),
            clock=self.clock,
            wallboard=self.wallboard,
        )
        host, _, port = settings.monitor.listen.rpartition(":")
        server = uvicorn.Server(
            server_config(create_app(ctx), host, int(port), settings.api, tokens=len(ctx.tokens))
        )
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(writer.run(), name="store-writer")
                for site in self.sites:
                    tg.create_task(site.source.run(), name=f"ami-{site.site}")
                api = tg.create_task(server.serve(), name="api")
                tg.create_task(self._housekeeping(engine), name="housekeeping")
                tg.create_task(checkpointer.run(self.stop), name="checkpoint")
                tg.create_task(self.mail.run(), name="mailboxes")
                if self.mail_feed is not None:
                    tg.create_task(self.mail_feed(self.mail), name="mail-feed")
                for job in extra:
                    tg.create_task(job(self))
                while not server.started and not api.done():
                    await asyncio.sleep(0.02)
                self.port = _bound_port(server) or int(port)
                self.started.set()
                await self.stop.wait()
                log.info("stopping: draining sources and the store writer")
                checkpointer.stopping()
                for site in self.sites:
                    await site.source.close()
                await self.mail.close()
                server.should_exit = True
                await writer.close()
                # Calls in progress are checkpointed, not closed: after the restart they resume and are
                # stored once, with their real end (or closed at the gap if they ended meanwhile).
                await checkpointer.final()
                raise _Stopped
        except* _Stopped:
            pass
        finally:
            engine.dispose()

    def _set_up_store(self, engine: Engine) -> None:
        upgrade(engine)
        # The thresholds each stored evaluation was judged against, by version (evidence chain).
        register_policies(engine, self.settings, self.clock())

    async def _housekeeping(self, engine: Engine) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=30.0)
            now = self.clock()
            for site in self.sites:
                site.service.expire(now)
            try:
                await asyncio.to_thread(roll_up_calls, engine, self.settings)
            except Exception:  # summaries stay complete without it (they count from the calls)
                log.exception("call rollup pass failed; will retry")
            await asyncio.to_thread(release_free_heap)  # see monitor/memory.py: RSS stays flat

    def _live_json(self, now: float) -> list[dict[str, Any]]:
        out = []
        for site in self.sites:
            for call in site.live(now):
                out.append(
                    {
                        "site": site.site,
                        **{k: getattr(call, k) for k in call.__slots__ if k != "call_id"},
                        "call_id": call.call_id,
                    }
                )
        return out

    def _wallboard(self, figures: FiguresReader) -> Wallboard:
        boards = []
        for site_cfg in self.settings.site:
            rules = site_rules(self.settings, site_cfg)
            runtime = next((s for s in self.sites if s.site == site_cfg.id), None)
            sources = [BoardSource("ami", runtime.source)] if runtime is not None else []
            mail = self.mail
            if mail is not None:
                sources += [BoardSource(s.mailbox, s) for s in mail.sources if s.site == site_cfg.id]
            boards.append(
                BoardSite(
                    site=site_cfg.id,
                    policy=rules.policy,
                    ring_cycle_s=rules.ring_cycle_s,
                    timezone=site_cfg.timezone,
                    calls=runtime or _IdleSite(site_cfg, self.settings),
                    mailboxes=[p for p in mail.probes if p.site == site_cfg.id] if mail else [],
                    sources=sources,
                    short_abandon_s=self.settings.short_abandon_s(site_cfg.id),
                )
            )
        return Wallboard(boards, figures, stopping=self.stop.is_set)

    async def wallboard_snapshot(self, site: str, now: float) -> dict[str, Any]:
        """What ``/api/v1/wallboard/snapshot`` serves (call on the event loop, once started)."""
        assert self.wallboard is not None, "the daemon is not running"
        return await self.wallboard.snapshot(site, now)

    def _ready(self, writer: BatchWriter) -> tuple[bool, dict[str, Any]]:
        sources = {f"{s.site}/ami": s.source.up for s in self.sites}
        db_ok = writer.stats.consecutive_errors == 0
        return db_ok, {
            "database": "ok" if db_ok else "failing",
            "sources": sources,
            "pending_writes": writer.pending,
        }


class _Stopped(Exception):
    pass


class _IdleSite:
    """A configured site without a PBX: still reports whether it is open."""

    def __init__(self, site: SiteSettings, settings: Settings) -> None:
        self.site = site.id
        self._calendar = site.calendar()

    def live(self, now: float) -> list[Any]:
        return []

    def business_open(self, now: float) -> bool:
        return self._calendar.is_open(now)


def _bound_port(server: uvicorn.Server) -> int | None:
    for srv in getattr(server, "servers", []):
        for sock in srv.sockets:
            return int(sock.getsockname()[1])
    return None


def run_daemon(
    settings: Settings,
    extra: Iterable[Callable[[Daemon], Coroutine[Any, Any, None]]] = (),
    daemon: Daemon | None = None,
) -> int:
    """Run until SIGINT/SIGTERM; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        d = daemon or Daemon(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, d.stop.set)
        await d.run(extra)

    asyncio.run(main())
    return 0


def completed_printer(out: Callable[[str], None]) -> Callable[[CompletedCall], None]:
    from monitor.views import call_table_row

    def sink(completed: CompletedCall) -> None:
        if completed.record.direction == "inbound":
            out(call_table_row(completed.record))

    return sink
