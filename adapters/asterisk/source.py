"""A PBX as a source of call events: the AMI client wired to the call pipeline.

On every (re)connect the live channels are listed (``CoreShowChannels``) so calls already in progress
are tracked, calls that ended unseen are closed, and the time we were blind is recorded as a
monitoring gap rather than hidden.

A PBX restart is told by ``CoreStatus``: its startup date and time differ from the previous
connection's. The rebooted PBX dropped every call that was live when the gap began (they are closed
at the gap's start, reason ``pbx_restart``), and its Uniqueid sequence starts again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from adapters.asterisk.actions import AmiError, AmiSecret
from adapters.asterisk.client import AmiClient
from adapters.asterisk.pipeline import AmiCallPipeline
from monitor.domain.events import MonitoringGap

log = logging.getLogger(__name__)


class AmiSource:
    source = "ami"

    def __init__(
        self,
        *,
        site: str,
        host: str,
        port: int,
        username: str,
        secret: AmiSecret,
        pipeline: AmiCallPipeline,
        on_gap: Callable[[MonitoringGap], None],
        ping_interval: float = 10.0,
        action_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        **client_options: float,
    ) -> None:
        self.site = site
        self.pipeline = pipeline
        self._on_gap = on_gap
        self._clock = clock
        self._action_timeout = action_timeout
        self._down_since: float | None = None
        self._ever_connected = False
        self._restarted: tuple[float, str] | None = None
        self._booted: tuple[str, str] | None = None  # CoreStartupDate/Time of the PBX last connected to
        self.pbx_restarts = 0
        self._live_at_loss: list[str] = []  # calls in progress when the connection was lost
        self._closing = False
        self.resyncs = 0
        self.client = AmiClient(
            host,
            port,
            username,
            secret,
            on_message=pipeline.on_message,
            on_connected=self._connected,
            on_gap=self._gap,
            on_state=self._state,
            ping_interval=ping_interval,
            clock=clock,
            **client_options,  # type: ignore[arg-type]
        )

    # SourceProbe (metrics, readiness)
    @property
    def up(self) -> bool:
        return self.client.connected

    @property
    def last_event_at(self) -> float | None:
        return self.client.last_event_at

    @property
    def events_total(self) -> int:
        return self.client.events_total

    @property
    def parse_errors(self) -> int:
        return self.client.parse_errors

    @property
    def unknown_events(self) -> int:
        return self.pipeline.stats.unknown_events

    @property
    def rejected_events(self) -> int:
        return self.pipeline.stats.rejected

    async def run(self) -> None:
        await self.client.run()

    async def close(self) -> None:
        self._closing = True
        await self.client.close()

    def resume_after_restart(self, since: float, reason: str) -> None:
        """slamon itself was down: the PBX was last watched at ``since``. The first connection then
        resyncs against that instant (calls restored from the checkpoint that ended meanwhile are
        closed there) and records the blind time as a gap, like a reconnect."""
        self._restarted = (since, reason)

    def _state(self, up: bool) -> None:
        if not up and self._down_since is None and not self._closing:
            self._down_since = self._clock()
            self._live_at_loss = list(self.pipeline.service.tracker.live_calls)
            log.warning("AMI source for site %s is down", self.site)

    def _gap(self, start: float, end: float, reason: str) -> None:
        if self._down_since is not None:  # the client knows best when we stopped hearing the PBX
            self._down_since = min(self._down_since, start)
        self._on_gap(MonitoringGap(source=self.source, site=self.site, start=start, end=end, reason=reason))

    async def _connected(self, client: AmiClient, connected_at: float) -> None:
        gap_start = self._down_since if self._ever_connected else None
        if not self._ever_connected and self._restarted is not None:
            gap_start, reason = self._restarted
            if connected_at > gap_start:
                self._gap(gap_start, connected_at, reason)
        self._ever_connected = True
        self._down_since = None
        if await self._pbx_restarted(client) and gap_start is not None:
            self.pbx_restarts += 1
            dropped = self.pipeline.service.pbx_restarted(gap_start, self._live_at_loss)
            log.warning(
                "AMI site %s: the PBX restarted while we were disconnected; %d call(s) it dropped closed",
                self.site,
                dropped,
            )
        try:
            channels = await client.list_action(
                "CoreShowChannels", complete_event="CoreShowChannelsComplete", timeout=self._action_timeout
            )
        except AmiError as exc:
            # Without a listing we cannot tell which calls ended while we were away: keep them open;
            # the stale timer closes any that never speak again.
            log.warning("AMI resync for site %s failed: %s", self.site, exc)
            return
        try:
            queued = await client.list_action(
                "QueueStatus", complete_event="QueueStatusComplete", timeout=self._action_timeout
            )
        except AmiError as exc:  # queue waits then start at the channel's age: an upper bound
            log.info("AMI QueueStatus for site %s failed: %s", self.site, exc)
            queued = []
        live = self.pipeline.resync(channels, self._clock(), gap_start, queued)
        self.resyncs += 1
        log.info("AMI connected for site %s: %d live channel(s) resynced", self.site, live)

    async def _pbx_restarted(self, client: AmiClient) -> bool:
        """Whether the PBX booted since the previous connection (False when it cannot tell)."""
        try:
            reply = await client.action("CoreStatus", timeout=self._action_timeout)
        except AmiError as exc:  # e.g. no "system" write permission: resync alone closes what ended
            log.info("AMI CoreStatus for site %s failed: %s", self.site, exc)
            return False
        booted = (reply.get("CoreStartupDate"), reply.get("CoreStartupTime"))
        if not all(booted):
            return False
        previous, self._booted = self._booted, booted
        return previous is not None and previous != booted
