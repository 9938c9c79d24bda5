"""Closing the day: at the site's `day_close` hour every visit still open becomes `left`
("day closed"), is counted in the day's numbers, and leaves every index.

The close is scheduled for the site's next closing time (app/periodic.py: one process
takes it when due; saving the site works it out again). One run of day_close.lua per site
and day; it marks the day closed in the same step, so closes that overlap (a process that
died mid-pass, the CLI) close the day once.
`python -m app day close --site S` closes now (again, if needed: it is harmless).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, time, timedelta

from redis.asyncio import Redis

from app import clock
from app.config import Settings
from app.periodic import run_due
from app.sites import Site
from app.storage import due, keys, scripts
from app.storage.store import Store

log = logging.getLogger(__name__)

REASON = "day closed"
ACTOR = "system:day-close"


def close_time(site: Site) -> time:
    hour, minute = site.day_close.split(":")
    return time(int(hour), int(minute))


def is_due(site: Site, now: datetime) -> bool:
    """Whether the site's local clock is past its closing time today."""
    return now.astimezone(site.tz).time() >= close_time(site)


def closing_moment(site: Site, now: datetime) -> datetime:
    """Today's closing time at the site, as a moment. The scheduled close takes only the
    visits checked in before it: a patient who arrives after closing time, or before the
    closer's next pass, or after a restart, is not sent away by a close that was due
    earlier."""
    return datetime.combine(now.astimezone(site.tz).date(), close_time(site), site.tz)


def next_close(site: Site, now: datetime) -> datetime:
    """When the site's close is next due: today's closing time if still ahead, else
    tomorrow's."""
    today = closing_moment(site, now)
    if now < today:
        return today
    tomorrow = now.astimezone(site.tz).date() + timedelta(days=1)
    return datetime.combine(tomorrow, close_time(site), site.tz)


class DayCloser:
    """Runs day_close.lua for one Redis; the app builds one in its lifespan."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._script = redis.register_script(scripts.source("day_close"))

    async def close(self, site: Site, now: datetime | None = None, *,
                    before: datetime | None = None, only_once: bool = False,
                    actor: str = ACTOR) -> int | None:
        """Make every open visit checked in before `before` (default: now) `left`; answers
        how many, or None when `only_once` and the day was already closed."""
        s = site.id
        now = now or clock.now()
        before = before or now
        date = clock.local_date(now, site.tz)
        queue_ids = [q.id for q in site.queues]
        base = {"active": keys.active(s), "rooms": keys.room_status(s),
                "room_visit": keys.room_visit(s), "events": keys.events(s),
                "audit": keys.audit(s, date), "stats": keys.stats(s, date),
                "closed": keys.day_closed(s, date)}
        base |= {"waiting:" + q: keys.waiting(s, q) for q in queue_ids}
        args = {**scripts.common(self.settings, now, actor), "queue_ids": queue_ids,
                "desks": [r.id for r in site.rooms if r.kind == "desk"],
                "clean_after_use": site.clean_after_use, "reason": REASON,
                "only_once": only_once, "before_ms": clock.ms(before)}

        async def attempt() -> object:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zrange(keys.active(s), 0, -1)
                for q in queue_ids:
                    pipe.zrange(keys.waiting(s, q), 0, -1)
                pipe.hvals(keys.room_visit(s))
                listed = await pipe.execute()
            keys_ = dict(base)
            for ids in listed:
                keys_ |= {"visit:" + i: keys.visit(s, i) for i in ids}
            return await scripts.call(self._script, keys_, args)

        result = await scripts.settle(attempt)
        return None if result[0] == "already" else int(result[1])


async def run_closer(store: Store, closer: DayCloser, stop: asyncio.Event,
                     interval_s: float = 60.0) -> None:
    """Close each site's day once its closing time has passed, looking for closes that are
    due every `interval_s` seconds until `stop` is set (a task in the lifespan, like the
    no-show sweep; app/periodic.py)."""

    async def close_if_due(site: Site, now: datetime) -> datetime:
        if is_due(site, now):
            closed = await closer.close(site, now, before=closing_moment(site, now),
                                        only_once=True)
            if closed is not None:
                log.info("site %s: day closed, %d open visits left", site.id, closed)
        return next_close(site, now)

    await run_due(store, due.CLOSE, close_if_due, stop, interval_s, "day close")
