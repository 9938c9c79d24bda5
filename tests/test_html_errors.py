"""A person's browser gets pages, not JSON: errors on the screens and other HTML paths are
readable pages with a way out, a missing sign-in leads to the sign-in (or pairing) page,
and the API keeps its JSON error shape whatever the Accept header says."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from app.access.auth import add_user
from app.storage import keys

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PASSWORD = "correct horse battery"


@pytest.fixture
def server(live_server):
    return live_server()


@pytest.fixture
async def http(server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=10,
                                 headers=HTML) as client:
        yield client


@pytest.fixture
async def signed_in(site, store) -> AsyncIterator[Callable[[httpx.AsyncClient], Any]]:
    """Signs a client in as a desk user of `site` through /login, as a browser does."""
    name = f"desk-{uuid.uuid4().hex[:8]}"
    await add_user(store.redis, site.id, "desk", name, PASSWORD)

    async def sign_in(client: httpx.AsyncClient) -> None:
        r = await client.post("/login", data={"username": name, "password": PASSWORD},
                              headers={"Origin": str(client.base_url).rstrip("/")})
        assert r.status_code == 303, r.text

    yield sign_in
    await store.redis.hdel(keys.users(), name)


def assert_page(r: httpx.Response, status: int, heading: str, *links: str) -> str:
    """An HTML page (not JSON) with the status, a heading and the given links out."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html"), r.headers["content-type"]
    text = r.text
    assert text.lstrip().startswith("<!doctype html>") and f"<h1>{heading}</h1>" in text, text
    assert f"Error {status}" in text
    for href in links:
        assert f'href="{href}"' in text, (href, text)
    return text


@pytest.mark.parametrize("accept", [HTML["Accept"], "*/*", None], ids=["browser", "curl", "none"])
async def test_an_unknown_page_is_a_readable_404_page_with_a_way_home(server, accept):
    headers = {"Accept": accept} if accept else {}
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as client:
        r = await client.get("/nope", headers=headers)
    assert_page(r, 404, "Page not found", "/", "/login", "/pair")


async def test_an_unknown_site_for_a_signed_in_person_is_a_404_page(http, signed_in):
    await signed_in(http)
    r = await http.get("/sites/no-such-site/board")
    text = assert_page(r, 404, "Page not found", "/")
    assert "There is no site &#39;no-such-site&#39;." in text


@pytest.mark.parametrize(("screen", "sign_in"), [
    ("board", "/login"), ("kiosk", "/pair"), ("lobby", "/pair"),
])
async def test_a_screen_without_credentials_sends_the_person_to_sign_in_or_pair(
        http, site, screen, sign_in):
    r = await http.get(f"/sites/{site.id}/{screen}")
    assert r.status_code == 303
    assert r.headers["location"] == f"{sign_in}?next=/sites/{site.id}/{screen}"
    assert (await http.get(r.headers["location"])).status_code == 200


@pytest.mark.parametrize(("screen", "way_out"), [
    ("board", "/login"), ("lobby", "/pair"),
])
async def test_another_sites_screen_is_a_403_page_with_a_way_out(
        http, signed_in, other_site_id, screen, way_out):
    await signed_in(http)
    r = await http.get(f"/sites/{other_site_id}/{screen}")
    text = assert_page(r, 403, "Not allowed here", way_out)
    assert "These credentials are for another site." in text


async def test_a_wrong_method_on_a_page_is_a_405_page(http):
    r = await http.get("/logout")
    assert_page(r, 405, "Not available this way", "/")
    assert "POST" in r.headers["allow"]


async def test_a_sign_in_from_another_origin_is_a_403_page(http):
    r = await http.post("/login", data={"username": "x", "password": "y" * 10},
                        headers={"Origin": "https://elsewhere.example"})
    assert_page(r, 403, "Not allowed here", "/login")


@pytest.mark.parametrize("path", [
    "/api/v1/nope", "/api/v1/sites/no-such-site/snapshot", "/api/v1/sites/x/visits",
])
async def test_the_api_answers_json_errors_even_to_a_browser(http, path):
    r = await http.get(path)
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"].startswith("application/json")
    assert set(r.json()) >= {"error", "detail"}


async def test_health_checks_stay_json_for_a_browser(http):
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/readyz")).json() == {"status": "ready"}


async def test_a_client_that_asks_for_json_gets_json_from_a_page_path(server):
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as client:
        r = await client.get("/nope", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_with_redis_down_a_screen_is_a_503_page_and_the_api_json(
        redis_factory, live_server, site):
    down = redis_factory()
    server = live_server(redis_url=down.url)
    down.stop()
    async with httpx.AsyncClient(base_url=server.url, trust_env=False, headers=HTML,
                                 cookies={"lq_session": "any-session"}, timeout=20) as client:
        page = await client.get(f"/sites/{site.id}/board")
        api = await client.get(f"/api/v1/sites/{site.id}/snapshot",
                               headers={"Authorization": "Bearer llt_x"})
    assert_page(page, 503, "Temporarily unavailable", f"/sites/{site.id}/board", "/")
    assert api.status_code == 503 and api.json()["error"] == "unavailable"


async def test_a_404_in_the_browser_shows_a_heading_not_json(server, page):
    response = await page.goto(f"{server.url}/sites/nope/nothing-here")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    await expect(page.get_by_role("link", name="Home")).to_be_visible()
    body = await page.locator("body").inner_text()
    assert not body.lstrip().startswith("{"), body
    assert "not_found" not in body


@pytest.fixture
async def other_site_id(store, site_id) -> AsyncIterator[str]:
    """A second saved site (cleaned up like `site`)."""
    from helpers import TEST_SITE

    from app.sites import site_from_dict

    other = f"{site_id}x"
    await store.save_site(site_from_dict({"id": other, **TEST_SITE}))
    yield other
    found = [k async for k in store.redis.scan_iter(match=f"lq:{{{other}}}:*", count=500)]
    if found:
        await store.redis.delete(*found)
    await store.redis.srem(keys.sites(), other)
