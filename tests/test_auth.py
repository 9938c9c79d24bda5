"""Staff sign-in, sessions, the idle limit, rate limits and CSRF, through the app as a
browser and an integration use it (in process, real Redis)."""

from __future__ import annotations

import asyncio
import html
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from helpers import make_settings
from starlette.requests import Request
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from app.access import auth, devices, throttle
from app.access.throttle import PAIR_ADDRESS, SIGNIN_ADDRESS, SIGNIN_NAME, SIGNIN_PAIR
from app.main import create_app
from app.storage import keys

PASSWORD = "correct horse battery"
ORIGIN = {"Origin": "http://test"}


class Browser:
    """One browser: its cookies, and the CSRF token its last page carried."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def sign_in(self, name: str, password: str = PASSWORD) -> httpx.Response:
        return await self.client.post("/login", data={"username": name, "password": password},
                                      headers=ORIGIN)

    async def submit(self, path: str, page: str, **fields: str) -> httpx.Response:
        """Post a form to `path` as the page `page` would, with its CSRF token."""
        token = await self.token(page)
        return await self.client.post(path, headers=ORIGIN,
                                      data={"csrf_token": token, **fields})

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
    # A hundredth of the real sign-in delay: the tests that fail ten times wait 0.3 s, not 30.
    return await app_for(SIGNIN_DELAY_MS="10")


@pytest.fixture
async def browser_for(app) -> AsyncIterator:
    clients: list[httpx.AsyncClient] = []

    def new(address: str = "127.0.0.1") -> Browser:
        transport = httpx.ASGITransport(app=app, client=(address, 50000))
        client = httpx.AsyncClient(transport=transport,
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


ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


async def forget_failures(store, names) -> None:
    """The limits count per name and per address: leave none behind for the next test."""
    from app.access.throttle import _key, forget_user
    for name in names:
        await forget_user(store.redis, name)
    await store.redis.delete(*(_key(limit, a) for a in ADDRESSES
                               for limit in (SIGNIN_ADDRESS, PAIR_ADDRESS)))


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


async def test_five_wrong_passwords_lock_that_address_out_of_that_name_only(
        users, browser_for):
    desk = browser_for("127.0.0.2")
    for _ in range(SIGNIN_PAIR.allowed):
        assert (await desk.sign_in(users["desk"], "guess")).status_code == 401
    locked = await desk.sign_in(users["desk"])
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= SIGNIN_PAIR.window
    assert "Too many failed sign-ins from this computer. Wait 15 minutes" in locked.text
    # Another user at the same desk is not locked out by it.
    assert (await desk.sign_in(users["admin"])).status_code == 303


async def test_guesses_from_anywhere_never_keep_the_right_person_out(users, browser_for,
                                                                      store):
    """Guessers on two addresses fail until each is refused; the person, from a third
    address, still signs in with the right password (after a short delay, not a refusal)."""
    name = users["desk"]
    for address in ("127.0.0.2", "127.0.0.3"):
        guesser = browser_for(address)
        for _ in range(SIGNIN_PAIR.allowed):
            assert (await guesser.sign_in(name, "guess")).status_code == 401
        assert (await guesser.sign_in(name, "guess")).status_code == 429
    assert (await throttle.name_failures(store.redis, [name]))[name] == 10
    assert (await browser_for("127.0.0.1").sign_in(name)).status_code == 303


def test_the_delay_per_name_grows_and_is_capped():
    delays = [throttle.signin_delay(n) for n in range(30)]
    assert delays[:SIGNIN_NAME.allowed] == [0] * SIGNIN_NAME.allowed
    assert delays[SIGNIN_NAME.allowed:SIGNIN_NAME.allowed + 3] == [1, 2, 4]
    assert max(delays) == 8
    assert delays == sorted(delays)
    assert throttle.signin_delay(SIGNIN_NAME.allowed + 1, first=0.25) == 0.5


async def test_a_name_being_guessed_makes_its_sign_in_wait(users, app_for):
    """After five failures for a name, even the right password waits the configured delay
    (the guesser's tries slow down; the person gets in, a moment later)."""
    app = await app_for(SIGNIN_DELAY_MS="400")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.2", 1)),
                                 base_url="http://test") as client:
        guesser = Browser(client)
        for _ in range(SIGNIN_NAME.allowed):
            assert (await guesser.sign_in(users["desk"], "guess")).status_code == 401
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        started = time.monotonic()
        assert (await Browser(client).sign_in(users["desk"])).status_code == 303
        assert time.monotonic() - started >= 0.4


@pytest.mark.parametrize("change", ["password", "enable"])
async def test_an_admins_reset_or_re_enable_lifts_the_lock(change, site, users, browser_for,
                                                           store):
    name = users["desk"]
    desk = browser_for("127.0.0.2")
    for _ in range(SIGNIN_PAIR.allowed):
        assert (await desk.sign_in(name, "guess")).status_code == 401
    assert (await desk.sign_in(name)).status_code == 429
    if change == "enable":
        await auth.set_disabled(store.redis, site.id, name, True)
        await auth.set_disabled(store.redis, site.id, name, False)
        password = PASSWORD
    else:
        password = "a brand new password"
        await auth.reset_password(store.redis, site.id, name, password)
    r = await desk.sign_in(name, password)
    assert r.status_code == 303, r.text
    assert "retry-after" not in r.headers


async def test_a_name_being_guessed_shows_on_the_admin_page_and_the_audit_trail(
        site, users, browser_for):
    guesser = browser_for("127.0.0.3")
    for _ in range(SIGNIN_PAIR.allowed):
        assert (await guesser.sign_in(users["desk"], "guess")).status_code == 401
    admin = browser_for("127.0.0.1")
    assert (await admin.sign_in(users["admin"])).status_code == 303
    page = await admin.client.get(f"/sites/{site.id}/admin/users")
    row = page.text.split(f'id="user-{users["desk"]}"', 1)[1].split("</tr>", 1)[0]
    assert "5 wrong passwords in a row: someone may be guessing" in row
    other = page.text.split(f'id="user-{users["admin"]}"', 1)[1].split("</tr>", 1)[0]
    assert "guessing" not in other
    trail = await admin.client.get(f"/sites/{site.id}/reports/audit")
    assert "sign-ins failing for a user" in trail.text
    assert f"user {users['desk']}, 5 wrong passwords in a row" in trail.text


async def test_a_success_resets_the_count(users, browser_for):
    desk = browser_for()
    for _ in range(2):
        for _ in range(SIGNIN_PAIR.allowed - 1):
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


async def test_a_refusal_tells_a_caller_no_more_than_its_credentials_may_know(
        site, store, users, browser_for):
    # 401 before 404 before 403: a stranger cannot learn which sites exist, and a
    # credential of one site learns only that another site is not its own.
    token = {"Authorization": f"Bearer {await auth.create_token(store.redis, site.id, 'desk')}"}
    stranger = {"Authorization": "Bearer llt_not-a-token-anyone-was-given"}
    desk = browser_for()
    await desk.sign_in(users["desk"])
    nobody = browser_for()

    def snapshot(site_id: str) -> str:
        return f"/api/v1/sites/{site_id}/snapshot"

    for client, headers in ((nobody.client, stranger), (nobody.client, {})):
        for where in (site.id, "no-such-site"):
            r = await client.get(snapshot(where), headers=headers)
            assert (r.status_code, r.json()["error"]) == (401, "unauthorized")
    for client, headers in ((nobody.client, token), (desk.client, {})):
        r = await client.get(snapshot("no-such-site"), headers=headers)
        assert (r.status_code, r.json()["error"]) == (404, "not_found")
        assert (await client.get(snapshot(site.id), headers=headers)).status_code == 200
    display = {"Authorization": "Bearer " + await auth.create_token(store.redis, site.id,
                                                                    "display")}
    r = await nobody.client.get(snapshot(site.id), headers=display)
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")


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


# Admin pages

async def test_admin_pages_send_strangers_to_sign_in_and_refuse_desk_users(
        site, users, browser_for):
    stranger = await browser_for().client.get(f"/sites/{site.id}/admin/users")
    assert stranger.status_code == 303
    assert stranger.headers["location"] == f"/login?next=/sites/{site.id}/admin/users"

    desk = browser_for()
    await desk.sign_in(users["desk"])
    for path in ("/admin", "/admin/users", "/admin/devices"):
        r = await desk.client.get(f"/sites/{site.id}{path}")
        assert r.status_code == 403, path
        assert "Only the site's administrators can open the admin pages" in html.unescape(r.text)
    token = await desk.token(f"/sites/{site.id}/board")
    post = await desk.client.post(f"/sites/{site.id}/admin/devices", headers=ORIGIN,
                                  data={"csrf_token": token, "role": "display"})
    assert post.status_code == 403 and "<p class=\"code\"" not in post.text


async def test_an_admin_adds_a_user_who_can_then_sign_in(site, users, browser_for, store):
    admin = browser_for()
    await admin.sign_in(users["admin"])
    token = await admin.token(f"/sites/{site.id}/admin")
    name = f"new-{site.id}"
    r = await admin.client.post(f"/sites/{site.id}/admin/users", headers=ORIGIN, data={
        "csrf_token": token, "username": name, "role": "desk", "password": "a fine secret"})
    assert r.status_code == 200 and f"{name} can now sign in" in r.text
    assert f'id="user-{name}"' in r.text
    assert (await browser_for().sign_in(name, "a fine secret")).status_code == 303

    again = await admin.client.post(f"/sites/{site.id}/admin/users", headers=ORIGIN, data={
        "csrf_token": token, "username": name, "role": "admin", "password": "another secret"})
    assert again.status_code == 422 and "already taken" in again.text
    assert (await auth.get_user(store.redis, name))["role"] == "desk"

    bad = await admin.client.post(f"/sites/{site.id}/admin/users", headers=ORIGIN, data={
        "csrf_token": token, "username": "has space", "role": "desk", "password": "x" * 10})
    assert bad.status_code == 422 and "A user name is 1 to 64" in bad.text
    assert await auth.get_user(store.redis, "has space") is None


async def test_another_sites_user_cannot_be_changed_from_here(site, users, browser_for, store):
    await auth.add_user(store.redis, "elsewhere", "desk", f"far-{site.id}", PASSWORD)
    try:
        admin = browser_for()
        await admin.sign_in(users["admin"])
        r = await admin.submit(f"/sites/{site.id}/admin/users/far-{site.id}/disable",
                               f"/sites/{site.id}/admin/users")
        assert r.status_code == 404 and "There is no user" in r.text
        assert not (await auth.get_user(store.redis, f"far-{site.id}")).get("disabled")
    finally:
        await store.redis.hdel(keys.users(), f"far-{site.id}")


# Devices

async def make_code(admin: Browser, site_id: str, **fields) -> str:
    page = f"/sites/{site_id}/admin/devices"
    r = await admin.submit(page, page, **fields)
    assert r.status_code == 200, r.text
    return r.text.split('data-code="', 1)[1].split('"', 1)[0]


async def pair(browser: Browser, code: str) -> httpx.Response:
    return await browser.client.post("/pair", data={"code": code}, headers=ORIGIN)


async def test_a_pairing_code_from_the_admin_page_pairs_one_device_once(
        site, users, browser_for, app):
    admin = browser_for()
    await admin.sign_in(users["admin"])
    code = await make_code(admin, site.id, role="display", name="Lobby TV", queues="lab")

    tv = browser_for()
    r = await pair(tv, code.lower()[:4] + "-" + code[4:])  # as typed, in any case
    assert r.status_code == 303 and r.headers["location"] == f"/sites/{site.id}/lobby"
    assert (await tv.client.get(f"/sites/{site.id}/lobby")).status_code == 200

    second = await pair(browser_for(), code)
    assert second.status_code == 400 and "not valid or has expired" in second.text

    listed = await admin.client.get(f"/sites/{site.id}/admin/devices")
    assert "Lobby TV" in listed.text and "Lobby display" in listed.text
    assert "<td>Lab</td>" in listed.text  # its queue filter


async def test_a_device_principal_carries_its_id_name_and_queues(
        site, users, browser_for, app, store):
    code = await auth.create_pairing_code(store.redis, site.id, "kiosk", "Entrance kiosk",
                                          ("reg", "nurse"))
    kiosk = browser_for()
    await pair(kiosk, code)
    cookie = kiosk.client.cookies[auth.DEVICE_COOKIE]
    request = Request({"type": "http", "method": "GET", "path": "/", "query_string": b"",
                       "app": app,
                       "headers": [(b"cookie", f"{auth.DEVICE_COOKIE}={cookie}".encode())]})
    principal = await auth.authenticate(request)
    assert principal.role == "kiosk" and principal.name == "Entrance kiosk"
    assert principal.queues == ("reg", "nurse") and principal.device_id
    assert principal.actor == f"device:{principal.device_id}"
    seen = await store.redis.hget(keys.devices_seen(site.id), principal.device_id)
    assert seen  # last seen, written on its first request


async def test_an_expired_code_is_refused(site, browser_for, app, store):
    code = await auth.create_pairing_code(store.redis, site.id, "display")
    await store.redis.pexpire(keys.pairing_code(code), 1)
    await asyncio.sleep(0.05)
    r = await pair(browser_for(), code)
    assert r.status_code == 400 and "not valid or has expired" in r.text


async def test_wrong_pairing_codes_are_limited_per_address(site, browser_for, app, store):
    guesser = browser_for()
    for _ in range(PAIR_ADDRESS.allowed):
        assert (await pair(guesser, "WRONGCOD")).status_code == 400
    code = await auth.create_pairing_code(store.redis, site.id, "display")
    r = await pair(guesser, code)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "Too many wrong pairing codes" in r.text
    assert await store.redis.exists(keys.pairing_code(code))  # not spent by a refused try


async def test_a_revoked_device_is_sent_back_to_pairing_and_it_is_on_the_trail(
        site, users, browser_for, app, store):
    code = await auth.create_pairing_code(store.redis, site.id, "display", "Wall TV")
    tv = browser_for()
    await pair(tv, code)
    device_id = next(iter(await store.redis.hkeys(keys.devices(site.id))))

    admin = browser_for()
    await admin.sign_in(users["admin"])
    devices_page = f"/sites/{site.id}/admin/devices"
    r = await admin.submit(f"{devices_page}/{device_id}/revoke", devices_page)
    assert r.status_code == 200 and "Wall TV is unpaired" in r.text
    assert f'id="device-{device_id}"' not in r.text

    back = await tv.client.get(f"/sites/{site.id}/lobby")
    assert back.status_code == 303 and back.headers["location"].startswith("/pair")
    events = await store.redis.xrange(keys.events(site.id))
    revoked = [fields for _, fields in events if fields["type"] == "device.revoked"]
    assert revoked and json.loads(revoked[-1]["device"])["id"] == device_id
    assert revoked[-1]["actor"] == f"user:{users['admin']}"

    twice = await admin.submit(f"{devices_page}/{device_id}/revoke", devices_page)
    assert twice.status_code == 404 and "not paired" in twice.text


async def test_a_device_code_for_an_unknown_queue_is_refused(site, users, browser_for, store):
    admin = browser_for()
    await admin.sign_in(users["admin"])
    page = f"/sites/{site.id}/admin/devices"
    r = await admin.submit(page, page, role="kiosk", queues="x-ray")
    assert r.status_code == 422 and "There is no queue 'x-ray'" in html.unescape(r.text)
    bad_role = await admin.submit(page, page, role="admin")
    assert bad_role.status_code == 422 and "Devices pair as" in bad_role.text


async def test_revoking_a_device_closes_its_live_sockets_with_4401_and_no_other(
        live_server, site, store, settings):
    server = live_server()

    async def paired_socket(name: str) -> ClientConnection:
        code = await auth.create_pairing_code(store.redis, site.id, "display", name)
        async with httpx.AsyncClient(base_url=server.url, trust_env=False) as client:
            r = await client.post("/pair", data={"code": code}, headers={"Origin": server.url})
            assert r.status_code == 303
            cookie = r.cookies[auth.DEVICE_COOKIE]
        socket = await ws_connect(f"{server.ws_url}/ws/sites/{site.id}/lobby", open_timeout=10,
                                  additional_headers={"Origin": server.url,
                                                      "Cookie": f"{auth.DEVICE_COOKIE}={cookie}"})
        await asyncio.wait_for(socket.recv(), 10)  # the whole lobby: it is live
        return socket

    doomed, other = await paired_socket("Doomed TV"), await paired_socket("Other TV")
    try:
        records = await store.redis.hgetall(keys.devices(site.id))
        doomed_id = next(i for i, raw in records.items() if "Doomed TV" in raw)
        await devices.revoke(store.redis, settings, site, doomed_id, "user:test")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(doomed.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        await other.ping()  # the other device's socket is still open
        assert other.close_code is None
    finally:
        await doomed.close()
        await other.close()


async def test_pages_carry_a_csrf_token_only_for_a_cookie_holder(site, browser_for, store):
    stranger = await browser_for().client.get("/login")
    assert 'name="csrf-token"' not in stranger.text
    assert "idle-lock" not in stranger.text

    tv = browser_for()
    await pair(tv, await auth.create_pairing_code(store.redis, site.id, "display"))
    lobby = await tv.token(f"/sites/{site.id}/lobby")
    assert len(lobby) == 64
    page = await tv.client.get(f"/sites/{site.id}/lobby")
    assert "idle-lock" not in page.text  # a device's screen never locks itself


async def test_signing_out_closes_the_boards_open_socket_with_4403(
        live_server, site, store, users):
    """A board left open after its PSR signed out (or was locked or disabled) must stop
    receiving patients' names."""
    server = live_server()
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as client:
        r = await client.post("/login", data={"username": users["desk"], "password": PASSWORD},
                              headers={"Origin": server.url})
        assert r.status_code == 303
        cookie = r.cookies[auth.SESSION_COOKIE]
    board = await ws_connect(f"{server.ws_url}/ws/sites/{site.id}/board", open_timeout=10,
                             additional_headers={"Origin": server.url,
                                                 "Cookie": f"{auth.SESSION_COOKIE}={cookie}"})
    try:
        await asyncio.wait_for(board.recv(), 10)  # the whole board: it is live
        await auth.logout(store.redis, cookie)
        with pytest.raises(ConnectionClosed) as closed:
            while True:  # frames pushed meanwhile are fine; the close must come
                await asyncio.wait_for(board.recv(), 15)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    finally:
        await board.close()
