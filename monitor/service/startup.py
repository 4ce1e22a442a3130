"""Start-up against a database that may not be there yet.

A site's PC often boots faster than the group's PostgreSQL server, or the network to it is down for
a while: the daemon must not die on that (a supervisor restart loop would hide it). It retries the
schema upgrade with backoff until the database answers or a stop is requested. The calls it could
not watch meanwhile are covered by the restart gap recorded once the PBX is connected (see
monitor.service.checkpoint), so nothing is hidden.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy.engine import Engine

from monitor.service.writer import describe_db_error, is_transient_db_error
from monitor.store.engine import safe_url

log = logging.getLogger(__name__)


async def prepare_store(
    engine: Engine,
    setup: Callable[[Engine], None],
    stop: asyncio.Event,
    *,
    initial_delay_s: float = 1.0,
    max_delay_s: float = 30.0,
) -> bool:
    """Run ``setup`` (migrations, policy registration) until it succeeds; False if stopped first.

    Only connection trouble is retried: a wrong password, an unknown database or a schema error
    will not go away by waiting and is raised at once (the engine never puts the password in it).
    """
    delay = initial_delay_s
    attempts = 0
    while True:
        attempts += 1
        try:
            await asyncio.to_thread(setup, engine)
        except Exception as exc:
            if not is_transient_db_error(exc) or _is_configuration_error(exc):
                raise
            log.error(
                "database %s unavailable at start-up (attempt %d): %s; retrying in %.0fs",
                safe_url(engine),
                attempts,
                describe_db_error(exc),
                delay,
            )
        else:
            if attempts > 1:
                log.info("database %s reachable after %d attempts", safe_url(engine), attempts)
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            return False
        delay = min(delay * 2, max_delay_s)


# The server's refusals that are the configuration's fault, not the network's. psycopg gives no
# SQLSTATE for errors raised while connecting, only libpq's text (English unless the server's
# lc_messages says otherwise; a translated one is then retried, and logged each time).
_CONFIGURATION_ERRORS = (
    "password authentication failed",
    "authentication failed for user",
    "no pg_hba.conf entry",
    "does not exist",  # role or database
)


def _is_configuration_error(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate[:2] in ("28", "3D"):
        return True
    text = str(orig if orig is not None else exc)
    return any(marker in text for marker in _CONFIGURATION_ERRORS)
