"""Many desks pressing "call next" at once: every patient is called exactly once."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter

import httpx

from app.access.auth import create_token

PATIENTS = 25
CALLERS = 60


def assert_each_patient_called_once(responses: list[httpx.Response], checked_in: set[str]):
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: PATIENTS, 204: CALLERS - PATIENTS}, statuses
    called = [r.json()["id"] for r in responses if r.status_code == 200]
    assert len(set(called)) == PATIENTS, "a patient was called twice"
    assert set(called) == checked_in
    assert all(r.json()["status"] == "called" for r in responses if r.status_code == 200)
    assert all(r.content == b"" for r in responses if r.status_code == 204)


def assert_nobody_left_waiting(snapshot: dict, checked_in: set[str]) -> None:
    (reg,) = [q for q in snapshot["queues"] if q["id"] == "reg"]
    assert reg["waiting"] == []
    assert {v["id"] for v in snapshot["calling"]} == checked_in


async def test_concurrent_call_next_in_process_calls_each_patient_exactly_once(api):
    checked_in = {(await api.check_in(name=f"Patient {i}"))["id"] for i in range(PATIENTS)}

    responses = await asyncio.gather(
        *(api.post("/queues/reg/call-next", {}) for _ in range(CALLERS)))

    assert_each_patient_called_once(list(responses), checked_in)
    assert_nobody_left_waiting((await api.get("/snapshot")).json(), checked_in)


async def test_concurrent_call_next_on_a_real_server_calls_each_patient_exactly_once(
        live_server, site, store):
    server = live_server()
    token = await create_token(store.redis, site.id, "desk")
    try:
        await call_out_through(server.url, site.id, token)
    finally:
        # The token index is keyed by the token's SHA-256 (app.access.auth stores them hashed).
        digest = hashlib.sha256(token.encode()).hexdigest()
        assert await store.redis.hdel("lq:tokens", digest) == 1


async def call_out_through(url: str, site_id: str, token: str) -> None:
    base = f"{url}/api/v1/sites/{site_id}"
    limits = httpx.Limits(max_connections=CALLERS)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                                 trust_env=False, timeout=10, limits=limits) as client:
        checked_in = set()
        for i in range(PATIENTS):
            r = await client.post(f"{base}/visits", json={"queue": "reg", "name": f"P {i}"})
            assert r.status_code == 201, r.text
            checked_in.add(r.json()["id"])

        responses = await asyncio.gather(
            *(client.post(f"{base}/queues/reg/call-next", json={}) for _ in range(CALLERS)))

        assert_each_patient_called_once(list(responses), checked_in)
        assert_nobody_left_waiting((await client.get(f"{base}/snapshot")).json(), checked_in)
