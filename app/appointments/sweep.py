"""The no-show sweep: booked appointments whose patient never came become `noshow`.

An appointment is missed once the clock is past its start plus the site's late arrival
window plus NOSHOW_MARGIN_MINUTES. Every app process may run the sweep: the marking is
one Lua step per day, which marks a booked appointment at most once and emits its
`appointment.no_show` event with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from redis.exceptions import RedisError

from app import clock
from app.appointments.store import AppointmentStore
from app.backoff import Backoff
from app.sites import Site
from app.store import Store

log = logging.getLogger(__name__)


def noshow_cutoff(site: Site, now: datetime, margin_minutes: int) -> datetime:
    """Appointments that start before this are missed if still booked."""
    return now - timedelta(minutes=site.arrival_late_minutes + margin_minutes)


async def sweep_once(appointments: AppointmentStore, site: Site, now: datetime,
                     margin_minutes: int) -> int:
    """Mark the site's missed appointments of yesterday and today (local days, so a
    sweep shortly after midnight still sees the evening); answers how many this call
    marked. Safe to run in any number of processes at once."""
    cutoff = noshow_cutoff(site, now, margin_minutes)
    today = now.astimezone(site.tz).date()
    marked = 0
    for day in (today - timedelta(days=1), today):
        marked += len(await appointments.mark_no_shows(site, day.isoformat(), cutoff, now))
    return marked


async def run_sweeper(store: Store, appointments: AppointmentStore, margin: int,
                      stop: asyncio.Event, interval_s: float = 60.0) -> None:
    """Sweep every site every `interval_s` seconds until `stop` is set (start it as a task
    in the lifespan). A Redis outage is logged and retried with capped, jittered backoff.

    It ends on the event rather than on cancellation alone: on Python 3.11 a cancel that
    lands as a Redis call completes can be swallowed (asyncio's wait_for race), and the
    loop would then sleep on through shutdown."""
    backoff = Backoff(first=2.0, cap=interval_s)
    while not stop.is_set():
        try:
            for site_id in await store.site_ids():
                site = await store.get_site(site_id)
                if site is not None:
                    await sweep_once(appointments, site, clock.now(), margin)
            backoff.reset()
            delay = interval_s
        except RedisError as exc:
            delay = backoff.next()
            log.warning("no-show sweep failed (%s); retrying in %.1f s", exc, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
