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

from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript

from app import clock
from app.config import Settings
from app.errors import ApiError

HERE = Path(__file__).parent


def source(name: str) -> str:
    """The text of `name`.lua from this folder, after the shared prelude."""
    return (HERE / "lib.lua").read_text() + (HERE / f"{name}.lua").read_text()


async def call(script: AsyncScript, keys: Mapping[str, str], args: Mapping[str, Any],
               client: Any = None) -> Any:
    """Run `script` with `keys` (name -> key) as KEYS and `args` plus the key names as its
    one JSON argument, and the command emit() wakes the readers with: sharded pub/sub on a
    Cluster keeps the wake-up on the site's shard instead of sending it to every node."""
    sharded = isinstance(client or script.registered_client, RedisCluster)
    payload = json.dumps({**args, "keys": list(keys),
                          "publish": "SPUBLISH" if sharded else "PUBLISH"})
    return await script(keys=list(keys.values()), args=[payload], client=client)


def common(settings: Settings, now: datetime, actor: str) -> dict[str, Any]:
    """The arguments every writing script takes: the time, who acts, the stream's length
    and how long the audit log is kept."""
    return {"now": clock.iso(now), "now_ms": str(clock.ms(now)), "actor": actor,
            "maxlen": settings.stream_maxlen,
            "audit_ttl": settings.audit_retention_days * 86400}



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
