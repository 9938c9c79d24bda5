"""Security headers on every route of the routing table, and pages that run under the
Content Security Policy without a single violation."""

from __future__ import annotations

import re

import pytest
from helpers import make_settings
from starlette.routing import Route

from app.access.headers import CSP
from app.main import create_app

PARAM = re.compile(r"{([a-z_]+)(?::[a-z]+)?}")


def http_routes(app) -> list[tuple[str, str]]:
    """(method, path template) for every HTTP route of `app`."""
    found = []
    for route in app.routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or {"GET"}):
                if method != "HEAD":
                    found.append((method, route.path))
    return found


def concrete(path: str, site_id: str) -> str:
    return PARAM.sub(lambda m: site_id if m.group(1) == "site" else "x1", path)


def assert_protected(response, secure: bool = False) -> None:
    h = response.headers
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    assert h.get("content-security-policy") == CSP, where
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert "script-src 'self'" in h["content-security-policy"]
    assert h.get("x-content-type-options") == "nosniff", where
    assert h.get("referrer-policy") in ("same-origin", "no-referrer"), where
    assert "camera=()" in h.get("permissions-policy", ""), where
    assert h.get("cache-control") == "no-store", where
    assert ("strict-transport-security" in h) is secure, where


def test_the_table_is_walked_whole(settings):
    routes = http_routes(create_app(settings))
    assert len(routes) > 40
    assert ("GET", "/sites/{site}/reports/day.csv") in routes or any(
        "csv" in path for _, path in routes)


async def test_every_route_answers_with_the_headers_refused_or_not(api):
    for method, path in http_routes(api.app):
        url = concrete(path, api.site.id)
        for headers in ({}, api.auth("desk"), api.auth("admin")):
            r = await api.client.request(method, url, headers=headers)
            assert r.status_code < 500, (method, url, r.text)
            assert_protected(r)


async def test_personal_data_answers_are_never_stored(api):
    await api.check_in(name="Ada Lovelace")
    site = api.site.id
    for path in (f"/api/v1/sites/{site}/snapshot", f"/api/v1/sites/{site}/events",
                 f"/sites/{site}/board", f"/sites/{site}/reports/day.csv"):
        r = await api.client.get(path, headers=api.auth("desk"))
        assert r.status_code == 200, (path, r.text)
        assert "Lovelace" in r.text or path.endswith(".csv"), path
        assert r.headers["cache-control"] == "no-store", path


async def test_static_files_may_be_cached_and_are_still_not_sniffed(api):
    r = await api.client.get("/static/js/csrf.js")
    assert r.status_code == 200
    assert "no-store" not in r.headers.get("cache-control", "")
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("secure", [True, False])
async def test_hsts_only_when_the_server_says_it_is_https_only(secure, redis_url, site,
                                                                 tmp_path):
    import httpx

    settings = make_settings(redis_url, tmp_path / "var",
                             SECURE_COOKIES="true" if secure else "false")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.get("/login")
            assert r.status_code == 200
            assert_protected(r, secure=secure)


async def test_an_unexpected_failure_answers_500_with_the_headers_too(settings):
    """A 500 comes from Starlette's outermost middleware, outside SecurityHeaders."""
    import httpx

    async def broken(request):
        raise RuntimeError("a bug")

    app = create_app(settings)
    app.router.routes.append(Route("/broken", broken))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.get("/broken", headers={"accept": "application/json"})
    assert r.status_code == 500
    assert r.json()["error"] == "internal"
    assert_protected(r)
