"""The Lua scripts, one file per move family, each with lib.lua's shared prelude.

Every key a script reads or writes arrives in KEYS and the arguments travel as one JSON
ARGV: `call(script, keys, args)` sends both, naming the keys so a script can look them up.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from app import clock
from app.config import Settings
from app.errors import ApiError
from app.storage.redis_client import SlotTransaction

HERE = Path(__file__).parent


def source(name: str) -> str:
    """The text of `name`.lua from this folder, after the shared prelude."""
    return (HERE / "lib.lua").read_text() + (HERE / f"{name}.lua").read_text()


# How long a write waits for REDIS_WAIT_REPLICAS replicas to acknowledge it.
WAIT_MS = 1000


class NotReplicated(RedisError):
    """A write that fewer replicas than REDIS_WAIT_REPLICAS acknowledged in time: it may
    not survive a failover, so it is not reported done (the caller answers 503)."""


async def call(script: AsyncScript, keys: Mapping[str, str], args: Mapping[str, Any],
               client: Any = None) -> Any:
    """Run `script` with `keys` (name -> key) as KEYS and `args` plus the key names as its
    one JSON argument, and the command emit() wakes the readers with: sharded pub/sub on a
    Cluster keeps the wake-up on the site's shard instead of sending it to every node. A
    writing script's `args` (from `common`) carry REDIS_WAIT_REPLICAS: when set, the script
    is followed by `WAIT` on the same connection, and answers only once that many replicas
    have the write."""
    sharded = isinstance(client or script.registered_client,
                         (RedisCluster, ClusterPipeline, SlotTransaction))
    payload = json.dumps({**args, "keys": list(keys),
                          "publish": "SPUBLISH" if sharded else "PUBLISH"})
    replicas = replicas_to_wait(script.registered_client, args.get("wait_replicas", 0))
    if not replicas or client is not None:  # a pipeline's caller sends its own WAIT
        return await script(keys=list(keys.values()), args=[payload], client=client)
    return await _replicated(script, list(keys.values()), payload, replicas)


def replicas_to_wait(redis: Any, wanted: int) -> int:
    """REDIS_WAIT_REPLICAS (`wanted`) for a client that can send WAIT on the connection
    that wrote; 0 on a cluster, whose pipelines may split over connections."""
    return 0 if isinstance(redis, RedisCluster) else wanted


async def check_acknowledged(redis: Any, acknowledged: int, replicas: int) -> None:
    """Raise NotReplicated when WAIT counted fewer than `replicas`."""
    if acknowledged >= replicas:
        return
    # The replica may have been promoted, leaving this master writable but alone
    # (Sentinel demotes it only when it next looks, seconds later): connections made
    # afresh ask the Sentinels where the master is now.
    await redis.connection_pool.disconnect(inuse_connections=False)
    raise NotReplicated(f"{acknowledged} of {replicas} replicas acknowledged the write "
                        f"within {WAIT_MS} ms")


async def _replicated(script: AsyncScript, keys: list[str], payload: str,
                      replicas: int) -> Any:
    # One pipeline is one connection, and WAIT counts the replicas that have every write
    # made on its own connection so far: the script's included.
    redis = script.registered_client
    for _ in range(2):
        async with redis.pipeline(transaction=False) as pipe:
            pipe.evalsha(script.sha, len(keys), *keys, payload)
            pipe.wait(replicas, WAIT_MS)
            try:
                result, acknowledged = await pipe.execute()
            except NoScriptError:
                # A server restarted or failed over since: load it, then run it once more.
                script.sha = await redis.script_load(script.script)
                continue
        await check_acknowledged(redis, acknowledged, replicas)
        return result
    raise NotReplicated("the server forgot the script as soon as it was loaded")


def common(settings: Settings, now: datetime, actor: str) -> dict[str, Any]:
    """The arguments every writing script takes: the time, who acts, the stream's length
    and how long the audit log is kept; and how many replicas must have the write before
    it is reported done (read by `call`, not by the script)."""
    return {"now": clock.iso(now), "now_ms": str(clock.ms(now)), "actor": actor,
            "maxlen": settings.stream_maxlen,
            "audit_ttl": settings.audit_retention_days * 86400,
            "wait_replicas": settings.redis_wait_replicas}



RETRY = ["retry"]
TRIES = 20


async def settle(attempt: Callable[[], Awaitable[Any]], tries: int = TRIES) -> Any:
    """Run `attempt` (a read, then the script that relies on it) until the script stops
    answering RETRY; 503 if what it reads is still changing after `tries` runs."""
    for _ in range(tries):
        result = await attempt()
        if result != RETRY:
            return result
    raise ApiError(503, "unavailable", "The site is changing too fast to read; try again.")
