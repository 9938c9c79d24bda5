"""Today's appointments as the board shows them: who is expected, and the provider and
start time of those who have arrived."""

from __future__ import annotations

import json
from datetime import datetime

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from app import clock
from app.sites import Site
from app.storage import keys, scripts

LIMIT = 300  # a day's appointments read for the board, earliest first
SHOWN = ("id", "start_ms", "queue", "provider", "first_name", "last_name", "status",
         "visit_id")


async def today(redis: Redis, read: AsyncScript, site: Site,
                now: datetime) -> tuple[dict[str, str], ...]:
    """The local day's appointments, by start, with only the fields the board shows (no
    birth date, no confirmation code), read with `read` (expected.lua, registered once by
    the Store). Ids whose appointment has expired are skipped."""
    ids = await redis.zrange(keys.appointments_day(site.id, clock.local_date(now, site.tz)),
                             0, LIMIT - 1)
    if not ids:
        return ()
    raw = await scripts.call(read, {"appt:" + i: keys.appointment(site.id, i) for i in ids},
                             {"fields": list(SHOWN)})
    return tuple(json.loads(raw))
