"""The loop behind the no-show sweep and the day close: a site's work is done when it is
due, by one process however many run; a site whose work is refused (too busy to read at
once) neither stops the loop nor keeps the other sites waiting.

Each test keeps its own schedule (a kind of work of its own), so the app instances that
other tests run on the same Redis never take its sites."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from helpers import wait_for

from app import clock
from app.errors import ApiError
from app.periodic import BATCH, Work, run_due
from app.sites import Site
from app.storage import due, keys, redis_client
from app.storage.store import Store

LATER = timedelta(days=1)


@pytest.fixture
async def kind(store: Store) -> AsyncIterator[str]:
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield name
    await store.redis.delete(keys.due(name))


async def running(*loops: asyncio.Task[None]) -> None:
    for loop in loops:
        assert not loop.done()


async def stopped(stop: asyncio.Event, *loops: asyncio.Task[None]) -> None:
    stop.set()
    for loop in loops:
        await asyncio.wait_for(loop, 5)


def recording(worked: list[str], after: timedelta = LATER) -> Work:
    """Work that notes each site it is given, which is then next due `after` later."""
    async def work(s: Site, now: datetime) -> datetime:
        worked.append(s.id)
        return now + after

    return work


def start(store: Store, kind: str, work: Work, stop: asyncio.Event) -> asyncio.Task[None]:
    """`run_due` for `kind` as a task, passing every 0.02 s until `stop` is set."""
    return asyncio.create_task(run_due(store, kind, work, stop, 0.02, "test work"))


async def test_two_instances_on_one_redis_do_a_sites_pass_once(
        store: Store, site: Site, kind: str) -> None:
    other_client = await redis_client.connect(store.settings.redis_url, blocking=False)
    other = Store(other_client, store.settings)
    worked: list[str] = []  # by either instance
    stop = asyncio.Event()
    loops = [start(st, kind, recording(worked), stop) for st in (store, other)]
    try:
        await wait_for(lambda: site.id in worked)
        await asyncio.sleep(0.5)  # some 25 passes of each instance
        assert worked.count(site.id) == 1
        # Saving the site makes it due again: once more, by one of the two.
        await store.save_site(site)
        await due.due_now(store.redis, site.id, (kind,))
        await wait_for(lambda: worked.count(site.id) >= 2)
        await asyncio.sleep(0.5)
        assert worked.count(site.id) == 2
        await running(*loops)
        next_at = await due.Schedule(store.redis, kind).next_at(site.id)
        assert next_at is not None and next_at > clock.ms(clock.now() + LATER / 2)
    finally:
        await stopped(stop, *loops)
        await other_client.aclose()


async def test_a_site_created_after_the_loop_started_is_worked(
        store: Store, site: Site, kind: str) -> None:
    worked: list[str] = []
    stop = asyncio.Event()
    loop = start(store, kind, recording(worked), stop)
    later = replace(site, id=site.id + "n")
    try:
        await wait_for(lambda: site.id in worked)
        await store.save_site(later)
        await due.due_now(store.redis, later.id, (kind,))  # as save_site does for its kinds
        await wait_for(lambda: later.id in worked)
        await running(loop)
    finally:
        await stopped(stop, loop)
        await _drop_site(store, later.id)


async def test_work_that_answers_a_past_time_does_not_spin_the_loop(
        store: Store, site: Site, kind: str) -> None:
    """More sites than a batch, each answered as due an hour ago: each is worked once per
    pass, not claimed again at once in a loop that never waits."""
    others = [replace(site, id=f"{site.id}p{i}") for i in range(BATCH)]
    for other in others:
        await store.save_site(other)
    ours = {site.id, *(o.id for o in others)}
    worked: list[str] = []
    stop = asyncio.Event()
    loop = start(store, kind, recording(worked, after=-timedelta(hours=1)), stop)
    try:
        await wait_for(lambda: ours <= set(worked))
        await asyncio.sleep(0.3)  # 15 of the test's passes
        # Once each; twice at most where a slow machine's pass straddles SOONEST.
        assert max(worked.count(i) for i in ours) <= 2
        await running(loop)
    finally:
        await stopped(stop, loop)
        for other in others:
            await _drop_site(store, other.id)


async def test_a_refused_site_is_tried_again_and_the_others_go_on(
        store: Store, site: Site, kind: str) -> None:
    other = replace(site, id=site.id + "z")
    await store.save_site(other)
    worked: list[str] = []

    async def work(s: Site, now: datetime) -> datetime:
        worked.append(s.id)
        if s.id == site.id:
            raise ApiError(503, "unavailable", "The site is changing too fast to read.")
        return now + LATER

    stop = asyncio.Event()
    loop = start(store, kind, work, stop)
    try:
        # The refused site is due again at the next pass; the other one, done, is not.
        await wait_for(lambda: worked.count(site.id) >= 3)
        assert worked.count(other.id) == 1
        await running(loop)
    finally:
        await stopped(stop, loop)
        await _drop_site(store, other.id)


async def test_a_site_whose_configuration_cannot_be_read_does_not_stop_the_others(
        store: Store, site: Site, kind: str) -> None:
    broken = site.id + "b"
    await store.redis.sadd(keys.sites(), broken)
    await store.redis.set(keys.site(broken), '{"id": "' + broken + '", "queues": 7}')
    worked: list[str] = []
    stop = asyncio.Event()
    # Due again 10 ms later: worked at every pass.
    loop = start(store, kind, recording(worked, timedelta(milliseconds=10)), stop)
    try:
        await wait_for(lambda: worked.count(site.id) >= 2)
        await running(loop)
        assert broken not in worked
    finally:
        # Cleaned first: a loop that died of the broken site re-raises in wait_for.
        await _drop_site(store, broken)
        await stopped(stop, loop)


async def test_a_deleted_site_leaves_the_schedule(store: Store, site: Site, kind: str) -> None:
    gone = site.id + "g"
    schedule = due.Schedule(store.redis, kind)
    await due.due_now(store.redis, gone, (kind,))
    worked: list[str] = []
    stop = asyncio.Event()
    loop = start(store, kind, recording(worked), stop)
    try:
        await wait_for(lambda: site.id in worked)
        while await schedule.next_at(gone) is not None:
            await asyncio.sleep(0.02)
        assert gone not in worked
    finally:
        await stopped(stop, loop)


async def test_a_claim_left_by_a_dead_process_is_taken_after_its_lease(
        store: Store, site: Site, kind: str) -> None:
    schedule = due.Schedule(store.redis, kind)
    now = clock.now()
    await due.due_now(store.redis, site.id, (kind,), now)
    claimed, lease = await schedule.claim(now, 1000)
    assert site.id in claimed
    # Held while the lease runs: nobody else takes it...
    assert site.id not in (await schedule.claim(now, 1000))[0]
    # ...unless the site is made due again meanwhile (it was changed): then it is, and the
    # first claimant's `done` keeps that earlier time.
    after_lease = now + timedelta(milliseconds=due.LEASE_MS + 1)
    assert site.id in (await schedule.claim(after_lease, 1000))[0]
    await due.due_now(store.redis, site.id, (kind,), now)
    await schedule.done(site.id, lease, now + LATER)
    assert await schedule.next_at(site.id) == clock.ms(now)


async def _drop_site(store: Store, site_id: str) -> None:
    await store.redis.srem(keys.sites(), site_id)
    async for key in store.redis.scan_iter(match=f"lq:{{{site_id}}}:*"):
        await store.redis.delete(key)
