"""Limits on guessing: failed sign-ins per (user name, address), per address and per user
name; failed pairing codes per address.

Each limit counts failures in a row: a counter per (kind, who) that every failure raises
and pushes its expiry `window` ahead, and a success deletes. Once a hard limit reaches
`allowed`, further tries are refused, without checking the password or the code, until it
expires. The per-address limits are looser than the per-pair one because a clinic's desks
often share one public address.

The per-name count refuses nothing: anyone can type a name, so a refusal per name would
let a stranger keep that person out. It only slows every try for the name
(`signin_delay`, growing to a few seconds), which costs the real person a moment and a
guesser from many addresses most of their rate; an administrator's reset or re-enable
forgets it (`forget_user`), and the admin page shows a name being guessed.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from app.storage import keys


@dataclass(frozen=True)
class Limit:
    kind: str
    allowed: int  # failures in a row before tries are refused
    window: int  # seconds after the last failure that the count is forgotten


SIGNIN_PAIR = Limit("signin-pair", 5, 15 * 60)  # one name from one address
SIGNIN_ADDRESS = Limit("signin-address", 20, 15 * 60)
SIGNIN_NAME = Limit("signin-name", 5, 15 * 60)  # only slows: see signin_delay
SIGNIN_DELAY_STEPS = 3  # the delay doubles this many times, then stays
PAIR_ADDRESS = Limit("pair-address", 10, 15 * 60)

Check = tuple[Limit, str]


def _key(limit: Limit, who: str) -> str:
    return keys.failures(limit.kind, _digest(who))


def signin_checks(name: str, address: str) -> list[Check]:
    """The hard limits a sign-in for `name` from `address` is held to."""
    name = name.lower()
    return [(SIGNIN_PAIR, f"{name}\n{address}"), (SIGNIN_ADDRESS, address)]


def signin_delay(failures: int, first: float = 1.0) -> float:
    """Seconds every sign-in for a name waits before its password is checked, after
    `failures` failures in a row for that name from anywhere: none for the first few
    (a person mistyping), then `first` (the `SIGNIN_DELAY_MS` setting, 1 s), doubling to
    at most 8 times it."""
    if failures < SIGNIN_NAME.allowed:
        return 0.0
    return first * 2.0 ** min(failures - SIGNIN_NAME.allowed, SIGNIN_DELAY_STEPS)


async def name_failures(redis: Redis, names: Sequence[str]) -> dict[str, int]:
    """Failed sign-ins in a row for each of `names` (any case), 0 for none."""
    if not names:
        return {}
    counts = await redis.mget([_key(SIGNIN_NAME, n.lower()) for n in names])
    return {n: int(c or 0) for n, c in zip(names, counts, strict=True)}


async def signin_failed(redis: Redis, name: str, address: str) -> int:
    """Count a failed sign-in for `name` from `address` against the hard limits and the
    name's own count; that count so far."""
    name = name.lower()
    checks = signin_checks(name, address)
    pair_digest = _digest(checks[0][1])
    index, name_key = _pairs_of(name), _key(SIGNIN_NAME, name)
    async with redis.pipeline(transaction=True) as pipe:
        for limit, who in checks:
            pipe.incr(_key(limit, who))
            pipe.expire(_key(limit, who), limit.window)
        pipe.sadd(index, pair_digest)
        pipe.expire(index, SIGNIN_PAIR.window)
        pipe.incr(name_key)
        pipe.expire(name_key, SIGNIN_NAME.window)
        answers = await pipe.execute()
    return int(answers[-2])


async def forget_user(redis: Redis, name: str) -> None:
    """Forget the failures counted against `name`: its own count, and the hard limit of
    every address that guessed it (an administrator reset or re-enabled the user)."""
    name = name.lower()
    index = _pairs_of(name)
    digests = await redis.smembers(index)
    await redis.delete(_key(SIGNIN_NAME, name), index,
                       *(keys.failures(SIGNIN_PAIR.kind, d) for d in digests))


def _digest(who: str) -> str:
    return hashlib.sha256(who.encode()).hexdigest()[:32]


def _pairs_of(name: str) -> str:
    """The set of (name, address) counters a name has, so forget_user finds them."""
    return keys.failures("signin-pairs-of", _digest(name))


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
