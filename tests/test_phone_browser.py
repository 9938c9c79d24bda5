"""The patient's phone page in a real Chromium at a phone's size: it follows the visit from
waiting to called by itself, buzzes once, and has no serious accessibility problem."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import test_browser_lobby as lobby_tests
from conftest import ARTIFACTS
from helpers import axe_problems
from playwright.async_api import Page, expect

from app import clock
from app.visits.status_links import make_token

POLL = 15_000  # ms: the page asks every 5-10 s
VIBRATE_STUB = """
window.__buzz = [];
navigator.vibrate = function (pattern) { window.__buzz.push(pattern); return true; };
"""

# The same real server and desk client as the lobby's browser tests.
server = lobby_tests.server
desk = lobby_tests.desk


@pytest.fixture
async def phone(browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 390, "height": 844},
                                        device_scale_factor=2, is_mobile=True, has_touch=True)
    await context.add_init_script(VIBRATE_STUB)
    yield await context.new_page()
    await context.close()


def link(server, site, visit) -> str:
    date = clock.local_date(clock.now(), site.tz)
    token = make_token(server._env["SECRET_KEY"], site.id, visit["id"], date)
    return f"{server.url}/t/{token}"


async def test_the_phone_page_follows_the_visit_from_waiting_to_called(phone: Page, server,
                                                                       site, desk):
    ahead = await desk.check_in("reg")
    visit = await desk.check_in("reg", name="Ana Lima")
    await phone.goto(link(server, site, visit))
    await expect(phone.get_by_text(visit["ticket"], exact=True)).to_be_visible()
    await expect(phone.get_by_role("heading", name="You are number 2 in line")).to_be_visible()
    await expect(phone.get_by_text("for Registration")).to_be_visible()

    await desk.call(ahead, "room-1")
    await expect(phone.get_by_role("heading", name="You are number 1 in line")).to_be_visible(
        timeout=POLL)
    await desk.call(visit, "room-3")
    await expect(phone.get_by_role("alert")).to_have_text("It's your turn: go to Room 3",
                                                          timeout=POLL)
    assert len(await phone.evaluate("window.__buzz")) == 1
    await expect(phone.locator("body")).not_to_contain_text("Ana")

    assert await axe_problems(phone) == []
    ARTIFACTS.mkdir(exist_ok=True)
    await phone.screenshot(path=str(ARTIFACTS / "phone.png"))


async def test_a_waiting_phone_page_has_no_serious_accessibility_violation(phone: Page, server,
                                                                           site, desk):
    visit = await desk.check_in("lab")
    await phone.goto(link(server, site, visit))
    await expect(phone.get_by_role("heading", name="You are number 1 in line")).to_be_visible()
    assert await axe_problems(phone) == []
    await phone.screenshot(path=str(ARTIFACTS / "phone-waiting.png"))

    # A patient who chose Spanish at the kiosk gets the page in Spanish, still clean.
    spanish = await desk.check_in("lab", language="es")
    await phone.goto(link(server, site, spanish))
    await expect(phone.get_by_role("heading", name="Usted es el número 2 en la fila")) \
        .to_be_visible()
    await expect(phone.locator("html")).to_have_attribute("lang", "es")
    assert await axe_problems(phone) == []


async def test_a_spanish_page_says_it_cannot_reach_the_clinic_in_spanish(phone: Page, server,
                                                                         site, desk):
    visit = await desk.check_in("lab", language="es")
    await phone.goto(link(server, site, visit))
    await expect(phone.get_by_role("heading", name="Usted es el número 1 en la fila")) \
        .to_be_visible()
    # The network drops: two refreshes fail (the page refreshes on "online" at once).
    await phone.route("**/status", lambda route: route.abort())
    for _ in range(2):
        await phone.evaluate("window.dispatchEvent(new Event('online'))")
        await phone.wait_for_timeout(300)
    status = phone.locator("#phone-link")
    await expect(status).to_have_text(
        "No hay conexión con la clínica en este momento; lo seguimos intentando. "
        "Su lugar en la fila se mantiene.")
    # The link ends (a 404): said in Spanish too.
    await phone.unroute("**/status")
    await phone.route("**/status", lambda route: route.fulfill(status=404, body=""))
    await phone.evaluate("window.dispatchEvent(new Event('online'))")
    await expect(status).to_have_text(
        "Este enlace ya no es válido. Por favor, pregunte en la recepción.")
    assert await axe_problems(phone) == []
