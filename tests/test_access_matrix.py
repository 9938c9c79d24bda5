"""Every route of the routing table, for every role, on its own site or another's, and the
credentials that must count for nothing: a revoked device, a disabled user, an expired
session. A refusal is 401, 403 or a redirect to sign-in or pairing, and changes nothing."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator

import pytest
from helpers import TEST_SITE
from starlette.routing import Route

from app.access import auth, csrf, devices
from app.sites import site_from_dict
from app.storage import keys

PARAM = re.compile(r"{([a-z_]+)(?::[a-z]+)?}")
PUBLIC = {("GET", "/"), ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/login"),
          ("POST", "/login"), ("POST", "/logout"), ("GET", "/pair"), ("POST", "/pair"),
          ("GET", "/t/{token}"), ("GET", "/t/{token}/status"),
          ("GET", "/api/v1/openapi.json"), ("GET", "/metrics")}
KIOSK = {("POST", "/api/v1/sites/{site}/visits"), ("GET", "/sites/{site}/kiosk"),
         ("POST", "/sites/{site}/kiosk/step/{action}")}
DISPLAY = {("GET", "/api/v1/sites/{site}/lobby"), ("GET", "/sites/{site}/lobby")}
ADMIN_ONLY = re.compile(r"^/sites/{site}/admin(/|$)")
PASSWORD = "correct horse battery"


def routes(app) -> list[tuple[str, str]]:
    return sorted((method, route.path) for route in app.routes if isinstance(route, Route)
                  for method in route.methods or {"GET"} if method != "HEAD")


def allowed(role: str, method: str, path: str) -> bool:
    """Whether `role`, on its own site, may use the route (what docs/api.md says)."""
    if (method, path) in PUBLIC:
        return True
    if role == "kiosk":
        return (method, path) in KIOSK
    if role == "display":
        return (method, path) in DISPLAY
    if ADMIN_ONLY.match(path):
        return role == "admin"
    return role in ("desk", "admin")


def refused(r) -> bool:
    if r.status_code in (401, 403):
        return True
    location = r.headers.get("location", "")
    return r.status_code in (302, 303) and location.startswith(("/login", "/pair"))


@pytest.fixture
async def other_site(store) -> AsyncIterator[str]:
    """A second site with a token for every role; its keys are removed afterwards."""
    site_id = f"o{uuid.uuid4().hex[:8]}"
    await store.save_site(site_from_dict({"id": site_id, **TEST_SITE}))
    yield site_id
    digests = await store.redis.smembers(keys.site_tokens(site_id))
    if digests:
        await store.redis.hdel(keys.token_index(), *digests)
    await store.redis.srem(keys.sites(), site_id)
    async for key in store.redis.scan_iter(match=f"lq:{{{site_id}}}:*"):
        await store.redis.delete(key)


async def state_of(api) -> tuple:
    """What a refused request must not change: the site's stream, visits and users."""
    redis = api.app.state.store.redis
    site = api.site.id
    users = sorted(u["name"] + str(u["disabled"]) for u in await auth.site_users(redis, site))
    return (await redis.xlen(keys.events(site)),
            sorted(await redis.keys(keys.visit(site, "*"))),
            users, sorted(await redis.hkeys(keys.devices(site))))


class Caller:
    """One credential: bearer headers, or a cookie with its CSRF token and Origin."""

    def __init__(self, label: str, headers: dict[str, str]) -> None:
        self.label, self.headers = label, headers

    @classmethod
    def cookie(cls, label: str, name: str, value: str, secret: str) -> Caller:
        return cls(label, {"cookie": f"{name}={value}", "origin": "http://test",
                           csrf.HEADER: csrf.token(secret, value)})


async def dead_credentials(api, store) -> list[Caller]:
    """A revoked kiosk, a disabled desk user, an expired session, and no credential."""
    redis, settings, site = store.redis, api.app.state.settings, api.site
    secret = settings.secret_key
    device = await devices.pair(redis, settings, site, {"role": "kiosk", "name": "Kiosk 1"})
    device_cookie = api.app.state.signer.dumps({"site": site.id, "device": device})
    await devices.revoke(redis, settings, site, device, "user:test")
    disabled, expired = f"dis-{site.id}", f"exp-{site.id}"
    for name in (disabled, expired):
        await auth.add_user(redis, site.id, "admin", name, PASSWORD)
    disabled_session = await auth.login(redis, disabled, PASSWORD)
    await auth.set_disabled(redis, site.id, disabled, True)
    expired_session = await auth.login(redis, expired, PASSWORD)
    await redis.delete(keys.session(auth._digest(expired_session)))  # as its TTL would
    return [
        Caller("nobody", {}),
        Caller.cookie("revoked kiosk", auth.DEVICE_COOKIE, device_cookie, secret),
        Caller.cookie("disabled admin", auth.SESSION_COOKIE, disabled_session, secret),
        Caller.cookie("expired session", auth.SESSION_COOKIE, expired_session, secret),
    ]


async def call(api, caller: Caller, method: str, path: str, visit_id: str):
    values = {"site": api.site.id, "visit_id": visit_id, "action": "call", "queue": "reg",
              "room": "room-1", "kiosk": "k1", "name": "nobody", "device": "d1",
              "token": "x" * 20}
    url = PARAM.sub(lambda m: values[m.group(1)], path)
    body = None if method in ("GET", "DELETE") else {}
    return await api.client.request(method, url, json=body, headers=caller.headers,
                                    follow_redirects=False)


async def test_dead_and_foreign_credentials_are_refused_everywhere_and_change_nothing(
        api, store, other_site):
    visit = await api.check_in(name="Ada Lovelace")
    callers = await dead_credentials(api, store)
    for role in auth.ROLES:
        token = await auth.create_token(store.redis, other_site, role)
        callers.append(Caller(f"{other_site} {role}", {"Authorization": f"Bearer {token}"}))
    before = await state_of(api)
    checked = 0
    for method, path in routes(api.app):
        if (method, path) in PUBLIC:
            continue
        for caller in callers:
            r = await call(api, caller, method, path, visit["id"])
            assert refused(r), (caller.label, method, path, r.status_code, r.text[:200])
            assert "Lovelace" not in r.text, (caller.label, method, path)
            checked += 1
    assert await state_of(api) == before
    assert checked >= 34 * 8  # every guarded route, eight credentials


@pytest.mark.parametrize("role", auth.ROLES)
async def test_each_role_reaches_exactly_its_own_routes(api, role):
    visit = await api.check_in(name="Ada Lovelace")
    caller = Caller(role, api.auth(role))
    wrong = []
    for method, path in routes(api.app):
        if (method, path) in PUBLIC:
            continue
        r = await call(api, caller, method, path, visit["id"])
        assert r.status_code < 500, (method, path, r.text[:300])
        if refused(r) == allowed(role, method, path):
            wrong.append((method, path, r.status_code))
        if not allowed(role, method, path):
            assert "Lovelace" not in r.text, (method, path)
    assert wrong == [], f"{role}: {json.dumps(wrong)}"
