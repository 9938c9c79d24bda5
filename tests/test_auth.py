"""Staff sign-in, sessions, the idle limit, rate limits and CSRF, through the app as a
browser and an integration use it (in process, real Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from helpers import make_settings

from app import auth, keys
from app.main import create_app
from app.throttle import PAIR_ADDRESS, SIGNIN_ADDRESS, SIGNIN_NAME

PASSWORD = "correct horse battery"
ORIGIN = {"Origin": "http://test"}


class Browser:
    """One browser: its cookies, and the CSRF token its last page carried."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def sign_in(self, name: str, password: str = PASSWORD) -> httpx.Response:
        return await self.client.post("/login", data={"username": name, "password": password},
                                      headers=ORIGIN)

    async def token(self, path: str) -> str:
        page = await self.client.get(path)
        assert page.status_code == 200, page.text
        marker = '<meta name="csrf-token" content="'
        assert marker in page.text, "the page carries no CSRF token"
        return page.text.split(marker, 1)[1].split('"', 1)[0]


@pytest.fixture
async def app_for(settings, site, store, tmp_path) -> AsyncIterator:
    """`app_for(**env)`: the app in process with extra settings; yields a Browser maker."""
    apps = []

    async def start(**env: str):
        app = create_app(make_settings(settings.redis_url, tmp_path / "var", **env))
        apps.append(app.router.lifespan_context(app))
        await apps[-1].__aenter__()
        return app

    yield start
    for ctx in apps:
        await ctx.__aexit__(None, None, None)


@pytest.fixture
async def app(app_for):
    return await app_for()


@pytest.fixture
async def browser_for(app) -> AsyncIterator:
    clients: list[httpx.AsyncClient] = []

    def new() -> Browser:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                   base_url="http://test", follow_redirects=False)
        clients.append(client)
        return Browser(client)

    yield new
    for client in clients:
        await client.aclose()


@pytest.fixture
async def users(site, store) -> AsyncIterator[dict[str, str]]:
    """An admin and a desk user of the test site."""
    names = {"admin": f"ada-{site.id}", "desk": f"dan-{site.id}"}
    for role, name in names.items():
        await auth.add_user(store.redis, site.id, role, name, PASSWORD)
    yield names
    for name in names.values():
        await store.redis.delete(keys.user_sessions(name))
    await forget_failures(store, names.values())


async def forget_failures(store, names) -> None:
    """The limits count per name and per address: leave none behind for the next test."""
    from app.throttle import _key
    await store.redis.delete(*(_key(SIGNIN_NAME, n.lower()) for n in names),
                             _key(SIGNIN_ADDRESS, "127.0.0.1"), _key(PAIR_ADDRESS, "127.0.0.1"))


@pytest.fixture(autouse=True)
async def clean_limits(store):
    await forget_failures(store, [])
    yield
    await forget_failures(store, [])


async def test_sign_in_opens_the_board_and_sign_out_ends_the_session(site, users, browser_for):
    desk = browser_for()
    r = await desk.sign_in(users["desk"])
    assert r.status_code == 303 and r.headers["location"] == f"/sites/{site.id}/board"
    assert (await desk.client.get(f"/sites/{site.id}/board")).status_code == 200

    token = await desk.token(f"/sites/{site.id}/board")
    out = await desk.client.post("/logout", headers={**ORIGIN, "X-CSRF-Token": token})
    assert out.status_code == 303
    again = await desk.client.get(f"/sites/{site.id}/board")
    assert again.status_code == 303 and again.headers["location"].startswith("/login")


async def test_an_admin_lands_on_the_admin_page(site, users, browser_for):
    r = await browser_for().sign_in(users["admin"])
    assert r.headers["location"] == f"/sites/{site.id}/admin"


async def test_a_wrong_password_is_refused_with_a_sentence(users, browser_for):
    r = await browser_for().sign_in(users["desk"], "not the password")
    assert r.status_code == 401
    assert "That user name and password do not match." in r.text
    assert "lq_session" not in r.headers.get("set-cookie", "")


async def test_a_disabled_user_cannot_sign_in(site, store, users, browser_for):
    await auth.set_disabled(store.redis, site.id, users["desk"], True)
    assert (await browser_for().sign_in(users["desk"])).status_code == 401


async def test_five_wrong_passwords_lock_the_name_even_against_the_right_one(
        users, browser_for):
    desk = browser_for()
    for _ in range(SIGNIN_NAME.allowed):
        assert (await desk.sign_in(users["desk"], "guess")).status_code == 401
    locked = await desk.sign_in(users["desk"])
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= SIGNIN_NAME.window
    assert "Too many failed sign-ins. Wait 15 minutes" in locked.text
    # Another user at the same desk is not locked out by it.
    assert (await desk.sign_in(users["admin"])).status_code == 303


async def test_a_success_resets_the_count(users, browser_for):
    desk = browser_for()
    for _ in range(2):
        for _ in range(SIGNIN_NAME.allowed - 1):
            assert (await desk.sign_in(users["desk"], "guess")).status_code == 401
        assert (await desk.sign_in(users["desk"])).status_code == 303


async def test_many_names_tried_from_one_address_are_limited(browser_for, site):
    guesser = browser_for()
    for n in range(SIGNIN_ADDRESS.allowed):
        assert (await guesser.sign_in(f"nobody-{n}-{site.id}", "guess")).status_code == 401
    r = await guesser.sign_in(f"someone-else-{site.id}", "guess")
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


async def test_a_session_ends_after_the_idle_limit_and_not_while_in_use(
        app_for, site, users, store):
    app = await app_for(STAFF_IDLE_MINUTES="0.05")  # three seconds
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        desk = Browser(client)
        assert (await desk.sign_in(users["desk"])).status_code == 303
        board = f"/sites/{site.id}/board"
        for _ in range(3):  # requests 2 s apart keep it alive past the 3 s limit
            assert (await client.get(board)).status_code == 200
            await asyncio.sleep(2)
        await asyncio.sleep(3.5)
        r = await client.get(board)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        api = await client.get(f"/api/v1/sites/{site.id}/snapshot")
        assert api.status_code == 401 and api.json()["error"] == "unauthorized"


async def test_the_locked_sign_in_page_says_why(browser_for):
    r = await browser_for().client.get("/login?locked=1")
    assert "locked after 15 minutes without activity" in r.text


async def test_a_cookie_post_without_the_csrf_token_is_refused_and_changes_nothing(
        site, users, browser_for, store):
    desk = browser_for()
    await desk.sign_in(users["desk"])
    call_next = f"/api/v1/sites/{site.id}/queues/reg/call-next"
    before = await store.redis.xlen(keys.events(site.id))
    r = await desk.client.post(call_next, headers=ORIGIN)
    assert r.status_code == 403
    assert r.json() == {"error": "csrf", "detail": r.json()["detail"]}
    assert "security token" in r.json()["detail"]
    wrong = await desk.client.post(call_next, headers={**ORIGIN, "X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    assert await store.redis.xlen(keys.events(site.id)) == before

    token = await desk.token(f"/sites/{site.id}/board")
    ok = await desk.client.post(call_next, headers={**ORIGIN, "X-CSRF-Token": token})
    assert ok.status_code == 204  # nobody waits: the call went through


async def test_the_csrf_field_of_an_htmx_form_is_accepted_and_not_an_unknown_field(
        api, site, users, browser_for):
    visit = await api.check_in("reg", name="Ana Lima")
    desk = browser_for()
    await desk.sign_in(users["desk"])
    token = await desk.token(f"/sites/{site.id}/board")
    r = await desk.client.post(
        f"/api/v1/sites/{site.id}/visits/{visit['id']}/call",
        content=f"room=room-1&csrf_token={token}",
        headers={**ORIGIN, "HX-Request": "true",
                 "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "called"


async def test_a_plain_form_without_its_token_gets_a_page_saying_so(site, users, browser_for):
    admin = browser_for()
    await admin.sign_in(users["admin"])
    r = await admin.client.post(f"/sites/{site.id}/admin/users", headers=ORIGIN,
                                data={"username": "eve", "role": "desk", "password": "x" * 12})
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    assert "security token" in r.text


async def test_bearer_calls_need_no_csrf_token(api):
    r = await api.post("/queues/reg/call-next")
    assert r.status_code == 204


async def test_disabling_a_user_ends_their_session_at_once(site, users, browser_for):
    desk, admin = browser_for(), browser_for()
    await desk.sign_in(users["desk"])
    await admin.sign_in(users["admin"])
    assert (await desk.client.get(f"/sites/{site.id}/board")).status_code == 200

    token = await admin.token(f"/sites/{site.id}/admin/users")
    r = await admin.client.post(f"/sites/{site.id}/admin/users/{users['desk']}/disable",
                                headers=ORIGIN, data={"csrf_token": token})
    assert r.status_code == 200 and "signed out everywhere" in r.text
    gone = await desk.client.get(f"/sites/{site.id}/board")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    assert (await desk.sign_in(users["desk"])).status_code == 401

    await admin.client.post(f"/sites/{site.id}/admin/users/{users['desk']}/enable",
                            headers=ORIGIN, data={"csrf_token": token})
    assert (await desk.sign_in(users["desk"])).status_code == 303


async def test_a_password_reset_ends_sessions_and_the_new_password_works(
        site, users, browser_for):
    desk, admin = browser_for(), browser_for()
    await desk.sign_in(users["desk"])
    await admin.sign_in(users["admin"])
    token = await admin.token(f"/sites/{site.id}/admin/users")
    short = await admin.client.post(
        f"/sites/{site.id}/admin/users/{users['desk']}/password", headers=ORIGIN,
        data={"csrf_token": token, "password": "short"})
    assert short.status_code == 422 and "at least 8 characters" in short.text
    assert (await desk.client.get(f"/sites/{site.id}/board")).status_code == 200

    r = await admin.client.post(
        f"/sites/{site.id}/admin/users/{users['desk']}/password", headers=ORIGIN,
        data={"csrf_token": token, "password": "a brand new secret"})
    assert r.status_code == 200 and "has a new password" in r.text
    assert (await desk.client.get(f"/sites/{site.id}/board")).status_code == 303
    assert (await desk.sign_in(users["desk"])).status_code == 401
    assert (await desk.sign_in(users["desk"], "a brand new secret")).status_code == 303
