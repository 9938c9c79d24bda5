"""The reader: one pub/sub connection per process (one per master of a Redis Cluster)
that tells each site's hub when its stream has something new.

Every script that appends to a site's stream also publishes the new event, with the id of
the one before it, on the channel named like the stream (`emit()` in
app/storage/scripts/lib.lua; `SPUBLISH` on a Cluster, which keeps the message on the slot's
shard). The reader subscribes to the channels of the sites this process has sockets for
and hands each message to that site's hub, which takes the event from it when it follows
on from the hub's last id, and otherwise reads the stream from there (XRANGE): the stream
is the truth. Pub/sub loses what is published while a subscriber is away, so every
confirmed (re)subscription wakes its hub too, with no message: after a reconnect each
followed site catches up from its last id, and nothing is missed. An idle process costs
Redis one PING every `PING_SECONDS` per connection, whatever the number of sites.

On a Cluster each master gets its own connection, subscribed (SSUBSCRIBE) to the channels
whose slots it serves. A connection that fails, or a shard channel the server drops (its
slot moved: Redis sends SUNSUBSCRIBE), makes the reader ask the cluster for its nodes
again and start over, with backoff. Under Sentinel the request client's connections go to
the current master and so does the reader's: after a failover it reconnects there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from app.storage import keys
from app.storage.backoff import Backoff

log = logging.getLogger(__name__)

PING_SECONDS = 30.0  # a silent connection is checked this often (a dead peer is noticed)
SUBSCRIBE_BATCH = 500  # channels per SUBSCRIBE when (re)subscribing many
HEALTHY_SECONDS = 10.0  # a connection up this long resets the reconnect backoff

Waker = Callable[[str | None], None]  # a hub's wake(): the message, or None


class Moved(Exception):
    """A shard channel followed here was dropped by its node: the slot has moved."""


class _Link:
    """One pub/sub connection and the channels it serves."""

    def __init__(self, pubsub: PubSub, sharded: bool, name: str,
                 owner: Redis | None = None) -> None:
        self.pubsub = pubsub
        self.sharded = sharded
        self.name = name
        self.owner = owner  # a client made for this link alone (a cluster's node)

    async def subscribe(self, channels: list[str]) -> None:
        if self.sharded:
            # One SSUBSCRIBE may only name channels of one slot: one each (only written
            # here; the confirmations are read by the listener).
            for channel in channels:
                await self.pubsub.ssubscribe(channel)
            return
        for i in range(0, len(channels), SUBSCRIBE_BATCH):
            await self.pubsub.subscribe(*channels[i:i + SUBSCRIBE_BATCH])

    async def unsubscribe(self, channel: str) -> None:
        if self.sharded:
            await self.pubsub.sunsubscribe(channel)
        else:
            await self.pubsub.unsubscribe(channel)

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()
        if self.owner is not None:
            with contextlib.suppress(Exception):
                await self.owner.aclose()


class Reader:
    """Follows the wake-up channels of the sites `follow` names, for the process."""

    def __init__(self, redis: Redis | RedisCluster) -> None:
        self.redis = redis
        self.cluster = isinstance(redis, RedisCluster)
        self.wakers: dict[str, Waker] = {}  # channel -> its hub's wake()
        self.links: dict[str, _Link] = {}  # by node name ("" for a single server)
        self.connected = asyncio.Event()  # every link is up and subscribed
        self.restart = asyncio.Event()  # set to start over (a topology change)
        self.task: asyncio.Task[None] | None = None
        self._unsubscribing: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self.run(), name="live reader")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        await self._close()

    async def follow(self, site_id: str, wake: Waker) -> None:
        """Call `wake` whenever the site's stream may have grown: with each message, and
        with None once the subscription is confirmed (so the caller reads what came
        before it)."""
        channel = keys.events(site_id)
        self.wakers[channel] = wake
        self.start()
        if not self.connected.is_set():
            return  # run() subscribes it with the rest once connected
        link = self._link_for(channel)
        try:
            if link is None:
                self.restart.set()
            else:
                await link.subscribe([channel])
        except RedisError:
            self.restart.set()  # run() notices the connection too; starting over is safe

    def unfollow(self, site_id: str, wake: Waker) -> None:
        """Stop calling `wake` for the site; a later `follow` of it is not undone."""
        channel = keys.events(site_id)
        if self.wakers.get(channel) != wake:
            return  # followed again since, by a new hub of the site
        del self.wakers[channel]
        if self.connected.is_set():
            task = asyncio.ensure_future(self._unsubscribe(channel))
            self._unsubscribing.add(task)
            task.add_done_callback(self._unsubscribing.discard)

    async def _unsubscribe(self, channel: str) -> None:
        link = self._link_for(channel)
        if link is not None and channel not in self.wakers:
            with contextlib.suppress(RedisError):
                await link.unsubscribe(channel)

    async def run(self) -> None:
        """Connect, subscribe everything followed, listen; start over with backoff after
        any failure. Never retries without a wait."""
        backoff = Backoff(first=0.1, cap=2.0)
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self._connect()
                listeners = [asyncio.create_task(self._listen(link), name=f"reader:{name}")
                             for name, link in self.links.items()]
                restart = asyncio.create_task(self.restart.wait())
                try:
                    done, _ = await asyncio.wait([*listeners, restart],
                                                 return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (*listeners, restart):
                        task.cancel()
                    await asyncio.gather(*listeners, restart, return_exceptions=True)
                for task in done:
                    if task is not restart and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                log.info("live reader: starting over (a subscription failed, or slots moved)")
            except Moved as exc:
                log.info("live reader: %s; subscribing again where the slots are now", exc)
            except (RedisError, OSError) as exc:
                log.warning("live reader: Redis unavailable (%s); reconnecting", exc)
            except Exception:
                log.exception("live reader failed; restarting it")
            finally:
                self.connected.clear()
                await self._close()
            if loop.time() - started >= HEALTHY_SECONDS:
                backoff.reset()
            await asyncio.sleep(backoff.next())

    async def _connect(self) -> None:
        self.restart.clear()
        if self.cluster:
            cluster: Any = self.redis
            await cluster.nodes_manager.initialize()
            for node in cluster.get_primaries():
                client = Redis(host=node.host, port=node.port, decode_responses=True,
                               username=node.connection_kwargs.get("username"),
                               password=node.connection_kwargs.get("password"))
                self.links[node.name] = _Link(client.pubsub(), True, node.name, client)
        else:
            self.links[""] = _Link(self.redis.pubsub(), False, "")
        for link in self.links.values():
            await link.pubsub.connect()
        # Sites followed while this runs are subscribed too: the last pass finds none
        # left and `connected` is set with no wait between, so none is left out.
        sent: set[str] = set()
        while todo := [c for c in self.wakers if c not in sent]:
            by_link: dict[str, list[str]] = {}
            for channel in todo:
                link = self._link_for(channel)
                if link is None:
                    raise Moved(f"no master serves {channel}")
                by_link.setdefault(link.name, []).append(channel)
            for name, channels in by_link.items():
                await self.links[name].subscribe(channels)
            sent.update(todo)
        self.connected.set()

    def _link_for(self, channel: str) -> _Link | None:
        if not self.cluster:
            return self.links.get("")
        cluster: Any = self.redis
        node = cluster.get_node_from_key(channel)
        return None if node is None else self.links.get(node.name)

    async def _listen(self, link: _Link) -> None:
        while True:
            message = await link.pubsub.get_message(timeout=PING_SECONDS)
            if message is None:
                await link.pubsub.ping()
                continue
            kind = message["type"]
            channel = message.get("channel")
            if kind in ("message", "smessage", "subscribe", "ssubscribe"):
                wake = self.wakers.get(channel)
                if wake is not None:
                    wake(message["data"] if kind.endswith("message") else None)
            elif kind in ("unsubscribe", "sunsubscribe") and channel in self.wakers:
                # Not ours to drop: the slot moved (Redis unsubscribes a shard channel
                # whose slot a node gives up), or an unfollow crossed a new follow.
                if link.sharded:
                    raise Moved(f"{link.name} no longer serves {channel}")
                await link.subscribe([channel])  # confirmed: the hub catches up

    async def _close(self) -> None:
        links, self.links = self.links, {}
        for link in links.values():
            await link.aclose()
