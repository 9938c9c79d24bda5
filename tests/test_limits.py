"""Limits an attacker meets first: the client address comes from the socket unless a
configured proxy says otherwise, a body is refused while it is still being read, and a
WebSocket message has a size cap."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from test_websockets import opened, ws_path
from websockets.exceptions import ConnectionClosed

from app.access import throttle
from app.access.auth import create_token
from app.access.throttle import SIGNIN_ADDRESS
from app.config import ConfigError, Settings

ADDRESSES = ("127.0.0.2", "127.0.0.3", "10.1.2.3", "10.9.9.9",
             *(f"203.0.113.{n}" for n in range(1, 8)))


@pytest.fixture(autouse=True)
async def forget_addresses(store):
    keys = [throttle._key(SIGNIN_ADDRESS, a) for a in ADDRESSES]
    await store.redis.delete(*keys)
    yield
    await store.redis.delete(*keys)


def client(server, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client of `server` whose connections come from the loopback `address`."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=server.url, transport=transport, trust_env=False,
                             timeout=20, headers={"Origin": server.url})


async def fail_sign_ins(c: httpx.AsyncClient, site, count: int,
                        forwarded_for=None) -> list[int]:
    """`count` failed sign-ins, each for a new name of this test's own."""
    codes = []
    for n in range(count):
        headers = {"X-Forwarded-For": forwarded_for(n)} if forwarded_for else {}
        r = await c.post("/login", data={"username": f"nobody-{site.id}-{n}-{uuid.uuid4()}",
                                         "password": "guess"}, headers=headers)
        codes.append(r.status_code)
    return codes


async def address_failures(store, address: str) -> int:
    return int(await store.redis.get(throttle._key(SIGNIN_ADDRESS, address)) or 0)


async def test_x_forwarded_for_is_not_believed_by_default(live_server, site, store):
    """From loopback, which uvicorn believes by default, the header names no address."""
    server = live_server()
    async with client(server) as c:
        codes = await fail_sign_ins(c, site, 5, lambda n: f"203.0.113.{n + 1}")
    assert set(codes) <= {401, 429}  # 429 if other runs' failures filled 127.0.0.1's
    for n in range(5):
        assert await address_failures(store, f"203.0.113.{n + 1}") == 0


async def test_a_configured_proxy_names_the_client_address(live_server, site, store):
    server = live_server({"FORWARDED_ALLOW_IPS": "127.0.0.2"})
    async with client(server, "127.0.0.2") as proxy:
        codes = await fail_sign_ins(proxy, site, SIGNIN_ADDRESS.allowed + 1,
                                    lambda n: "10.1.2.3")
        assert codes == [401] * SIGNIN_ADDRESS.allowed + [429]
        # Another client behind the same proxy is its own address.
        assert await fail_sign_ins(proxy, site, 1, lambda n: "10.9.9.9") == [401]
    assert await address_failures(store, "10.9.9.9") == 1
    # A client that is not the proxy cannot name an address.
    async with client(server, "127.0.0.3") as direct:
        assert await fail_sign_ins(direct, site, 1, lambda n: "10.9.9.9") == [401]
    assert await address_failures(store, "10.9.9.9") == 1


def test_forwarded_allow_ips_takes_addresses_and_networks_only(tmp_path):
    base = {"REDIS_URL": "redis://127.0.0.1:6379/15", "VAR_DIR": str(tmp_path),
            "SECRET_KEY": "s" * 40}
    assert Settings.from_env(base).forwarded_allow_ips == ()
    assert Settings.from_env({**base, "FORWARDED_ALLOW_IPS": "10.0.0.1, 10.1.0.0/16"}
                             ).forwarded_allow_ips == ("10.0.0.1", "10.1.0.0/16")
    with pytest.raises(ConfigError, match=r"FORWARDED_ALLOW_IPS has 'proxy\.local'"):
        Settings.from_env({**base, "FORWARDED_ALLOW_IPS": "proxy.local"})


async def test_a_large_body_is_refused_before_it_is_all_read(api):
    sent = 0

    async def sixty_megabytes():
        nonlocal sent
        for _ in range(960):
            sent += 1
            yield b"x" * 65536

    r = await api.client.post(f"{api.base}/visits", content=sixty_megabytes(),
                              headers={**api.auth("desk"), "content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert sent <= 3, f"{sent} chunks of 64 KiB were read"


async def test_a_declared_large_body_is_refused_at_once(api):
    r = await api.client.post(f"{api.base}/visits", content=b"{}",
                              headers={**api.auth("desk"), "content-length": "70000000"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"


async def test_a_large_cookie_form_is_refused_too(api):
    """The CSRF check reads a cookie holder's form before any route does."""
    r = await api.client.post("/logout", content=b"csrf_token=" + b"x" * 200_000,
                              headers={"content-type": "application/x-www-form-urlencoded",
                                       "cookie": "lq_session=whatever"})
    assert r.status_code == 413


async def test_a_large_schedule_import_is_still_taken(api):
    rows = [{"id": f"a{n}", "start": "2026-01-05T09:00:00+00:00", "queue": "reg",
             "first_name": "Ada", "last_name": "Okafor" + "x" * 40,
             "birth_date": "1961-02-03"} for n in range(1000)]
    r = await api.post("/appointments", rows)
    assert r.status_code not in (413, 500), r.text
    assert len(r.request.content) > 64 * 1024


async def test_a_websocket_message_past_the_cap_closes_the_socket(live_server, site, store):
    server = live_server()
    token = await create_token(store.redis, site.id, "display")
    async with opened(server, ws_path(site.id, "lobby"), token) as ws:
        await asyncio.wait_for(ws.recv(), 5)
        await ws.send("x" * 100)  # small messages are read and dropped
        await ws.send("x" * (200 * 1024))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
