"""One reader per process (app/live/reader.py): many sites followed through one pub/sub
connection, a lost wake-up made good by the catch-up after re-subscribing, and no busy
loop while Redis is away. Each test runs the real server on a Redis of its own, so the
connections counted are the server's alone."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from helpers import TEST_SITE, make_settings, wait_for
from redis import asyncio as aioredis
from redis.exceptions import RedisError
from websockets.asyncio.client import ClientConnection, connect

from app.access.auth import create_token
from app.live.reader import Reader
from app.sites import Site, site_from_dict
from app.storage import keys, redis_client
from app.storage.store import Store

TEST_CLIENT = "the-test"


class Screens:
    """One lobby socket per site, keeping each site's frames."""

    def __init__(self) -> None:
        self.frames: dict[str, list[str]] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.sockets: list[ClientConnection] = []

    async def open(self, ws_url: str, site_id: str, token: str) -> None:
        ws = await connect(f"{ws_url}/ws/sites/{site_id}/lobby", open_timeout=30,
                           additional_headers={"Authorization": f"Bearer {token}"},
                           max_size=None)
        self.sockets.append(ws)
        frames = self.frames.setdefault(site_id, [])

        async def read() -> None:
            with contextlib.suppress(Exception):
                async for frame in ws:
                    frames.append(str(frame))

        self.tasks.append(asyncio.create_task(read()))

    def got(self, site_id: str, text: str) -> bool:
        return any(text in f for f in self.frames.get(site_id, ()))

    async def aclose(self) -> None:
        for ws in self.sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def own_redis(redis_factory, tmp_path) -> AsyncIterator[tuple[Any, Any, Store]]:
    server = redis_factory()
    client = aioredis.Redis.from_url(server.url, decode_responses=True, client_name=TEST_CLIENT)
    try:
        yield server, client, Store(client, make_settings(server.url, tmp_path / "var"))
    finally:
        await client.aclose()


async def _sites(store: Store, count: int) -> list[tuple[Site, str]]:
    made = []
    for n in range(count):
        site = site_from_dict({**TEST_SITE, "id": f"reader-{n:04d}"})
        await store.save_site(site)
        made.append((site, await create_token(store.redis, site.id, "display")))
    return made


async def _clients(client: Any, kind: str | None = None) -> list[dict[str, Any]]:
    """The server's connections (every client but the test's own)."""
    listed = await client.client_list(_type=kind) if kind else await client.client_list()
    return [c for c in listed if c["name"] != TEST_CLIENT]


async def test_three_hundred_sites_are_followed_through_one_pubsub_connection(
        own_redis, live_server):
    redis_server, client, store = own_redis
    sites = await _sites(store, 300)
    server = live_server(redis_url=redis_server.url)
    screens = Screens()
    try:
        # Ten at a time, like the check-ins below: each handshake and check-in takes a
        # pooled connection while it runs, so the pool follows the concurrency.
        for i in range(0, len(sites), 10):
            await asyncio.gather(*(screens.open(server.ws_url, s.id, t)
                                   for s, t in sites[i:i + 10]))
        await wait_for(lambda: all(screens.frames.get(s.id) for s, _ in sites),
                       timeout=30, message="not every screen got its first frame")
        tickets = {}
        for i in range(0, len(sites), 10):
            visits = await asyncio.gather(*(store.check_in(s, "reg", actor="test")
                                            for s, _ in sites[i:i + 10]))
            tickets.update({s.id: v["ticket"] for (s, _), (v, _) in zip(sites[i:i + 10],
                                                                        visits, strict=True)})
        await wait_for(lambda: all(screens.got(s, t) for s, t in tickets.items()),
                       timeout=30, message="a site's check-in never reached its screen")

        pubsub = await _clients(client, "pubsub")
        assert len(pubsub) == 1, pubsub
        assert int(pubsub[0]["sub"]) == 300  # every site's channel, on that one connection
        # The rest is the request pool: the work done at once (ten handshakes, reads
        # bounded by READS_AT_ONCE), not one per site.
        assert len(await _clients(client)) <= 25
    finally:
        await screens.aclose()


async def test_a_wake_up_lost_while_the_reader_reconnects_still_reaches_the_screen(
        own_redis, live_server):
    redis_server, client, store = own_redis
    [(site, token)] = await _sites(store, 1)
    server = live_server(redis_url=redis_server.url)
    screens = Screens()
    channel = keys.events(site.id)
    try:
        await screens.open(server.ws_url, site.id, token)
        await wait_for(lambda: screens.frames.get(site.id), message="no first frame")
        lost = None
        for _ in range(10):
            await wait_for(lambda: _subscribed(client, channel), message="never subscribed")
            await client.client_kill_filter(_type="pubsub")
            visit, _ = await store.check_in(site, "reg", actor="test")
            # Nobody was subscribed when the check-in published its wake-up (the
            # reader re-subscribes only after a backoff): it is lost for sure.
            if not await _subscribed(client, channel):
                lost = visit["ticket"]
                break
        assert lost is not None, "the reader re-subscribed too fast to lose a wake-up"
        await wait_for(lambda: screens.got(site.id, lost), timeout=10,
                       message="the check-in made while the reader was away never arrived")
        assert "live reader: Redis unavailable" in server.log()
    finally:
        await screens.aclose()


async def _subscribed(client: Any, channel: str) -> bool:
    return dict(await client.pubsub_numsub(channel))[channel] > 0


async def test_with_redis_down_nothing_spins(own_redis, live_server):
    """Twenty sites' screens while Redis is away for three seconds: the reader backs off,
    the sites' hubs wait for it, and no redraw is tried; then a change reaches them all."""
    redis_server, client, store = own_redis
    sites = await _sites(store, 20)
    server = live_server(redis_url=redis_server.url)
    screens = Screens()
    try:
        await asyncio.gather(*(screens.open(server.ws_url, s.id, t) for s, t in sites))
        await wait_for(lambda: all(screens.frames.get(s.id) for s, _ in sites),
                       message="not every screen got its first frame")
        before = server.log()
        await asyncio.to_thread(redis_server.stop)
        await asyncio.sleep(3)
        during = server.log()[len(before):]
        await asyncio.to_thread(redis_server.start)
        await client.connection_pool.disconnect()
        lines = [line for line in during.splitlines() if "unavailable" in line
                 or "failed" in line]
        # The reader's backoff (0.1 s doubling to 2 s): a handful of lines, whatever
        # the number of sites; no site's hub or redraw retries on its own.
        assert len(lines) <= 8, "\n".join(lines)
        assert not any("redraw" in line or "site reader-" in line for line in lines), lines
        visits = {s.id: (await store.check_in(s, "reg", actor="test"))[0] for s, _ in sites}
        await wait_for(lambda: all(screens.got(s, v["ticket"]) for s, v in visits.items()),
                       timeout=15, message="a change after the outage never arrived")
    finally:
        await screens.aclose()


async def _cluster_sites(cluster: Any, count: int) -> tuple[Any, Store, list[tuple[Site, str]]]:
    client = await redis_client.connect(cluster.url)
    store = Store(client, make_settings(cluster.url, Path(tempfile.mkdtemp())))
    made = []
    for n in range(count):
        site = site_from_dict({**TEST_SITE, "id": f"c{uuid.uuid4().hex[:6]}-{n}"})
        await store.save_site(site)
        made.append((site, await create_token(client, site.id, "display")))
    return client, store, made


def _node_subscribers(cluster: Any) -> list[list[dict[str, str]]]:
    """Each master's pub/sub clients (the server's: the test subscribes to nothing)."""
    return [node.client().client_list(_type="pubsub") for node in cluster.nodes]



async def test_on_a_cluster_each_master_has_one_subscriber_and_slot_moves_are_followed(
        redis_cluster, live_server):
    client, store, sites = await _cluster_sites(redis_cluster, 30)
    server = live_server(redis_url=redis_cluster.url)
    screens = Screens()
    try:
        await asyncio.gather(*(screens.open(server.ws_url, s.id, t) for s, t in sites))
        await wait_for(lambda: all(screens.frames.get(s.id) for s, _ in sites),
                       timeout=15, message="not every screen got its first frame")
        visits = {s.id: (await store.check_in(s, "reg", actor="test"))[0] for s, _ in sites}
        await wait_for(lambda: all(screens.got(s, v["ticket"]) for s, v in visits.items()),
                       timeout=15, message="a check-in never reached its screen")
        subscribers = _node_subscribers(redis_cluster)
        assert [len(s) for s in subscribers] == [1, 1, 1], subscribers
        # Sharded: each site's channel on the master of its slot, and only there.
        assert sum(int(s[0]["ssub"]) for s in subscribers) == 30
        assert all(int(s[0]["sub"]) == 0 for s in subscribers)

        # The slot of one site moves to another master: the old one drops the shard
        # channel (SUNSUBSCRIBE), the reader subscribes on the new owner and catches up.
        site = sites[0][0]
        await asyncio.to_thread(redis_cluster.migrate_slot, keys.events(site.id))
        visit, _ = await store.check_in(site, "reg", actor="test")
        await wait_for(lambda: screens.got(site.id, visit["ticket"]), timeout=15,
                       message="the check-in after the slot moved never arrived")
        await wait_for(lambda: sum(int(s[0]["ssub"]) for s in _node_subscribers(
            redis_cluster) if s) == 30, timeout=10, message="not every site re-subscribed")
        assert "subscribing again where the slots are now" in server.log()
    finally:
        await screens.aclose()
        await client.aclose()


async def test_behind_sentinel_the_screens_follow_the_new_master_after_a_failover(
        redis_sentinel, live_server):
    """The old master, demoted, drops its pub/sub clients; the reader reconnects through
    the Sentinels to the new master and catches up. Check-ins wait for the replica
    (REDIS_WAIT_REPLICAS=1), so one answered is on the new master."""
    client = await redis_client.connect(redis_sentinel.url)
    store = Store(client, make_settings(redis_sentinel.url, Path(tempfile.mkdtemp()),
                                        REDIS_WAIT_REPLICAS="1"))
    site = site_from_dict({**TEST_SITE, "id": f"s{uuid.uuid4().hex[:6]}"})
    await store.save_site(site)
    token = await create_token(client, site.id, "display")
    server = live_server(redis_url=redis_sentinel.url)
    screens = Screens()
    try:
        await screens.open(server.ws_url, site.id, token)
        await wait_for(lambda: screens.frames.get(site.id), message="no first frame")
        visit, _ = await store.check_in(site, "reg", actor="test")
        await wait_for(lambda: screens.got(site.id, visit["ticket"]),
                       message="the check-in before the failover never arrived")
        old = redis_sentinel.master().port
        new = await asyncio.to_thread(redis_sentinel.failover)
        assert new.port != old
        after = None
        for _ in range(120):
            try:
                after, _ = await store.check_in(site, "reg", actor="test")
            except RedisError:
                await asyncio.sleep(0.25)  # switching: the desk would try again
                continue
            if new.client().exists(keys.visit(site.id, after["id"])):
                break
            await asyncio.sleep(0.25)
        assert after is not None
        await wait_for(lambda: screens.got(site.id, after["ticket"]), timeout=20,
                       message="the check-in on the new master never reached the screen")
        ours = [c for c in new.client().client_list(_type="pubsub")
                if not c["name"].startswith("sentinel")]  # the Sentinels' hello channel
        assert len(ours) == 1, "the reader follows the master"
    finally:
        await screens.aclose()
        await client.aclose()


async def test_a_site_followed_again_as_its_old_hub_leaves_keeps_its_wake_ups(
        redis_url, site_id):
    """A site's hub stops as a socket arrives and starts a new one: the old hub's
    unfollow must not take the new hub's subscription with it."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    reader = Reader(client)
    woken: list[str] = []

    def old(_: str | None) -> None:
        woken.append("old")

    def new(_: str | None) -> None:
        woken.append("new")

    try:
        await reader.follow(site_id, old)
        await wait_for(lambda: woken == ["old"], message="no confirmation")
        reader.unfollow(site_id, old)
        await reader.follow(site_id, new)
        await asyncio.sleep(0.2)  # the unfollow's UNSUBSCRIBE has gone out
        woken.clear()
        await client.publish(keys.events(site_id), "1-0")
        await wait_for(lambda: "new" in woken, message="the new hub is not woken")
        assert "old" not in woken
    finally:
        await reader.stop()
        await client.aclose()
