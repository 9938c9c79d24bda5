"""The no-show sweep: booked appointments whose patient never came become `noshow`.

An appointment is missed once the clock is past its start plus the site's late arrival
window plus NOSHOW_MARGIN_MINUTES. Every app process may run the sweep: the marking is
one Lua step per day, which marks a booked appointment at most once and emits its
`appointment.no_show` event with it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from app.appointments.store import AppointmentStore
from app.periodic import every_site
from app.sites import Site
from app.storage.store import Store


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
    in the lifespan); app/periodic.py says how outages and shutdown are handled."""

    async def sweep(site: Site, now: datetime) -> None:
        await sweep_once(appointments, site, now, margin)

    await every_site(store, sweep, stop, interval_s, "no-show sweep")
