"""The no-show sweep: missed appointments are marked once, however many sweepers run."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from redis import asyncio as aioredis

from app import clock
from app.appointments.schedule import import_entries
from app.appointments.store import AppointmentStore
from app.appointments.sweep import run_sweeper, sweep_once
from app.config import ConfigError, Settings
from app.sites import Site
from app.storage import keys
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
