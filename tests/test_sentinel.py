"""The app behind Redis Sentinel (`REDIS_URL=redis+sentinel://…/lobbyline/0`): a failover in
the middle of a stream of check-ins loses none that was answered 201.

Replication is asynchronous, so a write the master took may not have reached the replica
when the replica is promoted. With `REDIS_WAIT_REPLICAS=1` every move waits (`WAIT 1`, on
the connection that wrote it) until the replica has it, and answers 503 when it does not
within a second: a 201 means the visit is on both. While the Sentinels switch, check-ins
answer 503 (the desk tries again): first from the old master, which the replica has left,
then from the new one until the old master, demoted when a Sentinel next looks at it
(within ~10 s), has caught up as its replica. Then they are 201 again, on the new master.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from helpers import TEST_SITE, make_settings
from redis_topologies import SentinelGroup
from test_appointments_routes import entry
from test_websockets import listening

from app.access.auth import create_token
from app.main import create_app
from app.sites import site_from_dict
from app.storage import keys, redis_client
from app.storage.store import Store


@pytest.fixture
def redis_url(redis_sentinel: SentinelGroup) -> str:
    return redis_sentinel.url


async def test_a_failover_during_check_ins_loses_none_that_was_answered_201(
        redis_sentinel: SentinelGroup, live_server, store, site) -> None:
    server = live_server({"REDIS_WAIT_REPLICAS": "1"})
    token = await create_token(store.redis, site.id, "desk")
    acknowledged: list[str] = []
    refused: list[int] = []
    failed_over = asyncio.Event()
    after_failover = 0

    async def desk(client: httpx.AsyncClient, n: int) -> None:
        nonlocal after_failover
        give_up: float | None = None
        i = 0
        while give_up is None or (after_failover < 10 and time.monotonic() < give_up):
            i += 1
            try:
                r = await client.post("/visits", json={"queue": "reg",
                                                       "name": f"Patient {n}-{i}"})
            except httpx.TransportError:
                refused.append(0)
                await asyncio.sleep(0.05)
                continue
            if r.status_code == 201:
                acknowledged.append(r.json()["id"])
                after_failover += failed_over.is_set()
            else:
                assert r.status_code == 503, r.text
                refused.append(r.status_code)
                await asyncio.sleep(0.05)
            if failed_over.is_set() and give_up is None:
                give_up = time.monotonic() + 40
            await asyncio.sleep(0.01)

    events_path = f"/ws/sites/{site.id}/events?after=0"
    async with (
        httpx.AsyncClient(
            base_url=f"{server.url}/api/v1/sites/{site.id}", trust_env=False, timeout=15,
            headers={"Authorization": f"Bearer {token}"}) as client,
        listening(server, events_path, token) as events,
    ):
        desks = [asyncio.create_task(desk(client, n)) for n in range(3)]
        while len(acknowledged) < 30:
            await asyncio.sleep(0.05)
        old = redis_sentinel.master()
        new = await asyncio.to_thread(redis_sentinel.failover)
        assert new is not old
        failed_over.set()
        await asyncio.gather(*desks)
        # The server's stream reader followed the master too: the last check-in reaches
        # the events socket opened before the failover.
        last = acknowledged[-1]
        await events.wait_for(lambda f: json.loads(f).get("visit", {}).get("id") == last,
                              timeout=15)

    # The check-ins go on on the new master, and every one answered 201, before, during or
    # after the switch, is a visit there.
    assert after_failover >= 10, f"only {after_failover} check-ins after the failover"
    stored = new.client()
    missing = [v for v in acknowledged if not stored.exists(keys.visit(site.id, v))]
    assert not missing, (f"{len(missing)} of {len(acknowledged)} acknowledged check-ins "
                         f"are gone after the failover ({len(refused)} answered 503)")


async def test_a_change_no_replica_acknowledges_answers_503(redis_factory, tmp_path) -> None:
    """REDIS_WAIT_REPLICAS=1 against a server with no replica: a check-in and a schedule
    import answer 503 once the wait runs out, as during a failover's switch; the same
    with a replica answer 201 (the test above)."""
    server = redis_factory()
    client = await redis_client.connect(server.url)
    site = site_from_dict({"id": "solo", **TEST_SITE})
    await Store(client, make_settings(server.url, tmp_path / "var")).save_site(site)
    headers = {"Authorization": f"Bearer {await create_token(client, site.id, 'desk')}"}
    await client.aclose()
    app = create_app(make_settings(server.url, tmp_path / "var", REDIS_WAIT_REPLICAS="1"))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        base = f"/api/v1/sites/{site.id}"
        checked_in = await http.post(f"{base}/visits", json={"queue": "reg"}, headers=headers)
        imported = await http.post(f"{base}/appointments", json=[entry(site, "a1", "Lee")],
                                   headers=headers)
    for answer in (checked_in, imported):
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "unavailable"
