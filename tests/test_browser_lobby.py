"""The lobby display and the front-desk board in a real Chromium: what a person sees change
on the screen, with no reload, when the queue moves; and again after a server restart."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from conftest import ARTIFACTS
from helpers import Desk
from playwright.async_api import Page, WebSocket, expect

from app.auth import add_user, create_pairing_code, create_token

SHORT = 5_000  # ms: a change on screen should take well under this
RECONNECT = 15_000  # ms: htmx-ext-ws retries with full-jitter backoff (1 s, 2 s, 4 s…)


@pytest.fixture
def server(live_server):
    return live_server()


@pytest.fixture
async def desk(server, site, store) -> AsyncIterator[Desk]:
    token = await create_token(store.redis, site.id, "desk")
    async with httpx.AsyncClient(
        base_url=f"{server.url}/api/v1/sites/{site.id}", trust_env=False, timeout=10,
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield Desk(client)


class Sockets:
    """The page's WebSockets as the browser sees them: how many it opened, and whether
    any frame has arrived on them yet."""

    def __init__(self, page: Page) -> None:
        self.opened = 0
        self.live = asyncio.Event()
        page.on("websocket", self._opened)

    def _opened(self, socket: WebSocket) -> None:
        self.opened += 1
        socket.on("framereceived", lambda _: self.live.set())

    async def first_frame(self) -> None:
        await asyncio.wait_for(self.live.wait(), SHORT / 1000)


async def mark_page(page: Page) -> None:
    """Leave a mark in the page's JavaScript state: a reload would wipe it."""
    await page.evaluate("window.__noReload = true")


async def assert_not_reloaded(page: Page) -> None:
    assert await page.evaluate("window.__noReload === true"), "the page was reloaded"


async def test_lobby_shows_check_ins_and_calls_live_and_again_after_a_restart(
        page: Page, server, site, store, desk):
    code = await create_pairing_code(store.redis, site.id, "display")
    await page.goto(f"{server.url}/pair")
    await page.get_by_label("Pairing code").fill(code)
    sockets = Sockets(page)
    await page.get_by_role("button", name="Pair").click()
    await expect(page).to_have_url(re.compile(rf"/sites/{site.id}/lobby$"))
    await sockets.first_frame()  # the whole lobby has arrived: the screen is live
    await mark_page(page)

    calling = page.locator("section").filter(
        has=page.get_by_role("heading", name="Now calling"))
    registration = page.locator("section").filter(
        has=page.get_by_role("heading", name="Registration"))
    await expect(calling).to_contain_text("Please have a seat")

    first = await desk.check_in("reg", name="Zebulon Quixote-Marchetti")
    await expect(registration.get_by_text(first["ticket"], exact=True)).to_be_visible(
        timeout=SHORT)

    await desk.call(first, "room-2")
    await expect(calling.get_by_text(first["ticket"], exact=True)).to_be_visible(
        timeout=SHORT)
    await expect(calling).to_contain_text("Room 2")
    await expect(registration).not_to_contain_text(first["ticket"])

    await server.arestart()
    second = await desk.check_in("reg", name="Philippa Worthington-Ngata")
    await expect(registration.get_by_text(second["ticket"], exact=True)).to_be_visible(
        timeout=RECONNECT)
    await expect(calling.get_by_text(first["ticket"], exact=True)).to_be_visible()
    await assert_not_reloaded(page)
    assert sockets.opened >= 2, "the page reconnected its WebSocket"
    await expect(page.locator("body")).not_to_contain_text("Zebulon")
    await expect(page.locator("body")).not_to_contain_text("Philippa")

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "lobby.png"), full_page=True)


async def test_board_shows_a_check_in_and_calls_it_with_one_click(page: Page, server, site,
                                                                  store, desk):
    await add_user(store.redis, site.id, "desk", "pat", "correct horse 1")
    await page.goto(f"{server.url}/login")
    await page.get_by_label("User name").fill("pat")
    await page.get_by_label("Password").fill("correct horse 1")
    sockets = Sockets(page)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(rf"/sites/{site.id}/board$"))
    await sockets.first_frame()
    await mark_page(page)

    name = "Marguerite Okonkwo-Lindqvist"
    visit = await desk.check_in("reg", name=name)
    row = page.get_by_role("row").filter(has_text=name)
    await expect(row).to_be_visible(timeout=SHORT)
    await expect(row).to_contain_text(visit["ticket"])
    await expect(row).to_contain_text("waiting")

    await row.get_by_role("button", name="Call", exact=True).click()
    await expect(row).to_contain_text("called", timeout=SHORT)
    await expect(row.get_by_role("button", name="Call", exact=True)).to_have_count(0)
    await expect(row.get_by_role("button", name="No-show")).to_be_visible()
    await assert_not_reloaded(page)
