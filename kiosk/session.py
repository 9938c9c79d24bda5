"""Kiosk sessions and look-up limits in Redis.

A session is server-side: the browser holds only a random id in a cookie scoped to the
kiosk's path, and Redis holds the session's JSON under the id's hash, so nothing a
patient entered is in the page's URL, history or cookies. Failed look-ups are counted with
INCR + EXPIRE, per kiosk and per last name, under HMACs so the key names hold no name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from redis.asyncio import Redis

from app.appointments.model import normalise_name
from app.storage import keys
from kiosk.flow import LIMIT_SECONDS, Session

COOKIE = "lq_kiosk"
TTL = 15 * 60  # a session left alone this long is gone; the page resets far sooner


def cookie_path(site_id: str) -> str:
    return f"/sites/{site_id}/kiosk"


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def new(redis: Redis, site_id: str, lang: str, old_id: str | None = None) -> Session:
    """A fresh session (and the previous one of this browser forgotten)."""
    if old_id:
        await redis.delete(keys.kiosk_session(site_id, _digest(old_id)))
    session = Session(id=secrets.token_urlsafe(24), lang=lang)
    await save(redis, site_id, session)
    return session


async def load(redis: Redis, site_id: str, session_id: str | None) -> Session | None:
    if not session_id:
        return None
    raw = await redis.get(keys.kiosk_session(site_id, _digest(session_id)))
    return Session.from_json(raw) if raw else None


async def save(redis: Redis, site_id: str, session: Session) -> None:
    await redis.set(keys.kiosk_session(site_id, _digest(session.id)), session.to_json(), ex=TTL)


def _scope_digest(secret: str, site_id: str, scope: str, value: str) -> str:
    message = f"{site_id}\x1f{scope}\x1f{value}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def failure_keys(secret: str, site_id: str, device: str, last_name: str = "") -> list[str]:
    """The counters a failed look-up adds to: the kiosk's, and the last name's if given."""
    found = [keys.kiosk_failures(site_id, "device", _scope_digest(secret, site_id, "device",
                                                                  device))]
    if last_name:
        found.append(keys.kiosk_failures(site_id, "name", _scope_digest(
            secret, site_id, "name", normalise_name(last_name))))
    return found


async def failures(redis: Redis, counters: list[str]) -> list[int]:
    """The current count of each counter (0 when quiet)."""
    return [int(v or 0) for v in await redis.mget(counters)]


async def count_failure(redis: Redis, counters: list[str]) -> None:
    """One more failed look-up on each counter; a counter is forgotten LIMIT_SECONDS after
    its latest failure (EXPIRE's NX option would need Redis 7, and 6.2 is supported)."""
    async with redis.pipeline(transaction=True) as pipe:
        for key in counters:
            pipe.incr(key)
            pipe.expire(key, LIMIT_SECONDS)
        await pipe.execute()
