"""The app on a Redis Cluster of three masters, named by one node's URL as an operator would
(`REDIS_URL=redis://node:port/0`): the CLI's demo, the core API, signing in, pairing, the
kiosk by code, the phone page, and the lobby's and board's pushes over real sockets.

Every fixture of this module (`settings`, `store`, `api`, `live_server`, `site_id`) uses the
cluster: `redis_url` is overridden below. On a cluster a script, a MULTI or a multi-key
command whose keys are in different slots fails ("Keys in request don't hash to the same
slot"), so these tests fail if any of those paths mixes a site's keys with global ones.
"""

from __future__ import annotations

import asyncio
import html
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from helpers import Desk
from redis.asyncio.cluster import RedisCluster
from redis_topologies import Cluster
from test_kiosk import Kiosk, book
from test_phone import token_for
from test_websockets import listening, ws_path

from app.access import auth, devices, throttle
from app.access.auth import create_token
from app.storage import keys, redis_client
from app.storage.store import Store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def redis_url(redis_cluster: Cluster) -> str:
    return redis_cluster.url


def test_the_demo_seeds_through_any_node(redis_cluster: Cluster, tmp_path: Path) -> None:
    # The last node, not the first: any node's URL leads to the whole cluster.
    env = {**os.environ, "REDIS_URL": redis_cluster.nodes[-1].url, "VAR_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "app", "demo"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Demo site 'demo' is ready" in done.stdout
    # Its staff user signs in: the user, written outside the site's scripts, is there.
    token = subprocess.run([sys.executable, "-m", "app", "token", "--site", "demo", "--role",
                            "desk"], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=60)
    assert token.returncode == 0 and token.stdout.startswith("llt_"), token.stderr


async def test_check_in_call_room_and_done_through_the_api(api) -> None:
    assert isinstance(api.app.state.store.redis, RedisCluster)
    visit = await api.check_in(name="Ana Lima")
    assert visit["status"] == "waiting" and visit["ticket"]
    called = await api.post(f"/visits/{visit['id']}/call", {"room": "room-3"})
    assert called.status_code == 200, called.text
    roomed = await api.post(f"/visits/{visit['id']}/room", {"room": "room-3"})
    assert roomed.status_code == 200, roomed.text
    done = await api.post(f"/visits/{visit['id']}/done", {})
    assert done.status_code == 200 and done.json()["status"] == "done", done.text
    kinds = [e["type"] for e in await api.events() if e["type"].startswith("visit.")]
    assert kinds == ["visit.checked_in", "visit.called", "visit.roomed", "visit.done"]
    snapshot = (await api.get("/snapshot")).json()
    assert snapshot["event_id"] == (await api.events())[-1]["id"]


async def test_signing_in_and_out_and_counting_failures(store, site) -> None:
    redis = store.redis
    name = f"u{site.id}"
    await auth.add_user(redis, site.id, "desk", name, "a long enough password")
    first = await auth.login(redis, name, "a long enough password")
    second = await auth.login(redis, name, "a long enough password")
    assert first and second
    assert (await auth.principal_of_session(redis, first)).role == "desk"
    await auth.end_sessions(redis, name)
    assert await auth.principal_of_session(redis, first) is None
    assert await auth.principal_of_session(redis, second) is None

    checks = [(throttle.SIGNIN_NAME, name), (throttle.SIGNIN_ADDRESS, f"address of {site.id}")]
    for _ in range(throttle.SIGNIN_NAME.allowed):
        await throttle.failed(redis, checks)
    assert await throttle.retry_after(redis, checks) > 0
    await throttle.succeeded(redis, checks)
    assert await throttle.retry_after(redis, checks) == 0


async def test_pairing_a_display_and_revoking_it(api, store, site) -> None:
    code = await auth.create_pairing_code(store.redis, site.id, "display", "Lobby TV")
    record = await auth.spend_pairing_code(store.redis, code)
    assert record["site"] == site.id
    paired = await devices.pair(store.redis, api.app.state.settings, site, record)
    listed = await devices.site_devices(store.redis, site.id)
    assert [d["name"] for d in listed] == ["Lobby TV"]
    await devices.revoke(store.redis, api.app.state.settings, site, paired, "user:admin")
    assert await devices.site_devices(store.redis, site.id) == []
    assert [e["type"] for e in await api.events()][-2:] == ["device.paired", "device.revoked"]


async def test_a_kiosk_checks_in_by_confirmation_code(api) -> None:
    appointment = await book(api, code="K7P3QX")
    kiosk = Kiosk(api)
    await kiosk.open()
    assert kiosk.step(await kiosk.tap("start", what="appointment")) == "code"
    assert kiosk.step(await kiosk.tap("code", code="k7p 3qx")) == "confirm"
    assert kiosk.step(await kiosk.tap("confirm", answer="yes")) == "changes"
    assert kiosk.step(await kiosk.tap("changes", answer="none")) == "consent"
    ticket = await kiosk.tap("consent", answer="agree")
    assert kiosk.step(ticket) == "ticket"
    arrived = await api.events("appointment.arrived")
    assert [e["appointment"]["id"] for e in arrived] == [appointment.id]


async def test_the_phone_page_follows_the_visit(api) -> None:
    visit = await api.check_in(name="Zebulon Quixote")
    token = token_for(api, visit)
    status = (await api.client.get(f"/t/{token}/status")).json()
    assert status["status"] == "waiting" and status["position"] == 1
    await api.post(f"/visits/{visit['id']}/call", {"room": "room-3"})
    page = await api.client.get(f"/t/{token}")
    assert "It's your turn: go to Room 3" in html.unescape(page.text)


async def test_the_lobby_and_the_board_are_pushed_each_check_in(live_server, store, site):
    server = live_server()
    tokens = {role: await create_token(store.redis, site.id, role)
              for role in ("desk", "display")}
    async with (
        listening(server, ws_path(site.id, "lobby"), tokens["display"]) as lobby,
        listening(server, ws_path(site.id, "board"), tokens["desk"]) as board,
        httpx.AsyncClient(base_url=f"{server.url}/api/v1/sites/{site.id}", trust_env=False,
                          timeout=10,
                          headers={"Authorization": f"Bearer {tokens['desk']}"}) as client,
    ):
        await lobby.wait_containing('id="calling"')
        await board.wait_containing('id="board-queue-reg"')
        seen = (len(lobby.frames), len(board.frames))
        visit = await Desk(client).check_in(name="Marguerite Okonkwo")
        await lobby.wait_containing(visit["ticket"], since=seen[0])
        await board.wait_containing("Marguerite Okonkwo", since=seen[1])


async def test_a_sites_snapshot_follows_its_slot_to_another_master(redis_cluster, store, site):
    """The snapshot's MULTI goes straight to the master of the site's slot; when the slot
    has moved (MOVED) it learns the new owner and reads there, and while the slot is
    half-way between two masters (ASK) it waits for the move to end, then reads it all."""

    def waiting(state) -> list[str]:
        return [v["id"] for v in state.queue("reg").waiting]

    first, _ = await store.check_in(site, "reg", actor="test")
    assert waiting(await store.snapshot(site)) == [first["id"]]
    await asyncio.to_thread(redis_cluster.migrate_slot, keys.events(site.id))
    # A write on another client, so this store's client still has the old slot map.
    other = await redis_client.connect(redis_cluster.url)
    try:
        second, _ = await Store(other, store.settings).check_in(site, "reg", actor="test")
    finally:
        await other.aclose()
    state = await store.snapshot(site)
    assert waiting(state) == [first["id"], second["id"]]
    assert state.event_id == (await store.events_after(site.id, "0", 100))[-1].id

    # Half-way: the slot is MIGRATING on its owner, one visit's keys already moved.
    moving = await asyncio.to_thread(redis_cluster.start_migrating,
                                     keys.visit(site.id, first["id"]))
    reading = asyncio.create_task(store.snapshot(site))
    await asyncio.sleep(0.5)
    assert not reading.done()  # a read now would miss the moved visit
    await asyncio.to_thread(redis_cluster.finish_migrating, *moving)
    assert waiting(await asyncio.wait_for(reading, 10)) == [first["id"], second["id"]]
