"""The periodic work's schedule on a Redis Cluster: its keys are global, in other slots
than any site's, and written only by their own one-key script, so a save, an import, a
claim and the no-show sweep itself work there as on one server. `redis_url` is
overridden below, so every fixture of this module uses the cluster."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from helpers import wait_for
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis_topologies import Cluster
from test_appointments_sweep import booked

from app import clock
from app.appointments.schedule import import_entries
from app.appointments.store import AppointmentStore
from app.appointments.sweep import run_sweeper
from app.config import Settings
from app.sites import Site
from app.storage import due, keys
from app.storage.store import Store


@pytest.fixture(scope="module")
def redis_url(redis_cluster: Cluster) -> str:
    return redis_cluster.url


async def test_a_missed_appointment_is_swept_on_a_cluster(store: Store, settings: Settings,
                                                          site: Site) -> None:
    assert isinstance(store.redis, RedisCluster)
    assert key_slot(keys.due(due.SWEEP).encode()) != key_slot(keys.site(site.id).encode())
    await import_entries(store.redis, settings, site, [
        booked(site, "missed", clock.now() - timedelta(hours=2))])
    appts = AppointmentStore(store.redis, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(run_sweeper(store, appts, settings.noshow_margin_minutes, stop,
                                           interval_s=0.05))
    schedule = due.Schedule(store.redis, due.SWEEP)
    try:
        async def marked() -> bool:
            return (await appts.get(site, "missed")).status == "noshow"

        await wait_for(marked)

        async def rescheduled() -> bool:
            return (await schedule.next_at(site.id) or 0) > clock.ms(clock.now())

        await wait_for(rescheduled)
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
