"""Sign-in, the idle lock, the admin pages and paired devices in a real Chromium, as an
administrator and a front-desk user use them; axe-core finds nothing serious."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from conftest import ARTIFACTS
from helpers import axe_problems
from playwright.async_api import Browser, Page, expect

from app.access.auth import add_user, create_pairing_code

SCREENSHOTS = ARTIFACTS  # copied by hand into docs/screenshots/ when a screen changes
PASSWORD = "correct horse battery"
SOON = 15_000  # ms: generous, for a shared two-core machine


@pytest.fixture
async def staff(site, store) -> dict[str, str]:
    names = {"admin": f"ada-{site.id}", "desk": f"dan-{site.id}"}
    for role, name in names.items():
        await add_user(store.redis, site.id, role, name, PASSWORD)
    return names


async def new_page(browser: Browser) -> Page:
    context = await browser.new_context(viewport={"width": 1366, "height": 800})
    return await context.new_page()


async def sign_in(page: Page, url: str, name: str, password: str = PASSWORD) -> None:
    await page.goto(f"{url}/login")
    await page.get_by_label("User name").fill(name)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_sign_in_lock_after_idle_and_sign_out(browser, live_server, site, staff):
    server = live_server({"STAFF_IDLE_MINUTES": "0.1"})  # six seconds
    page = await new_page(browser)
    await sign_in(page, server.url, staff["admin"], "wrong password")
    await expect(page.get_by_role("alert")).to_have_text(
        "That user name and password do not match.")

    await sign_in(page, server.url, staff["admin"])
    await expect(page).to_have_url(re.compile(rf"/sites/{site.id}/admin$"))
    await expect(page.get_by_text(f"Signed in as {staff['admin']}")).to_be_visible()

    # Left alone, the page locks: the sign-in comes back, saying why, and stays on reload.
    await expect(page).to_have_url(re.compile(r"/login\?locked=1"), timeout=SOON)
    await expect(page.get_by_role("status")).to_contain_text("locked after 0.1 minutes")
    await page.reload()
    await expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    await page.goto(f"{server.url}/sites/{site.id}/admin/users")
    await expect(page).to_have_url(re.compile(r"/login\?next="))

    await page.get_by_label("User name").fill(staff["admin"])
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(rf"/sites/{site.id}/admin/users$"))
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.goto(f"{server.url}/sites/{site.id}/admin")
    await expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()


async def test_an_admin_adds_and_disables_a_user(browser, live_server, site, staff):
    server = live_server()
    admin, desk = await new_page(browser), await new_page(browser)
    await sign_in(desk, server.url, staff["desk"])
    await expect(desk).to_have_url(re.compile(rf"/sites/{site.id}/board$"))

    await sign_in(admin, server.url, staff["admin"])
    await admin.get_by_role("navigation", name="Admin").get_by_role("link", name="Users").click()
    form = admin.locator("form").filter(has=admin.get_by_role("button", name="Add user"))
    await form.get_by_label("User name").fill(f"zoe-{site.id}")
    await form.get_by_label("Role").select_option(label="Front desk")
    await form.get_by_label("Password").fill("another fine secret")
    await form.get_by_role("button", name="Add user").click()
    await expect(admin.get_by_role("status")).to_have_text(
        f"zoe-{site.id} can now sign in as a front-desk user.")
    await expect(admin.get_by_role("row", name=re.compile(f"zoe-{site.id}"))).to_be_visible()

    await admin.get_by_role("button", name=f"Disable {staff['desk']}").click()
    await expect(admin.get_by_role("status")).to_contain_text("signed out everywhere")
    await desk.reload()
    await expect(desk.get_by_role("heading", name="Staff sign-in")).to_be_visible()


async def test_a_desk_user_is_told_the_admin_pages_are_not_theirs(
        browser, live_server, site, staff):
    server = live_server()
    page = await new_page(browser)
    await sign_in(page, server.url, staff["desk"])
    await expect(page).to_have_url(re.compile(rf"/sites/{site.id}/board$"))
    response = await page.goto(f"{server.url}/sites/{site.id}/admin/devices")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("alert")).to_contain_text(
        "Only the site's administrators can open the admin pages")
    await expect(page.get_by_role("link", name="Sign in as someone else")).to_be_visible()


async def pair_elsewhere(server, site, store) -> None:
    """Two more devices, paired over HTTP, for a list worth a screenshot."""
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as client:
        for role, name, queues in (("kiosk", "Entrance kiosk", ("reg", "nurse")),
                                   ("display", "Lab waiting-room TV", ("lab",))):
            code = await create_pairing_code(store.redis, site.id, role, name, queues)
            r = await client.post("/pair", data={"code": code}, headers={"Origin": server.url})
            assert r.status_code == 303
            client.cookies.clear()


async def test_pair_a_lobby_display_then_revoke_it_and_it_goes_back_to_pairing(
        browser, live_server, site, staff, store):
    server = live_server()
    admin = await new_page(browser)
    await sign_in(admin, server.url, staff["admin"])
    await admin.goto(f"{server.url}/sites/{site.id}/admin/devices")
    await admin.get_by_label("Kind").select_option(label="Lobby display")
    await admin.get_by_label("Name").fill("Lobby TV by the door")
    await admin.get_by_role("button", name="Make a pairing code").click()
    code = await admin.locator("[data-code]").get_attribute("data-code")
    assert code and len(code) == 8

    tv = await new_page(browser)
    await tv.goto(f"{server.url}/pair")
    await tv.get_by_label("Pairing code").fill(code)
    live = asyncio.Event()
    tv.on("websocket", lambda ws: ws.on("framereceived", lambda _: live.set()))
    await tv.get_by_role("button", name="Pair").click()
    await expect(tv).to_have_url(re.compile(rf"/sites/{site.id}/lobby$"))
    await asyncio.wait_for(live.wait(), SOON / 1000)  # the lobby is live

    await pair_elsewhere(server, site, store)
    await admin.goto(f"{server.url}/sites/{site.id}/admin/devices")
    row = admin.get_by_role("row", name=re.compile("Lobby TV by the door"))
    await expect(row).to_contain_text("Lobby display")
    await expect(row).not_to_contain_text("Not yet")  # last seen: it has made requests
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await admin.screenshot(path=str(SCREENSHOTS / "admin-devices.png"), full_page=True)

    await row.get_by_role("button", name="Revoke Lobby TV by the door").click()
    await expect(admin.get_by_role("status")).to_contain_text("Lobby TV by the door is unpaired")
    await expect(tv).to_have_url(re.compile(r"/pair"), timeout=SOON)
    await expect(tv.get_by_role("status")).to_have_text(
        "An administrator unpaired this screen. Enter a new pairing code to use it again.")


@pytest.mark.parametrize("path", ["/login", "/pair", "/admin", "/admin/users",
                                  "/admin/devices"])
async def test_no_serious_accessibility_problem(browser, live_server, site, staff, path):
    server = live_server()
    page = await new_page(browser)
    if path.startswith("/admin"):
        await sign_in(page, server.url, staff["admin"])
        await expect(page).to_have_url(re.compile(rf"/sites/{site.id}/admin$"))
        await page.goto(f"{server.url}/sites/{site.id}{path}")
    else:
        await page.goto(f"{server.url}{path}")
    assert await axe_problems(page) == []

