"""The no-show sweep: missed appointments are marked once, however many sweepers run."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from helpers import wait_for
from redis import asyncio as aioredis

from app import clock
from app.appointments.schedule import import_entries
from app.appointments.store import AppointmentStore
from app.appointments.sweep import midnight_offset, next_sweep, run_sweeper, sweep_once
from app.config import ConfigError, Settings
from app.sites import Site, site_from_dict
from app.storage import due, keys
from app.storage.store import Store

ROOT = Path(__file__).resolve().parents[1]
MARGIN = 30


def booked(site: Site, id_: str, start: datetime, **more: str) -> dict[str, str]:
    return {"id": id_, "start": start.isoformat(), "first_name": "Pat", "last_name": id_,
            "birth_date": "1970-01-01", **more}


async def statuses(appts: AppointmentStore, site: Site, ids: list[str]) -> dict[str, str]:
    return {i: (await appts.get(site, i)).status for i in ids}


async def no_show_events(store: Store, site: Site) -> list[str]:
    entries = await store.redis.xrange(keys.events(site.id), "-", "+")
    return [f["appointment"] for _, f in entries if f["type"] == "appointment.no_show"]


@pytest.fixture
async def second_client(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    yield client
    await client.aclose()


def test_margin_comes_from_the_environment(tmp_path) -> None:
    def margin(**env: str) -> int:
        return Settings.from_env({"VAR_DIR": str(tmp_path), **env}).noshow_margin_minutes

    assert margin() == 30
    assert margin(NOSHOW_MARGIN_MINUTES="45") == 45
    for bad in ("-1", "soon", "99999"):
        with pytest.raises(ConfigError, match="NOSHOW_MARGIN_MINUTES"):
            margin(NOSHOW_MARGIN_MINUTES=bad)


async def test_only_booked_appointments_past_the_window_and_margin_are_marked(
        store: Store, settings: Settings, site: Site) -> None:
    now = clock.now()
    cutoff = now - timedelta(minutes=site.arrival_late_minutes + MARGIN)
    await import_entries(store.redis, settings, site, [
        booked(site, "missed", cutoff - timedelta(seconds=1)),
        booked(site, "edge", cutoff),
        booked(site, "soon", now + timedelta(minutes=5)),
        booked(site, "gone", cutoff - timedelta(minutes=5), status="cancelled"),
        booked(site, "came", cutoff - timedelta(minutes=10)),
    ])
    await store.check_in(site, "reg", actor="test", appointment_id="came")
    appts = AppointmentStore(store.redis, settings)
    assert await sweep_once(appts, site, now, MARGIN) == 1
    assert await statuses(appts, site, ["missed", "edge", "soon", "gone", "came"]) == {
        "missed": "noshow", "edge": "booked", "soon": "booked", "gone": "cancelled",
        "came": "arrived"}
    assert await sweep_once(appts, site, now, MARGIN) == 0
    assert len(await no_show_events(store, site)) == 1
    day = clock.local_date(cutoff, site.tz)
    assert (await store.redis.hget(keys.stats(site.id, day), "appointments_noshow")) == "1"


async def test_yesterday_evening_is_swept_after_midnight(
        store: Store, settings: Settings, site: Site) -> None:
    today = clock.now().astimezone(site.tz).date()
    evening = datetime(today.year, today.month, today.day, 23, 30, tzinfo=site.tz) - \
        timedelta(days=1)
    await import_entries(store.redis, settings, site, [booked(site, "late", evening)])
    after_midnight = evening + timedelta(minutes=90)
    appts = AppointmentStore(store.redis, settings)
    assert await sweep_once(appts, site, after_midnight, MARGIN) == 1


async def test_two_concurrent_sweepers_mark_each_no_show_once(
        store: Store, settings: Settings, site: Site,
        second_client: aioredis.Redis) -> None:
    now = clock.now()
    start = now - timedelta(minutes=site.arrival_late_minutes + MARGIN + 1)
    ids = [f"m{i:02d}" for i in range(40)]
    await import_entries(store.redis, settings, site,
                         [booked(site, i, start - timedelta(seconds=n)) for n, i in
                          enumerate(ids)])
    a = AppointmentStore(store.redis, settings)
    b = AppointmentStore(second_client, settings)
    counts = await asyncio.gather(*(sweep_once(x, site, now, MARGIN) for x in (a, b) * 5))
    assert sum(counts) == len(ids)
    assert set((await statuses(a, site, ids)).values()) == {"noshow"}
    marked = await no_show_events(store, site)
    assert len(marked) == len(ids)


SWEEPER = """
import asyncio, sys
from redis import asyncio as aioredis
from app import clock
from app.appointments.store import AppointmentStore
from app.config import Settings
from app.storage.store import Store
from app.appointments.sweep import sweep_once

async def main():
    settings = Settings.from_env()
    redis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    site = await Store(redis, settings).get_site(sys.argv[1])
    appts = AppointmentStore(redis, settings)
    total = 0
    for _ in range(20):
        total += await sweep_once(appts, site, clock.now(), 30)
    print(total)
    await redis.aclose()

asyncio.run(main())
"""


async def test_sweepers_in_two_processes_mark_each_no_show_once(
        store: Store, settings: Settings, site: Site, tmp_path: Path) -> None:
    now = clock.now()
    start = now - timedelta(minutes=site.arrival_late_minutes + MARGIN + 1)
    ids = [f"p{i:03d}" for i in range(150)]
    await import_entries(store.redis, settings, site,
                         [booked(site, i, start - timedelta(seconds=n)) for n, i in
                          enumerate(ids)])
    env = {"REDIS_URL": settings.redis_url, "VAR_DIR": str(tmp_path),
           "SECRET_KEY": settings.secret_key, "PATH": "/usr/bin:/bin"}
    processes = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", SWEEPER, site.id, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE) for _ in range(2)]
    outputs = [await p.communicate() for p in processes]
    assert [p.returncode for p in processes] == [0, 0]
    assert sum(int(out.decode()) for out, _ in outputs) == len(ids)
    assert len(await no_show_events(store, site)) == len(ids)


async def test_run_sweeper_sweeps_every_site_until_stopped(
        store: Store, settings: Settings, site: Site) -> None:
    now = clock.now()
    await import_entries(store.redis, settings, site, [
        booked(site, "missed", now - timedelta(hours=2))])
    stop = asyncio.Event()
    appts = AppointmentStore(store.redis, settings)
    task = asyncio.create_task(run_sweeper(store, appts, settings.noshow_margin_minutes, stop,
                                           interval_s=0.05))
    try:
        for _ in range(100):
            if (await appts.get(site, "missed")).status == "noshow":
                break
            await asyncio.sleep(0.05)
        assert (await appts.get(site, "missed")).status == "noshow"
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_a_site_created_after_the_sweeper_started_is_swept(
        store: Store, settings: Settings, site: Site) -> None:
    stop = asyncio.Event()
    appts = AppointmentStore(store.redis, settings)
    task = asyncio.create_task(run_sweeper(store, appts, settings.noshow_margin_minutes, stop,
                                           interval_s=0.05))
    later = replace(site, id=site.id + "l")
    try:
        await asyncio.sleep(0.1)  # the sweeper has made a pass or two without it
        await store.save_site(later)
        await import_entries(store.redis, settings, later, [
            booked(later, "missed", clock.now() - timedelta(hours=2))])

        async def marked() -> bool:
            return (await appts.get(later, "missed")).status == "noshow"

        await wait_for(marked)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await store.redis.srem(keys.sites(), later.id)
        async for key in store.redis.scan_iter(match=f"lq:{{{later.id}}}:*"):
            await store.redis.delete(key)


async def test_a_site_is_next_swept_at_its_next_appointments_deadline(
        store: Store, settings: Settings, site: Site) -> None:
    now = clock.now()
    start = now + timedelta(minutes=5)
    if clock.local_date(start, site.tz) != clock.local_date(now, site.tz):
        start = now - timedelta(minutes=5)  # just before midnight: keep it today
    await import_entries(store.redis, settings, site, [booked(site, "next", start)])
    schedule = due.Schedule(store.redis, due.SWEEP)
    assert await schedule.next_at(site.id) <= clock.ms(clock.now())  # the import made it due
    stop = asyncio.Event()
    appts = AppointmentStore(store.redis, settings)
    task = asyncio.create_task(run_sweeper(store, appts, MARGIN, stop, interval_s=0.05))
    try:
        deadline = start + timedelta(minutes=site.arrival_late_minutes + MARGIN,
                                     milliseconds=1)

        async def scheduled() -> bool:
            return await schedule.next_at(site.id) == clock.ms(
                next_sweep(site, clock.now(), start, MARGIN))

        await wait_for(scheduled)
        assert await schedule.next_at(site.id) <= clock.ms(deadline)
        assert (await appts.get(site, "next")).status == "booked"
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def test_the_next_sweep_is_just_past_the_next_cutoff_or_at_local_midnight() -> None:
    site = site_from_dict({"id": "x", "timezone": "America/Chicago", "arrival_late_minutes": 15,
                           "queues": [{"id": "q", "name": "Q", "prefix": "A"}]})
    at = datetime.fromisoformat
    now = at("2026-03-02T09:00:00-06:00")
    assert next_sweep(site, now, at("2026-03-02T10:00:00-06:00"), 30) == \
        at("2026-03-02T10:45:00.001000-06:00")
    # Nothing booked later today: the next day's appointments are looked up after
    # midnight (each site at its own minute of the first ten), and so is an evening
    # appointment whose cutoff falls after midnight.
    midnight = at("2026-03-03T00:00:00-06:00")
    spread = midnight_offset(site.id)
    assert timedelta(0) <= spread < timedelta(minutes=10)
    assert {midnight_offset(f"site-{n}") for n in range(50)} != {spread}
    assert next_sweep(site, now, None, 30) == midnight + spread
    assert next_sweep(site, now, at("2026-03-02T23:50:00-06:00"), 30) == \
        min(midnight + spread, at("2026-03-03T00:35:00.001000-06:00"))
