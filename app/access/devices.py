"""Paired kiosks and lobby displays: pairing, the list an admin sees, last seen, revoking.

A device's record lives in the site's `devices` hash (role, name, queue filter, when it
was paired); pairing and revoking are one script each that also puts `device.paired` or
`device.revoked` on the site's stream, so every process's hub closes a revoked device's
sockets within moments. Last seen is a separate hash, written at most once a minute per
device and process, so a busy kiosk costs one small write a minute, not one a request.
"""

from __future__ import annotations

import json
import secrets
import time
from functools import cache
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from app import clock
from app.config import Settings
from app.errors import ApiError
from app.sites import Site
from app.storage import keys, scripts

SEEN_EVERY = 60.0  # seconds between two last-seen writes for one device, per process
# device id -> when this process last wrote its last-seen time (monotonic seconds)
_last_written: dict[str, float] = {}


@cache
def _source() -> str:
    return scripts.source("devices")


async def _run(redis: Redis, settings: Settings, site: Site, actor: str,
               args: dict[str, Any]) -> str:
    now = clock.now()
    script = redis.register_script(_source())
    try:
        return await scripts.call(
            script,
            {"devices": keys.devices(site.id), "seen": keys.devices_seen(site.id),
             "events": keys.events(site.id),
             "audit": keys.audit(site.id, clock.local_date(now, site.tz))},
            {**scripts.common(settings, now, actor), **args})
    except ResponseError as exc:
        if str(exc).startswith("not_found"):
            raise ApiError(404, "not_found", "That device is not paired (any more).") from None
        raise


async def get(redis: Redis, site_id: str, device_id: str) -> dict[str, Any] | None:
    """The paired device's record (role, name, queues, paired_at), None once revoked."""
    raw = await redis.hget(keys.devices(site_id), device_id)
    return json.loads(raw) if raw is not None else None


async def pair(redis: Redis, settings: Settings, site: Site,
               pairing: dict[str, Any]) -> str:
    """Pair a new device as a spent pairing code describes it; answers its id."""
    device_id = secrets.token_hex(8)
    record = {"role": pairing["role"], "name": pairing.get("name") or pairing["role"],
              "queues": list(pairing.get("queues") or ()), "paired_at": clock.iso(clock.now())}
    await _run(redis, settings, site, f"device:{device_id}",
               {"action": "pair", "device_id": device_id, "record": json.dumps(record)})
    return device_id


async def revoke(redis: Redis, settings: Settings, site: Site, device_id: str,
                 actor: str) -> None:
    """Unpair the device: its cookie stops working at once and its sockets are closed."""
    await _run(redis, settings, site, actor, {"action": "revoke", "device_id": device_id})
    _last_written.pop(device_id, None)


async def seen(redis: Redis, site_id: str, device_id: str) -> None:
    """Note that the device made a request now, unless this process did so within the
    last minute."""
    now = time.monotonic()
    if now - _last_written.get(device_id, -SEEN_EVERY) < SEEN_EVERY:
        return
    _last_written[device_id] = now
    await redis.hset(keys.devices_seen(site_id), device_id, clock.iso(clock.now()))


async def site_devices(redis: Redis, site_id: str) -> list[dict[str, Any]]:
    """The site's paired devices, by name: {id, role, name, queues, paired_at, seen_at}."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.devices(site_id))
        pipe.hgetall(keys.devices_seen(site_id))
        records, seen_at = await pipe.execute()
    found = [{**json.loads(raw), "id": device_id, "seen_at": seen_at.get(device_id, "")}
             for device_id, raw in records.items()]
    return sorted(found, key=lambda d: (d.get("name", "").lower(), d["id"]))
