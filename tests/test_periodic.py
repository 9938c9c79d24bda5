"""The loop behind the no-show sweep and the day close: a site whose work is refused (too
busy to read at once) neither stops the loop nor keeps the other sites waiting."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime

from helpers import wait_for

from app.errors import ApiError
from app.periodic import every_site
from app.sites import Site
from app.storage import keys
from app.storage.store import Store


async def test_a_refused_site_is_tried_again_and_the_others_go_on(store: Store,
                                                                  site: Site) -> None:
    other = replace(site, id=site.id + "z")  # sorted after the refused one
    await store.save_site(other)
    worked: list[str] = []

    async def work(s: Site, now: datetime) -> None:
        worked.append(s.id)
        if s.id == site.id:
            raise ApiError(503, "unavailable", "The site is changing too fast to read.")

    stop = asyncio.Event()
    loop = asyncio.create_task(every_site(store, work, stop, 0.02, "test work"))
    try:
        await wait_for(lambda: worked.count(site.id) >= 2 and worked.count(other.id) >= 2)
        assert not loop.done()
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5)
        await store.redis.srem(keys.sites(), other.id)
        async for key in store.redis.scan_iter(match=f"lq:{{{other.id}}}:*"):
            await store.redis.delete(key)


async def test_a_site_whose_configuration_cannot_be_read_does_not_stop_the_others(
        store: Store, site: Site) -> None:
    broken = site.id + "b"  # sorted after the good one: a pass that stopped there would
    # still have worked the good site once, so the test waits for two passes
    await store.redis.sadd(keys.sites(), broken)
    await store.redis.set(keys.site(broken), '{"id": "' + broken + '", "queues": 7}')
    worked: list[str] = []

    async def work(s: Site, now: datetime) -> None:
        worked.append(s.id)

    stop = asyncio.Event()
    loop = asyncio.create_task(every_site(store, work, stop, 0.02, "test work"))
    try:
        await wait_for(lambda: worked.count(site.id) >= 2)
        assert not loop.done()
        assert broken not in worked
    finally:
        # Cleaned first: a loop that died of the broken site re-raises in wait_for.
        await store.redis.srem(keys.sites(), broken)
        await store.redis.delete(keys.site(broken))
        stop.set()
        await asyncio.wait_for(loop, 5)
