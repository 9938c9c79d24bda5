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
import time

import httpx
import pytest
from redis_topologies import SentinelGroup

from app import keys
from app.auth import create_token


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

    async with httpx.AsyncClient(
        base_url=f"{server.url}/api/v1/sites/{site.id}", trust_env=False, timeout=15,
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        desks = [asyncio.create_task(desk(client, n)) for n in range(3)]
        while len(acknowledged) < 30:
            await asyncio.sleep(0.05)
        old = redis_sentinel.master()
        new = await asyncio.to_thread(redis_sentinel.failover)
        assert new is not old
        failed_over.set()
        await asyncio.gather(*desks)

    # The check-ins go on on the new master, and every one answered 201, before, during or
    # after the switch, is a visit there.
    assert after_failover >= 10, f"only {after_failover} check-ins after the failover"
    stored = new.client()
    missing = [v for v in acknowledged if not stored.exists(keys.visit(site.id, v))]
    assert not missing, (f"{len(missing)} of {len(acknowledged)} acknowledged check-ins "
                         f"are gone after the failover ({len(refused)} answered 503)")
