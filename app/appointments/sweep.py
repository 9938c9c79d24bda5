"""The no-show sweep: booked appointments whose patient never came become `noshow`.

An appointment is missed once the clock is past its start plus the site's late arrival
window plus NOSHOW_MARGIN_MINUTES. A site is swept when that moment comes for its next
appointment, else once after local midnight (app/periodic.py keeps the schedule; storing
appointments makes the site due at once). The marking is one Lua step per day, which
marks a booked appointment at most once and emits its `appointment.no_show` event with
it, so sweeps that overlap (a process that died mid-pass, the CLI) mark nothing twice.
"""

from __future__ import annotations

import asyncio
import zlib
from datetime import datetime, time, timedelta

from app.appointments.store import AppointmentStore
from app.periodic import run_due
from app.sites import Site
from app.storage import due
from app.storage.store import Store

# Sites look up their new day's appointments within this long after local midnight.
MIDNIGHT_SPREAD_S = 600


def noshow_cutoff(site: Site, now: datetime, margin_minutes: int) -> datetime:
    """Appointments that start before this are missed if still booked."""
    return now - timedelta(minutes=site.arrival_late_minutes + margin_minutes)


def sweep_days(site: Site, now: datetime) -> tuple[str, str]:
    """The local days a sweep at `now` looks at: yesterday and today (so a sweep shortly
    after midnight still sees the evening)."""
    today = now.astimezone(site.tz).date()
    return (today - timedelta(days=1)).isoformat(), today.isoformat()


def midnight_offset(site_id: str) -> timedelta:
    """How long after local midnight the site looks up its new day's appointments: spread
    over `MIDNIGHT_SPREAD_S` by its id, so that the sites of one time zone do not all ask
    in the same minute."""
    return timedelta(seconds=zlib.crc32(site_id.encode()) % MIDNIGHT_SPREAD_S)


def next_sweep(site: Site, now: datetime, next_start: datetime | None,
               margin_minutes: int) -> datetime:
    """When the site next needs a sweep, given the earliest start not yet past the cutoff
    (`next_start`): just after that appointment's cutoff, or a little after the next local
    midnight if sooner (a new day's appointments are looked up then)."""
    midnight = datetime.combine(now.astimezone(site.tz).date() + timedelta(days=1), time(),
                                site.tz) + midnight_offset(site.id)
    if next_start is None:
        return midnight
    deadline = next_start + (now - noshow_cutoff(site, now, margin_minutes))
    return min(deadline + timedelta(milliseconds=1), midnight)


async def sweep_once(appointments: AppointmentStore, site: Site, now: datetime,
                     margin_minutes: int) -> int:
    """Mark the site's missed appointments of yesterday and today (local days, so a
    sweep shortly after midnight still sees the evening); answers how many this call
    marked. Safe to run in any number of processes at once."""
    cutoff = noshow_cutoff(site, now, margin_minutes)
    marked = 0
    for day in sweep_days(site, now):
        marked += len(await appointments.mark_no_shows(site, day, cutoff, now))
    return marked


async def sweep_and_schedule(appointments: AppointmentStore, site: Site, now: datetime,
                             margin_minutes: int) -> datetime:
    """Sweep the site; answers when it next needs a sweep."""
    await sweep_once(appointments, site, now, margin_minutes)
    cutoff = noshow_cutoff(site, now, margin_minutes)
    first = await appointments.next_start(site, sweep_days(site, now), cutoff)
    return next_sweep(site, now, first, margin_minutes)


async def run_sweeper(store: Store, appointments: AppointmentStore, margin: int,
                      stop: asyncio.Event, interval_s: float = 60.0) -> None:
    """Every `interval_s` seconds until `stop` is set, sweep the sites that are due (start
    it as a task in the lifespan); app/periodic.py says how outages and shutdown are
    handled."""

    async def sweep(site: Site, now: datetime) -> datetime:
        return await sweep_and_schedule(appointments, site, now, margin)

    await run_due(store, due.SWEEP, sweep, stop, interval_s, "no-show sweep")
