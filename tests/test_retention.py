"""Personal fields are gone RETENTION_DAYS after the day they were written, proved by
checking in and importing at an injected time (the `now` the store takes) rather than by
waiting; and a run of the real server writes no token, password or code to its log."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx

from app import clock
from app.access.auth import add_user, create_pairing_code, create_token
from app.appointments.model import Appointment
from app.appointments.store import AppointmentStore
from app.storage import keys
from app.visits.status_links import make_token

DAY = 86400


async def values_holding(store, site_id: str, text: str) -> list[str]:
    """The site's keys (the event stream aside: see docs/operations.md) holding `text`."""
    found = []
    async for key in store.redis.scan_iter(match=f"lq:{{{site_id}}}:*"):
        if key == keys.events(site_id):
            continue
        kind = await store.redis.type(key)
        if kind == "hash":
            blob = str(await store.redis.hgetall(key))
        elif kind == "string":
            blob = str(await store.redis.get(key))
        elif kind == "set":
            blob = str(await store.redis.smembers(key))
        elif kind == "zset":
            blob = str(await store.redis.zrange(key, 0, -1))
        elif kind == "list":
            blob = str(await store.redis.lrange(key, 0, -1))
        else:
            continue
        if text in blob:
            found.append(key)
    return found


async def test_a_visit_older_than_the_retention_is_gone_and_a_younger_one_is_kept(
        store, site, settings):
    now = clock.now()
    kept_days = settings.retention_days - 1
    old, _ = await store.check_in(site, "reg", actor="test", name="Oldest Patient",
                                  now=now - timedelta(days=settings.retention_days, hours=1))
    young, _ = await store.check_in(site, "reg", actor="test", name="Younger Patient",
                                    now=now - timedelta(days=kept_days))
    assert await store.get_visit(site, old["id"]) is None
    assert await values_holding(store, site.id, "Oldest Patient") == []
    assert (await store.get_visit(site, young["id"]))["name"] == "Younger Patient"
    ttl = await store.redis.ttl(keys.visit(site.id, young["id"]))
    assert DAY - 60 < ttl <= DAY
    # Nothing of the young visit's outlives it either.
    for key in await values_holding(store, site.id, "Younger Patient"):
        assert 0 < await store.redis.ttl(key) <= DAY, key


async def test_appointments_of_a_day_past_the_retention_are_gone(store, site, settings):
    now = clock.now()
    then = now - timedelta(days=settings.retention_days + 1, hours=1)
    appointment = Appointment(
        id="a" + uuid.uuid4().hex[:10], site=site.id, start=then, queue="reg",
        first_name="Ancient", last_name="Booking", birth_date="1950-01-01", code="OLD123")
    await AppointmentStore(store.redis, settings).save(site, [(0, appointment)], "test",
                                                       now=then)
    assert await values_holding(store, site.id, "Ancient") == []
    assert await values_holding(store, site.id, "1950-01-01") == []


async def test_the_servers_log_holds_no_token_password_or_code(live_server, site, store):
    server = live_server()
    password = f"pw-{uuid.uuid4().hex}"
    user = f"logcheck-{site.id}"
    await add_user(store.redis, site.id, "desk", user, password)
    token = await create_token(store.redis, site.id, "desk")
    pairing = await create_pairing_code(store.redis, site.id, "kiosk")
    headers = {"Origin": server.url}
    async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=20,
                                 headers=headers) as c:
        assert (await c.post("/login", data={"username": user, "password": password})
                ).status_code == 303
        await c.post("/login", data={"username": user, "password": password + "x"})
        session = c.cookies.get("lq_session")
        r = await c.post(f"/api/v1/sites/{site.id}/visits", json={"queue": "reg"},
                         headers={"Authorization": f"Bearer {token}"})
        visit = r.json()
        link = make_token("test-secret-" + "x" * 40, site.id, visit["id"], visit["date"]
                          if "date" in visit else clock.local_date(clock.now(), site.tz))
        await c.get(f"/t/{link}")
        await c.get(f"/t/{link}/status")
    async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=20,
                                 headers=headers) as kiosk:
        assert (await kiosk.post("/pair", data={"code": pairing})).status_code == 303
        device = kiosk.cookies.get("lq_device")
        base = f"/sites/{site.id}/kiosk"
        await kiosk.get(base)
        await kiosk.post(f"{base}/step/start", data={"what": "appointment"},
                         headers={"X-CSRF-Token": _csrf(await kiosk.get(base))})
        await kiosk.post(f"{base}/step/code", data={"code": "SECRETCODE7"},
                         headers={"X-CSRF-Token": _csrf(await kiosk.get(base))})
    server.stop()
    log = server.log()
    assert "POST /login" in log and '"GET /t/***/status' in log  # requests were logged
    for secret in (password, token, pairing, session, device, link, "SECRETCODE7"):
        assert secret and secret not in log, f"{secret[:6]}… is in the server's log"


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    return match.group(1) if match else ""
