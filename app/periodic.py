"""Periodic work per site (the no-show sweep, the day close), done when it is due and by
one process: each kind has a schedule in Redis (app/storage/due.py) of when each site next
needs it. Every `interval_s` each process claims the sites that are due, does their work,
and puts each back at the time its work says it is next needed. A pass over nothing due
costs one command, however many sites exist; any number of processes share the due work
without doing a site twice. The work stays idempotent, so a site a dead process had
claimed and is taken again after its lease is done right."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from redis.exceptions import RedisError

from app import clock
from app.errors import ApiError
from app.sites import Site
from app.storage.backoff import Backoff
from app.storage.due import Schedule
from app.storage.store import Store

log = logging.getLogger(__name__)

# `work(site, now)` does what is due at `now` and answers when the site next needs it.
Work = Callable[[Site, datetime], Awaitable[datetime]]
# Sites claimed at once: small, so that a burst (every site's closing time) is shared by
# the processes rather than leased to the first.
BATCH = 20
# The soonest a site is due again after its work: a work function that answered a time
# already past would otherwise have its sites claimed again at once, and a pass over 20
# or more of them would loop without a wait.
SOONEST = timedelta(seconds=1)


async def run_due(store: Store, kind: str, work: Work, stop: asyncio.Event,
                  interval_s: float, what: str) -> None:
    """Every `interval_s` seconds until `stop` is set, run `work` for each site whose
    `kind` is due (start it as a task in the lifespan). A Redis outage is logged and
    retried with capped, jittered backoff; a site's refusal is logged and the site is due
    again at the next pass.

    It ends on the event rather than on cancellation alone: on Python 3.11 a cancel that
    lands as a Redis call completes can be swallowed (asyncio's wait_for race), and the
    loop would then sleep on through shutdown."""
    schedule = Schedule(store.redis, kind)
    backoff = Backoff(first=2.0, cap=interval_s)
    listed = False
    while not stop.is_set():
        try:
            if not listed:
                await schedule.add_missing(await store.site_ids(), clock.now())
                listed = True
            await _pass(store, schedule, work, stop, timedelta(seconds=interval_s), what)
            backoff.reset()
            delay = interval_s
        except RedisError as exc:
            delay = backoff.next()
            log.warning("%s failed (%s); retrying in %.1f s", what, exc, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


async def _pass(store: Store, schedule: Schedule, work: Work, stop: asyncio.Event,
                retry: timedelta, what: str) -> None:
    """Claim and work the due sites, a batch at a time, until none is due. A Redis error
    leaves the rest of the batch leased: it is taken again when the lease runs out."""
    started, worked = time.perf_counter(), 0
    while not stop.is_set():
        claimed, lease = await schedule.claim(clock.now(), BATCH)
        for site_id in claimed:
            next_at = await _one_site(store, site_id, work, retry, what)
            if next_at is None:
                await schedule.forget(site_id)
            else:
                await schedule.done(site_id, lease, max(next_at, clock.now() + SOONEST))
        worked += len(claimed)
        if len(claimed) < BATCH:
            break
    if worked >= BATCH:  # a backlog (sites saved in bulk, a closing time): say what it took
        log.info("%s: %d sites in %.1f s", what, worked, time.perf_counter() - started)


async def _one_site(store: Store, site_id: str, work: Work, retry: timedelta,
                    what: str) -> datetime | None:
    """`work` for one site: when the site is next due, or None when it no longer exists.
    A refusal or a bug is logged and the site is due again after `retry` (a site whose
    stored configuration cannot be read must not stop the work of every other)."""
    try:
        site = await store.get_site(site_id)
        if site is None:
            return None
        return await work(site, clock.now())
    except RedisError:
        raise
    except ApiError as exc:
        # A refusal (a site too busy to read at once): the next pass tries again.
        log.warning("%s for site %s: %s", what, site_id, exc)
    except Exception:
        log.exception("%s for site %s failed; the other sites go on", what, site_id)
    return clock.now() + retry
