"""Redis goes away and comes back: requests answer 503 meanwhile, screens carry on after."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import websockets
from helpers import TEST_SITE, make_settings, wait_for
from redis import asyncio as aioredis

from app.access.auth import create_token
from app.sites import site_from_dict
from app.storage.store import Store


async def test_screens_and_api_survive_a_redis_restart(redis_factory, live_server, tmp_path):
    redis_server = redis_factory()
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    store = Store(client, make_settings(redis_server.url, tmp_path / "var"))
    site = site_from_dict({"id": "restart", **TEST_SITE})
    await store.save_site(site)
    token = await create_token(client, site.id, "desk")
    await client.aclose()

    server = live_server(redis_url=redis_server.url)
    headers = {"Authorization": f"Bearer {token}"}
    visits = f"{server.url}/api/v1/sites/{site.id}/visits"
    frames: list[str] = []

    async with websockets.connect(f"{server.ws_url}/ws/sites/{site.id}/lobby",
                                  additional_headers=headers) as ws:

        async def listen() -> None:
            async for frame in ws:
                frames.append(str(frame))

        listener = asyncio.create_task(listen())
        async with httpx.AsyncClient(headers=headers, timeout=10) as http:
            await wait_for(lambda: frames, message="no snapshot")
            await asyncio.to_thread(redis_server.stop)

            assert (await http.get(f"{server.url}/readyz")).status_code == 503
            down = await http.post(visits, json={"queue": "reg"})
            assert down.status_code == 503 and down.json()["error"] == "unavailable"

            await asyncio.to_thread(redis_server.start)
            await wait_for(lambda: _ready(http, server.url), timeout=10, message="not ready")
            created = await http.post(visits, json={"queue": "reg", "name": "After Restart"})
            assert created.status_code == 201, created.text
            ticket = created.json()["ticket"]
            await wait_for(lambda: any(ticket in f for f in frames), timeout=10,
                           message=f"{ticket} never reached the lobby socket")
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await listener


async def _ready(http: httpx.AsyncClient, url: str) -> bool:
    return (await http.get(f"{url}/readyz")).status_code == 200
