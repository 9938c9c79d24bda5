"""The deployment's schedule of periodic work: for each kind (the no-show sweep, the day
close), a sorted set of site ids scored by when the site next needs that work.

A process takes the sites that are due with `Schedule.claim`, which in the same step moves
them a lease ahead: no other process takes them meanwhile, and if the process dies
mid-pass they come back when the lease runs out. `Schedule.done` then puts each site at
the time its work says it is next needed (the next closing time, the next no-show
deadline), unless something made the site due again meanwhile. Anything that changes what
the work would find calls `due_now`: saving a site (a new site, another closing hour or
time zone), storing appointments. So a pass costs what is due, not the number of sites,
and one process does a site's pass, however many run.

Times are the app clock's epoch ms. The sets are global keys, in another cluster slot
than any site: they are written here (due.lua touches nothing else), never by a site's
script (docs/architecture.md, "Keys and slots").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from app import clock
from app.storage import keys, scripts

SWEEP = "sweep"
CLOSE = "close"
KINDS = (SWEEP, CLOSE)
# How long a claimed site stays with the process that claimed it before another may take
# it (a process that died mid-pass); far longer than a site's work takes.
LEASE_MS = 5 * 60_000
ADD_CHUNK = 1000


async def due_now(redis: Any, site_id: str, kinds: Iterable[str] = KINDS,
                  now: datetime | None = None) -> None:
    """Make `site_id` due now for `kinds` (added if missing; never made later)."""
    at = clock.ms(now or clock.now())
    async with redis.pipeline(transaction=False) as pipe:
        for kind in kinds:
            pipe.zadd(keys.due(kind), {site_id: at}, lt=True)
        await pipe.execute()


class Schedule:
    """One kind's schedule on one Redis client."""

    def __init__(self, redis: Any, kind: str) -> None:
        self.redis = redis
        self.key = keys.due(kind)
        self._script = redis.register_script(scripts.source("due"))

    async def add_missing(self, site_ids: Sequence[str], now: datetime) -> None:
        """Make the sites the schedule does not list yet due now (a process's start: a
        deployment upgraded from before the schedule, or a site saved by other means)."""
        at = clock.ms(now)
        for i in range(0, len(site_ids), ADD_CHUNK):
            chunk = site_ids[i:i + ADD_CHUNK]
            await self.redis.zadd(self.key, dict.fromkeys(chunk, at), nx=True)

    async def claim(self, now: datetime, count: int) -> tuple[list[str], int]:
        """Up to `count` site ids due by `now`, now leased to this caller; and the lease
        (to hand back to `done`)."""
        lease = clock.ms(now) + LEASE_MS
        ids = await scripts.call(self._script, {"due": self.key}, {
            "op": "claim", "now": str(clock.ms(now)), "count": count, "lease": str(lease)})
        return list(ids or []), lease

    async def done(self, site_id: str, lease: int, next_at: datetime) -> None:
        """`site_id`'s work is done until `next_at`."""
        await scripts.call(self._script, {"due": self.key}, {
            "op": "done", "site": site_id, "lease": str(lease),
            "next": str(clock.ms(next_at))})

    async def forget(self, site_id: str) -> None:
        """Drop a site that no longer exists (saving it again lists it again)."""
        await self.redis.zrem(self.key, site_id)

    async def next_at(self, site_id: str) -> int | None:
        """When `site_id` is next due (epoch ms), or None when not listed."""
        score = await self.redis.zscore(self.key, site_id)
        return None if score is None else int(score)
