"""Limits on guessing: failed sign-ins per user name and per address, failed pairing codes
per address.

Each limit counts failures in a row: a counter per (kind, who) that every failure raises
and pushes its expiry `window` ahead, and a success deletes. Once it reaches `allowed`,
further tries are refused, without checking the password or the code, until it expires.
The per-address limits are looser than the per-name one because a clinic's desks often
share one public address.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from app import keys


@dataclass(frozen=True)
class Limit:
    kind: str
    allowed: int  # failures in a row before tries are refused
    window: int  # seconds after the last failure that the count is forgotten


SIGNIN_NAME = Limit("signin-name", 5, 15 * 60)
SIGNIN_ADDRESS = Limit("signin-address", 20, 15 * 60)
PAIR_ADDRESS = Limit("pair-address", 10, 15 * 60)

Check = tuple[Limit, str]


def _key(limit: Limit, who: str) -> str:
    return keys.failures(limit.kind, hashlib.sha256(who.encode()).hexdigest()[:32])


async def retry_after(redis: Redis, checks: Sequence[Check]) -> int:
    """Seconds until every limit in `checks` lets a try through again; 0 when none holds."""
    async with redis.pipeline(transaction=False) as pipe:
        for limit, who in checks:
            pipe.get(_key(limit, who))
            pipe.ttl(_key(limit, who))
        answers = await pipe.execute()
    wait = 0
    for (limit, _), count, ttl in zip(checks, answers[::2], answers[1::2], strict=True):
        if count is not None and int(count) >= limit.allowed:
            wait = max(wait, ttl if ttl > 0 else limit.window)
    return wait


async def failed(redis: Redis, checks: Sequence[Check]) -> None:
    """Count one more failure against each of `checks`."""
    # Each counter is its own global key (its own cluster slot): one MULTI per counter
    # keeps its INCR and EXPIRE together, so no counter is left without an expiry.
    async def count(limit: Limit, who: str) -> None:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(_key(limit, who))
            pipe.expire(_key(limit, who), limit.window)
            await pipe.execute()

    await asyncio.gather(*(count(limit, who) for limit, who in checks))


async def succeeded(redis: Redis, checks: Sequence[Check]) -> None:
    """Forget the failures counted against each of `checks`."""
    await redis.delete(*(_key(limit, who) for limit, who in checks))


def minutes(seconds: int) -> str:
    """'3 minutes' for a wait, rounded up, for the sentence a person reads."""
    whole = max(1, -(-seconds // 60))
    return f"{whole} minute{'s' if whole != 1 else ''}"
