"""Work done for every site at an interval, by every app process (the no-show sweep, the
day close): each pass is safe to run in several processes at once, because the scripts it
runs make it idempotent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from redis.exceptions import RedisError

from app import clock
from app.errors import ApiError
from app.sites import Site
from app.storage.backoff import Backoff
from app.storage.store import Store

log = logging.getLogger(__name__)


async def every_site(store: Store, work: Callable[[Site, datetime], Awaitable[object]],
                     stop: asyncio.Event, interval_s: float, what: str) -> None:
    """Run `work(site, now)` for every site every `interval_s` seconds until `stop` is set
    (start it as a task in the lifespan). A Redis outage is logged and retried with capped,
    jittered backoff; a site's refusal is logged and tried again at the next pass.

    It ends on the event rather than on cancellation alone: on Python 3.11 a cancel that
    lands as a Redis call completes can be swallowed (asyncio's wait_for race), and the
    loop would then sleep on through shutdown."""
    backoff = Backoff(first=2.0, cap=interval_s)
    while not stop.is_set():
        try:
            for site_id in await store.site_ids():
                await _one_site(store, site_id, work, what)
            backoff.reset()
            delay = interval_s
        except RedisError as exc:
            delay = backoff.next()
            log.warning("%s failed (%s); retrying in %.1f s", what, exc, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


async def _one_site(store: Store, site_id: str,
                    work: Callable[[Site, datetime], Awaitable[object]], what: str) -> None:
    """`work` for one site; a refusal or a bug is logged and the other sites go on (a site
    whose stored configuration cannot be read must not stop the sweep of every other)."""
    try:
        site = await store.get_site(site_id)
        if site is not None:
            await work(site, clock.now())
    except RedisError:
        raise
    except ApiError as exc:
        # A refusal (a site too busy to read at once): the next pass tries again.
        log.warning("%s for site %s: %s", what, site_id, exc)
    except Exception:
        log.exception("%s for site %s failed; the other sites go on", what, site_id)
