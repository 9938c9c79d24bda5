"""Redis clients from `REDIS_URL`, the one place the app, the CLI and the tests make them.

Three kinds of deployment, one setting:

- `redis://host:6379/0` (or `rediss://`, `unix://`) naming a standalone server;
- the same naming **any node of a Redis Cluster**: the node is asked `INFO cluster`, and
  `cluster_enabled:1` makes the client a `RedisCluster` that finds the other nodes itself;
- `redis+sentinel://host:26379[,host:26380…]/MASTERNAME[/db]`: the Sentinels are asked
  for the master of `MASTERNAME`, and asked again whenever its connection fails (a
  failover), so commands move to the new master on their next retry.

Callers get an object with the usual command methods either way (`register_script`,
pipelines and `MULTI` within one hash tag included) and never look at which kind it is.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.cluster import RedisCluster as SyncRedisCluster
from redis.connection import parse_url
from redis.exceptions import AskError, MovedError, RedisClusterException, TryAgainError
from redis.retry import Retry
from redis.sentinel import Sentinel as SyncSentinel

log = logging.getLogger(__name__)

SENTINEL_SCHEME = "redis+sentinel"
SCHEMES = ("redis", "rediss", "unix", SENTINEL_SCHEME)
# Connections the request client may hold; past it a request waits up to POOL_WAIT
# seconds for one (standalone, Sentinel). A cluster node's pool cannot wait: it fails
# when full, so it is given more room.
POOL_SIZE = 200
POOL_WAIT = 5.0
CLUSTER_POOL_SIZE = 1000
DEFAULT_SENTINEL_PORT = 26379
# A Sentinel that does not answer within a second is passed over for the next one.
SENTINEL_OPTIONS = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}


@dataclass(frozen=True)
class SentinelUrl:
    """A parsed `redis+sentinel://` URL."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    username: str | None
    password: str | None


def parse_sentinel(url: str) -> SentinelUrl:
    """`redis+sentinel://[user:password@]host[:port][,host[:port]…]/MASTERNAME[/db]`;
    ValueError saying what is wrong. The user name and password are the master's; the
    Sentinels are asked without one."""
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    sentinels = []
    for item in hosts.split(","):
        host, colon, port = item.strip().rpartition(":") if ":" in item else (item, "", "")
        host = host.strip("[]")
        if not host:
            raise ValueError("name at least one Sentinel as host:port before the path")
        if colon and not (port.isdecimal() and 1 <= int(port) <= 65535):
            raise ValueError(f"{item!r} has no valid port")
        sentinels.append((host, int(port) if colon else DEFAULT_SENTINEL_PORT))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError("the path must be /MASTERNAME or /MASTERNAME/db")
    db = path[1] if len(path) == 2 else "0"
    if not db.isdecimal():
        raise ValueError(f"the database {db!r} is not a number")
    user, _, password = userinfo.partition(":")
    return SentinelUrl(tuple(sentinels), unquote(path[0]), int(db),
                       unquote(user) or None, unquote(password) or None)


def check_url(url: str) -> None:
    """Return if `url` is a Redis URL this module can connect to; else ValueError with
    the reason (used by the settings to stop start-up with one sentence)."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise ValueError("it must start with redis://, rediss://, unix:// or "
                         "redis+sentinel://")
    if scheme == SENTINEL_SCHEME:
        parse_sentinel(url)
    else:
        parse_url(url)


def is_sentinel(url: str) -> bool:
    return url.lower().startswith(SENTINEL_SCHEME + "://")


def _retry() -> AsyncRetry:
    # A failover or a cluster's moved slot shows as a ConnectionError for a moment:
    # try again after a short, growing, jittered wait (~0.1, 0.2, 0.4… up to 1 s).
    return AsyncRetry(ExponentialWithJitterBackoff(base=0.1, cap=1.0), 6)


def _cluster_enabled(info: dict[str, Any]) -> bool:
    return str(info.get("cluster_enabled", 0)) == "1"


async def is_cluster(url: str, **kwargs: Any) -> bool:
    """Whether the server `url` names is a Redis Cluster node (`INFO cluster`). One that
    does not answer is taken for a standalone server, with a warning: the app then starts
    and answers 503 until Redis is back, as it always has (`serve` and `run` check that
    REDIS_URL answers before starting, so only a server lost in that instant meets this)."""
    probe = Redis.from_url(url, retry=AsyncRetry(NoBackoff(), 0), **kwargs)
    try:
        return _cluster_enabled(await probe.info("cluster"))
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.warning("REDIS_URL does not answer (%s); taking it for a standalone server", exc)
        return False
    finally:
        await probe.aclose()


def is_cluster_sync(url: str, **kwargs: Any) -> bool:
    with redis.Redis.from_url(url, **kwargs) as probe:
        return _cluster_enabled(probe.info("cluster"))


def _cluster_kwargs(url: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    # A cluster has only database 0; `redis://node:7000/0` or no path names it.
    if parse_url(url).get("db", 0):
        raise ValueError("a Redis Cluster has only database 0; drop the /db from REDIS_URL")
    return {k: v for k, v in kwargs.items() if k not in ("db", "retry")}


async def connect(url: str, *, decode_responses: bool = True, blocking: bool = True,
                  socket_timeout: float | None = 5.0, **kwargs: Any) -> Any:
    """An asyncio client for `url`: a `Redis` (standalone, or a Sentinel's master) or a
    `RedisCluster`. `blocking`: a standalone pool waits when full instead of failing.
    `socket_timeout=None` is for blocking reads (`XREAD BLOCK`) that may wait longer.
    A `redis://` server is asked whether it is a cluster node (`is_cluster`)."""
    options = {"decode_responses": decode_responses, "socket_timeout": socket_timeout,
               **kwargs}
    if is_sentinel(url):
        return _sentinel(url, options)
    probe_options = {k: v for k, v in options.items() if k.startswith("socket_")}
    if await is_cluster(url, **probe_options):
        client = Cluster.from_url(url, max_connections=CLUSTER_POOL_SIZE,
                                  **_cluster_kwargs(url, options))
        client.node_options = {**parse_url(url), **_cluster_kwargs(url, options)}
        return client
    if blocking:
        pool = BlockingConnectionPool.from_url(url, max_connections=POOL_SIZE,
                                               timeout=POOL_WAIT, **options)
        return Redis.from_pool(pool)
    return Redis.from_url(url, **options)


# A MULTI that met a moved slot, or one half-way between two masters, tries again up to
# SLOT_TRIES times, after a wait from SLOT_WAIT doubling to SLOT_WAIT_MAX seconds (~9 s
# in all, as long as a resharding may hold one slot half-moved).
SLOT_TRIES = 20
SLOT_WAIT = 0.05
SLOT_WAIT_MAX = 0.5


class Cluster(RedisCluster):
    """A `RedisCluster` whose `MULTI` pipelines go to the slot's owner over a plain pool.

    redis-py 8's cluster transaction pipeline resolves each queued command's slot on a
    private event loop in a new thread, and blocks the caller's loop until it ends: a
    site's snapshot (one `MULTI` of a few reads, run for every change) cost a thread start
    per command and held up every other request and socket meanwhile, three times the
    standalone CPU per check-in (profiled; see docs/architecture.md, "Keys and slots").
    A `MULTI` holds one slot's keys anyway, so `pipeline(transaction=True)` here answers a
    plain pipeline sent to the master that serves its first key's slot. A moved slot
    (`MOVED`) is noted in the slot map and the pipeline tries again at its new owner; a
    slot half-way between two masters (`ASK`, `TRYAGAIN`) cannot be read by one `MULTI`,
    so the pipeline waits (backing off) until the move ends.
    Pipelines without `MULTI` and single commands are redis-py's, unchanged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The URL's and connect()'s options, for the plain clients of the masters.
        self.node_options: dict[str, Any] = {}
        self._node_clients: dict[tuple[str, int], Redis] = {}

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
        if transaction and not shard_hint:
            return SlotTransaction(self)
        return super().pipeline(transaction, shard_hint)

    def node_client(self, host: str, port: int) -> Redis:
        """A plain client of the master at host:port, made once."""
        client = self._node_clients.get((host, port))
        if client is None:
            options = {**self.node_options, "host": host, "port": port}
            options.pop("db", None)
            pool = BlockingConnectionPool(max_connections=POOL_SIZE, timeout=POOL_WAIT,
                                          **options)
            client = self._node_clients[(host, port)] = Redis.from_pool(pool)
        return client

    async def aclose(self, *args: Any, **kwargs: Any) -> None:
        clients, self._node_clients = list(self._node_clients.values()), {}
        for client in clients:
            await client.aclose()
        await super().aclose(*args, **kwargs)


def _first_key(args: tuple[Any, ...]) -> Any:
    """The first key of a queued command: after the name, or after EVAL's script and key
    count; None when the command names no key."""
    name = str(args[0]).upper()
    if name in ("EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"):
        return args[3] if len(args) > 3 and int(args[2]) > 0 else None
    return args[1] if len(args) > 1 else None


class SlotTransaction(Pipeline):
    """A `MULTI` pipeline for one slot, sent to its master over that master's plain pool
    (see `Cluster`). Queuing is redis-py's `Pipeline`; only `execute` differs."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(connection_pool=None, response_callbacks={}, transaction=True,
                         shard_hint=None)
        self.cluster = cluster

    async def watch(self, *names: Any) -> Any:
        raise RedisClusterException("WATCH on a cluster: use pipeline(transaction=False)")

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        stack = list(self.command_stack)
        if not stack:
            return []
        key = _first_key(stack[0][0])
        if key is None:
            raise RedisClusterException("a MULTI on a cluster needs a command with a key")
        cluster = self.cluster
        wait = SLOT_WAIT
        for attempt in range(SLOT_TRIES):
            await cluster.initialize()  # at once unless never done or asked for
            node = cluster.get_node_from_key(key)
            client = cluster.node_client(node.host, node.port)
            self.connection_pool = client.connection_pool
            self.response_callbacks = client.response_callbacks
            self.command_stack = list(stack)
            try:
                return await super().execute(raise_on_error)
            except (MovedError, AskError, TryAgainError) as error:
                if attempt == SLOT_TRIES - 1:
                    raise
                if isinstance(error, MovedError):
                    # The slot's new owner, as redis-py's own commands learn it.
                    error.host = error.host or node.host
                    await cluster.nodes_manager.move_slot(error)
                # ASK or TRYAGAIN: the slot's keys are moving between two masters, and
                # one MULTI cannot read both; wait for the move to end (then MOVED).
                await asyncio.sleep(wait)
                wait = min(wait * 2, SLOT_WAIT_MAX)
        raise AssertionError("unreachable: the last try raises")


class SentinelMaster(Redis):
    """The master's client; closing it also closes its connections to the Sentinels."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel in self.connection_pool.sentinel_manager.sentinels:
            await sentinel.aclose()


class SyncSentinelMaster(redis.Redis):
    def close(self) -> None:
        super().close()
        for sentinel in self.connection_pool.sentinel_manager.sentinels:
            sentinel.close()


def _sentinel(url: str, options: dict[str, Any]) -> Redis:
    parsed = parse_sentinel(url)
    auth = {"username": parsed.username, "password": parsed.password}
    sentinel = Sentinel(parsed.sentinels, sentinel_kwargs=SENTINEL_OPTIONS)
    return sentinel.master_for(parsed.service, redis_class=SentinelMaster, db=parsed.db,
                               retry=_retry(), max_connections=POOL_SIZE, **auth, **options)


def connect_sync(url: str, *, decode_responses: bool = False,
                 socket_timeout: float | None = 5.0, **kwargs: Any) -> Any:
    """A synchronous client for `url` (the CLI's checks and the tests' clean-up): a
    `redis.Redis`, a Sentinel's master, or a `redis.cluster.RedisCluster`."""
    options = {"decode_responses": decode_responses, "socket_timeout": socket_timeout,
               **kwargs}
    if is_sentinel(url):
        parsed = parse_sentinel(url)
        auth = {"username": parsed.username, "password": parsed.password}
        sentinel = SyncSentinel(parsed.sentinels, sentinel_kwargs=SENTINEL_OPTIONS)
        options.setdefault("retry", Retry(ExponentialWithJitterBackoff(base=0.1, cap=1.0), 6))
        return sentinel.master_for(parsed.service, redis_class=SyncSentinelMaster,
                                   db=parsed.db, **auth, **options)
    probe_options = {k: v for k, v in options.items() if k.startswith("socket_")}
    if "retry" in options:
        probe_options["retry"] = options["retry"]
    if is_cluster_sync(url, **probe_options):
        return SyncRedisCluster.from_url(url, **_cluster_kwargs(url, options))
    return redis.Redis.from_url(url, **options)
