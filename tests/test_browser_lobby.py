"""The lobby display and the front-desk board in a real Chromium: what a person sees and
hears change, with no reload, when the queue moves; and again after a server restart."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from helpers import Desk, axe_problems, wait_for
from playwright.async_api import Page, WebSocket, expect

from app.access.auth import add_user, create_pairing_code, create_token

SHORT = 5_000  # ms: a change on screen should take well under this
RECONNECT = 20_000  # ms: htmx-ext-ws retries with full-jitter backoff (1 s, 2 s, 4 s…)
SOUND = 15.0  # s: chime, pause, two sentences
# Chromium as a lobby TV runs it: sound needs no click (docs/lobby.md).
TV_ARGS = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
# Records what the page asks the speech engine to say and how often it plays the chime,
# without a sound card: the speech ends at once, as a short sentence would.
SPEECH_STUB = """
window.__spoken = [];
window.__played = 0;
window.speechSynthesis.speak = function (u) {
  window.__spoken.push({ text: u.text, lang: u.lang, rate: u.rate });
  setTimeout(function () { if (u.onend) u.onend(new Event("end")); }, 20);
};
HTMLMediaElement.prototype.play = function () {
  if (window.__blocked) return Promise.reject(new DOMException("blocked", "NotAllowedError"));
  window.__played += 1;
  return Promise.resolve();
};
"""
BLOCKED_AUTOPLAY = """
window.__blocked = true;
window.AudioContext = class extends window.AudioContext {
  get state() { return window.__blocked ? "suspended" : "running"; }
};
"""


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


@pytest.fixture
async def tv(page_factory) -> Page:
    """A page in a Chromium started as a lobby TV is (sound without a click), with the
    speech engine and the chime recorded."""
    return await page_factory(TV_ARGS, SPEECH_STUB)


@pytest.fixture
async def page_factory(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browsers = []

        async def make(args: list[str], init_script: str | None = None,
                       viewport: dict[str, int] | None = None) -> Page:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                       args=args)
            browsers.append(browser)
            context = await browser.new_context(
                viewport=viewport or {"width": 1920, "height": 1080})
            if init_script:
                await context.add_init_script(init_script)
            return await context.new_page()

        try:
            yield make
        finally:
            for browser in browsers:
                report = getattr(request.node, "rep_call", None)
                if report is not None and report.failed:
                    ARTIFACTS.mkdir(exist_ok=True)
                    for context in browser.contexts:
                        for p in context.pages:
                            await p.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
                await browser.close()


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


async def pair_display(page: Page, server, site, store, query: str = "",
                       queues: tuple[str, ...] = ()) -> Sockets:
    """Pair `page` as a lobby display (showing `queues`, or all), open its lobby and wait
    until it is live."""
    code = await create_pairing_code(store.redis, site.id, "display", queues=queues)
    await page.goto(f"{server.url}/pair")
    await page.get_by_label("Pairing code").fill(code)
    sockets = Sockets(page)
    await page.get_by_role("button", name="Pair").click()
    await expect(page).to_have_url(re.compile(rf"/sites/{site.id}/lobby$"))
    if query:
        await page.goto(f"{server.url}/sites/{site.id}/lobby?{query}")
    await sockets.first_frame()  # the whole lobby has arrived: the screen is live
    await mark_page(page)
    return sockets


def now_calling(page: Page):
    return page.get_by_role("region", name="Now calling")


def recent_calls(page: Page):
    return page.get_by_role("region", name="Recent calls")


def queue_column(page: Page, name: str):
    return page.get_by_role("region", name=name)


async def spoken(page: Page) -> list[dict[str, str]]:
    return await page.evaluate("window.__spoken")


async def test_lobby_shows_check_ins_and_calls_live_and_again_after_a_restart(
        page: Page, server, site, store, desk):
    sockets = await pair_display(page, server, site, store)
    registration = queue_column(page, "Registration")
    await expect(now_calling(page)).to_contain_text("Please have a seat")

    first = await desk.check_in("reg", name="Zebulon Quixote-Marchetti")
    await expect(registration.get_by_text(first["ticket"], exact=True)).to_be_visible(
        timeout=SHORT)

    await desk.call(first, "room-2")
    await expect(now_calling(page).get_by_text(first["ticket"], exact=True)).to_be_visible(
        timeout=SHORT)
    await expect(now_calling(page)).to_contain_text("Room 2")
    await expect(registration).not_to_contain_text(first["ticket"])

    # However many tries a restart takes, the next is at most 5 s away.
    waits = await page.evaluate("""[0, 3, 10, 50].flatMap(
        n => Array.from({length: 50}, () => htmx.config.wsReconnectDelay(n)))""")
    assert min(waits) >= 0 and max(waits) <= 5000
    await server.astop()
    status = page.get_by_role("status").filter(has_text="Reconnecting")
    await expect(status).to_be_visible(timeout=SHORT)
    await expect(now_calling(page).get_by_text(first["ticket"], exact=True)).to_be_visible()
    await asyncio.to_thread(server.start)
    second = await desk.check_in("reg", name="Philippa Worthington-Ngata")
    await expect(registration.get_by_text(second["ticket"], exact=True)).to_be_visible(
        timeout=RECONNECT)
    await expect(status).to_be_hidden(timeout=SHORT)
    await expect(now_calling(page).get_by_text(first["ticket"], exact=True)).to_be_visible()
    await assert_not_reloaded(page)
    assert sockets.opened >= 2, "the page reconnected its WebSocket"
    await expect(page.locator("body")).not_to_contain_text("Zebulon")
    await expect(page.locator("body")).not_to_contain_text("Philippa")


async def test_the_first_call_after_switching_on_is_chimed_and_spoken_in_both_languages(
        tv: Page, server, site, store, desk):
    earlier = await desk.check_in("reg")
    await desk.call(earlier, "room-1")  # on screen before the TV is on: not announced
    await pair_display(tv, server, site, store)
    await expect(now_calling(tv).get_by_text(earlier["ticket"], exact=True)).to_be_visible()

    visit = await desk.check_in("reg", name="Ana Lima", language="es")
    await desk.call(visit, "room-3")
    hero = now_calling(tv)
    await expect(hero.get_by_text(visit["ticket"], exact=True)).to_be_visible(timeout=SHORT)
    await expect(hero).to_contain_text("Room 3")
    await expect(recent_calls(tv).get_by_role("row").filter(has_text=earlier["ticket"])) \
        .to_contain_text("Room 1")

    spelled = ", ".join(visit["ticket"])
    english = f"Ticket {spelled}, please go to room 3."
    spanish = f"Número {spelled}, pase al consultorio 3."
    said = await wait_for(lambda: _said(tv, 4), SOUND, message="the call said twice in both")
    assert [(s["text"], s["lang"]) for s in said] == [
        (english, "en"), (spanish, "es"), (english, "en"), (spanish, "es")]
    assert all(abs(s["rate"] - 0.9) < 0.01 for s in said)
    log = await tv.evaluate("window.lobbyline.audioLog")
    assert log[0]["kind"] == "chime" and [e["kind"] for e in log[1:]] == ["speech"] * 4
    assert await tv.evaluate("window.__played") == 1
    assert "Ana" not in await tv.content()


async def _said(page: Page, count: int) -> list[dict[str, Any]] | None:
    said = [s for s in await spoken(page) if s["text"].strip()]
    return said if len(said) >= count else None


@pytest.mark.parametrize("again", [["return", "call"], ["recall"]],
                         ids=["returned-then-called", "recalled"])
async def test_a_ticket_called_again_is_announced_as_a_second_call(tv: Page, server, site,
                                                                   store, desk, again):
    await pair_display(tv, server, site, store)
    visit = await desk.check_in("reg")
    await desk.call(visit, "room-1")
    await wait_for(lambda: _said(tv, 2), SOUND)
    for action in again:
        if action == "call":
            await desk.call(visit, "room-1")
        else:
            await desk.move(visit, action)
    said = await wait_for(lambda: _said(tv, 3), SOUND * 2)
    assert said[2]["text"] == f"Second call. Ticket {', '.join(visit['ticket'])}, please go " \
        "to room 1."


async def test_a_browser_that_blocks_autoplay_asks_for_one_tap_then_sounds(
        page_factory, server, site, store, desk):
    # Headless Chromium never blocks autoplay, so this page blocks it as a TV's browser
    # does: audio starts suspended and the chime refuses to play until someone taps.
    page = await page_factory(CHROMIUM_ARGS, SPEECH_STUB + BLOCKED_AUTOPLAY)
    await pair_display(page, server, site, store)
    await expect(page.locator("body")).to_have_attribute("data-sound", "locked")
    enable = page.get_by_role("button", name="Enable sound")
    await expect(enable).to_be_visible()
    await page.evaluate("window.__blocked = false")  # what the tap will do
    await enable.click()
    await expect(enable).to_be_hidden()
    visit = await desk.check_in("reg")
    await desk.call(visit, "desk-1")
    said = await wait_for(lambda: _said(page, 1), SOUND, message="spoken after the tap")
    assert said[0]["text"].endswith("please go to desk 1.")
    assert await page.evaluate("window.lobbyline.audioLog[0].kind") == "chime"


async def test_mute_and_volume_are_kept_by_the_display(tv: Page, server, site, store, desk):
    await pair_display(tv, server, site, store)
    mute = tv.get_by_role("button", name="Mute announcements")
    await mute.click()
    await tv.get_by_label("Announcement volume").fill("0.4")
    await tv.reload()
    await expect(tv.get_by_role("button", name="Unmute announcements")).to_have_attribute(
        "aria-pressed", "true")
    await expect(tv.get_by_label("Announcement volume")).to_have_value("0.4")
    visit = await desk.check_in("reg")
    await desk.call(visit, "room-1")
    await expect(now_calling(tv).get_by_text(visit["ticket"], exact=True)).to_be_visible(
        timeout=SHORT)
    await asyncio.sleep(2)
    assert await spoken(tv) == [], "a muted display stays silent"


async def test_a_display_paired_for_one_queue_shows_and_says_only_that_queue(
        tv: Page, server, site, store, desk):
    await pair_display(tv, server, site, store, queues=("lab",))
    await expect(queue_column(tv, "Lab")).to_be_visible()
    await expect(queue_column(tv, "Registration")).to_have_count(0)

    reg = await desk.check_in("reg")
    lab = await desk.check_in("lab")
    lab_waiting = await desk.check_in("lab")
    await expect(queue_column(tv, "Lab").get_by_text(lab_waiting["ticket"], exact=True)) \
        .to_be_visible(timeout=SHORT)
    await desk.call(lab, "room-2")
    await expect(now_calling(tv).get_by_text(lab["ticket"], exact=True)).to_be_visible(
        timeout=SHORT)
    await desk.call(reg, "room-1")  # newer, but not this display's queue
    await wait_for(lambda: _said(tv, 2), SOUND)
    await asyncio.sleep(1)
    await expect(now_calling(tv).get_by_text(lab["ticket"], exact=True)).to_be_visible()
    await expect(tv.locator("body")).not_to_contain_text(reg["ticket"], use_inner_text=True)
    assert all(reg["ticket"] not in s["text"].replace(", ", "") for s in await spoken(tv))


async def test_the_address_can_limit_a_display_to_some_queues(page: Page, server, site,
                                                              store, desk):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await pair_display(page, server, site, store, query="queues=nurse,lab")
    await expect(queue_column(page, "Nurse")).to_be_visible()
    await expect(queue_column(page, "Lab")).to_be_visible()
    await expect(queue_column(page, "Registration")).to_have_count(0)
    reg = await desk.check_in("reg")
    nurse = await desk.check_in("nurse")
    await desk.call(nurse, "room-1")
    await desk.call(reg, "desk-1")
    await expect(now_calling(page).get_by_text(nurse["ticket"], exact=True)).to_be_visible(
        timeout=SHORT)
    await expect(page.locator("body")).not_to_contain_text(reg["ticket"], use_inner_text=True)
    assert errors == []  # the pushed Registration column is left aside quietly


async def test_a_message_leaves_at_its_expiry_and_a_long_outage_sends_people_to_the_desk(
        page_factory, server, site, store, desk):
    page = await page_factory(TV_ARGS, SPEECH_STUB)
    await page.clock.install()
    await pair_display(page, server, site, store)
    r = await desk.client.post("/message", json={"text": "Back at 1 pm", "minutes": 1})
    assert r.status_code == 200
    await expect(page.get_by_text("Back at 1 pm")).to_be_visible(timeout=SHORT)
    await page.clock.fast_forward("01:05")
    await expect(page.get_by_text("Back at 1 pm")).to_be_hidden(timeout=SHORT)

    await server.astop()
    await expect(page.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible(
        timeout=SHORT)
    await page.clock.fast_forward("02:05")
    await expect(page.get_by_role("status").filter(
        has_text="Updates paused — please ask at the front desk")).to_be_visible(timeout=SHORT)


async def test_an_unknown_queue_filter_gets_a_sentence_not_a_screen(page: Page, server, site,
                                                                   store):
    await pair_display(page, server, site, store)
    response = await page.goto(f"{server.url}/sites/{site.id}/lobby?queues=lab,nowhere")
    assert response is not None and response.status == 404
    await expect(page.get_by_text("There is no queue 'nowhere' at this site")).to_be_visible()


async def test_the_desks_broadcast_message_shows_in_its_band_and_goes_when_cleared(
        page: Page, server, site, store, desk):
    await pair_display(page, server, site, store)
    r = await desk.client.post("/message", json={"text": "The lab reopens at 2 pm",
                                                 "minutes": 30})
    assert r.status_code == 200, r.text
    band = page.get_by_role("status").filter(has_text="The lab reopens at 2 pm")
    await expect(band).to_be_visible(timeout=SHORT)
    r = await desk.client.delete("/message")
    assert r.status_code == 200
    await expect(page.get_by_text("The lab reopens at 2 pm")).to_have_count(0, timeout=SHORT)


async def test_the_lobby_has_no_serious_accessibility_violation_and_a_1080p_screenshot(
        tv: Page, server, site, store, desk):
    for queue, n in (("reg", 9), ("nurse", 3), ("lab", 2)):
        for _ in range(n):
            await desk.check_in(queue)
    r = await desk.client.post("/message", json={
        "text": "Flu shots today at Desk 2 — ask at the front desk", "minutes": 60})
    assert r.status_code == 200
    snapshot = (await desk.client.get("/snapshot")).json()
    waiting = {q["id"]: q["waiting"] for q in snapshot["queues"]}
    await desk.call(waiting["lab"][0], "room-1")
    await desk.call(waiting["reg"][0], "desk-1")
    await desk.call(waiting["nurse"][0], "room-2")
    await pair_display(tv, server, site, store)
    await desk.call(waiting["reg"][1], "room-3")
    await expect(now_calling(tv).get_by_text(waiting["reg"][1]["ticket"], exact=True)) \
        .to_be_visible(timeout=SHORT)

    # Seven waiting are more than the column holds at once: it shows them a page at a time.
    await expect(queue_column(tv, "Registration").get_by_role("heading")).to_contain_text(
        re.compile(r"7 waiting · page 1/[2-4]"))

    # Each ticket's estimate stays inside its own cell: none runs into its neighbour's.
    spill = await tv.evaluate("""() => [...document.querySelectorAll('.tickets li')]
        .filter(li => li.offsetParent !== null)
        .filter(li => [...li.children].some(c => c.getBoundingClientRect().right
                                                 > li.getBoundingClientRect().right + 1))
        .map(li => li.textContent.trim())""")
    assert spill == []
    # ... and its range ("0-22 min", "60+ min") is never broken over two lines.
    assert await broken_ranges(tv) == []
    assert await axe_problems(tv) == []
    ARTIFACTS.mkdir(exist_ok=True)
    await tv.screenshot(path=str(ARTIFACTS / "lobby-1080p.png"))
    await tv.set_viewport_size({"width": 3840, "height": 2160})
    await tv.wait_for_timeout(300)
    assert await broken_ranges(tv) == []
    await tv.screenshot(path=str(ARTIFACTS / "lobby-4k.png"))
    # A 5:4 screen has the narrowest columns for its height: still whole, and the recent
    # calls' rooms not cut short (the three rows are set smaller together).
    await tv.set_viewport_size({"width": 1280, "height": 1024})
    await tv.wait_for_timeout(300)
    assert await broken_ranges(tv) == []
    cut_rooms = await tv.evaluate("""() => [...document.querySelectorAll(
        '.recent-calls tr:not([hidden]) .where')]
        .filter(td => td.scrollWidth > td.clientWidth + 1).map(td => td.textContent)""")
    assert cut_rooms == []
    await tv.screenshot(path=str(ARTIFACTS / "lobby-5x4.png"))


async def broken_ranges(tv: Page) -> list[str]:
    """The shown waiting tickets whose wait range's characters do not all sit on one
    line (measured per character, whatever the markup)."""
    return await tv.evaluate(r"""() => {
      const bad = [];
      for (const eta of document.querySelectorAll('.tickets .eta')) {
        if (eta.offsetParent === null) continue;
        const walker = document.createTreeWalker(eta, NodeFilter.SHOW_TEXT);
        const chars = [];
        for (let n = walker.nextNode(); n; n = walker.nextNode())
          for (let i = 0; i < n.data.length; i++) chars.push([n, i]);
        const text = chars.map(([n, i]) => n.data[i]).join('');
        const m = /\d+(\s*[\u2013-]\s*\d+|\+)\s*\S+$/.exec(text);
        if (!m) { bad.push('no range: ' + text); continue; }
        const tops = new Set();
        for (let k = m.index; k < text.length; k++) {
          const [n, i] = chars[k];
          if (/\s/.test(n.data[i])) continue;
          const r = document.createRange();
          r.setStart(n, i); r.setEnd(n, i + 1);
          const box = r.getBoundingClientRect();
          if (box.height) tops.add(Math.round(box.top / 4));
        }
        if (tops.size > 1) bad.push(text);
      }
      return bad;
    }""")


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


LONG_MESSAGE = ("The afternoon clinic is running about 20 minutes late today. "
                "Thank you for your patience!")
SCREENS = [(1280, 720), (1366, 768), (1280, 1024), (1920, 1080), (1920, 1200), (2560, 1440),
           (3840, 2160)]


def _boxes_meet(a: dict[str, float], b: dict[str, float]) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


async def test_a_long_message_never_covers_the_call_at_any_screen_size(
        page_factory, server, site, store, desk):
    tv = await page_factory(TV_ARGS, SPEECH_STUB)
    visit = await desk.check_in("reg")
    # Queues long enough to be shown a page at a time: "7 waiting · page 1/4".
    for queue, n in (("reg", 7), ("nurse", 3), ("lab", 2)):
        for _ in range(n):
            await desk.check_in(queue)
    r = await desk.client.post("/message", json={"text": LONG_MESSAGE, "minutes": 30})
    assert r.status_code == 200, r.text
    await pair_display(tv, server, site, store)
    await desk.call(visit, "room-3")
    hero = now_calling(tv).locator(".hero-call").filter(has_text=visit["ticket"])
    await expect(hero).to_contain_text("Room 3", timeout=SHORT)
    message = tv.get_by_role("status").filter(has_text="Thank you")
    await expect(queue_column(tv, "Registration").get_by_role("heading")).to_contain_text(
        re.compile(r"7 waiting.*1/\d"))
    for width, height in SCREENS:
        await tv.set_viewport_size({"width": width, "height": height})
        await tv.wait_for_timeout(200)  # the message's size is fitted after a resize
        call_box = await hero.bounding_box()
        text_box = await message.locator("p").bounding_box()
        assert call_box and text_box
        assert not _boxes_meet(call_box, text_box), (width, height, call_box, text_box)
        # The whole message is on screen: not cut off, not under anything.
        cut = await message.locator("p").evaluate(
            "p => p.scrollHeight > p.clientHeight + 1 || p.scrollWidth > p.clientWidth + 1")
        assert not cut, (width, height)
        assert text_box["y"] + text_box["height"] <= height
        # Nor is the called ticket (a 5:4 screen's panel is narrower for its height).
        ticket = hero.locator(".ticket")
        assert await ticket.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), (width, height)
        assert await ticket.evaluate("""e => e.getBoundingClientRect().right
            <= e.closest('.hero').getBoundingClientRect().right + 1"""), (width, height)
        # Nor is its label, in both languages ("Now calling · Llamando").
        label = now_calling(tv).locator(".label")
        assert await label.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), (width, height)
        # The call's room is not cut off by its own panel either.
        room = hero.locator(".where")
        assert await room.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), (width, height)
        assert (await room.bounding_box())["y"] + (await room.bounding_box())["height"] \
            <= (await now_calling(tv).bounding_box())["y"] \
            + (await now_calling(tv).bounding_box())["height"] + 1, (width, height)
        # Each queue's heading ("7 waiting · page 1/4") stays inside its own column, not
        # cut, and leaves the column room for its tickets.
        assert await spilt_headings(tv) == [], (width, height)
        assert await queues_showing_no_ticket(tv) == [], (width, height)



async def test_a_5_4_screen_with_a_message_shows_several_waiting_tickets_a_page(
        page_factory, server, site, store, desk):
    tv = await page_factory(TV_ARGS, SPEECH_STUB, {"width": 1280, "height": 1024})
    names = [f"Waiting Patient-{n:02d}" for n in range(12)]
    for name in names:
        await desk.check_in("reg", name=name)
    for queue, n in (("nurse", 4), ("lab", 2)):
        for _ in range(n):
            await desk.check_in(queue)
    r = await desk.client.post("/message", json={
        "text": "Flu shots today at Desk 2 — ask at the front desk", "minutes": 60})
    assert r.status_code == 200, r.text
    await pair_display(tv, server, site, store)
    await expect(tv.get_by_role("status").filter(has_text="Flu shots")).to_be_visible()
    registration = queue_column(tv, "Registration")
    # Three a page, at the size a 16:9 TV of the same diagonal shows them (docs/lobby.md);
    # it showed one, and paged through the twelve one at a time.
    await expect(registration.get_by_role("heading")).to_contain_text(
        re.compile(r"12 waiting · (page )?1/4$"))
    whole = await whole_tickets(tv)
    assert len(whole["reg"]) >= 3 and len(whole["nurse"]) >= 3, whole
    assert len(whole["lab"]) == 2, whole
    size = await registration.locator(".tickets .ticket").first.evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 50, size  # 7.2 rem of 1280/172.8 px: legible, not shrunk to fit
    assert await broken_ranges(tv) == []
    assert await spilt_headings(tv) == []
    await expect(tv.locator("body")).not_to_contain_text("Patient-")

    # A 16:9 screen keeps its layout: 1 rem is 10 px at 1080p, tickets two a row.
    await tv.set_viewport_size({"width": 1920, "height": 1080})
    await tv.wait_for_timeout(300)
    assert await registration.locator(".tickets .ticket").first.evaluate(
        "e => getComputedStyle(e).fontSize") == "72px"
    await expect(registration.get_by_role("heading")).to_contain_text(
        re.compile(r"12 waiting · (page )?1/6$"))


async def whole_tickets(tv: Page) -> dict[str, list[str]]:
    """Per queue, the tickets shown whole inside their list (not hidden, not cut)."""
    return await tv.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.queue')]
        .map(q => {
          const list = q.querySelector('.tickets');
          const box = list ? list.getBoundingClientRect() : null;
          return [q.dataset.queue, list ? [...list.querySelectorAll('li')].filter(li => {
            if (li.offsetParent === null) return false;
            const r = li.getBoundingClientRect();
            return r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
          }).map(li => li.querySelector('.ticket').textContent) : []];
        }))""")

async def spilt_headings(tv: Page) -> list[str]:
    """The queue headings any of whose text reaches past its column's content box or is
    cut short (measured on the text itself, so hidden overflow counts too)."""
    return await tv.evaluate("""() => [...document.querySelectorAll('.queue h2')]
        .filter(h => {
          const q = h.closest('.queue'), box = q.getBoundingClientRect(), css = getComputedStyle(q);
          const left = box.left + parseFloat(css.paddingLeft);
          const right = box.right - parseFloat(css.paddingRight);
          const range = document.createRange();
          range.selectNodeContents(h);
          const text = [...range.getClientRects()].filter(r => r.width);
          return text.some(r => r.left < left - 1 || r.right > right + 1)
            || [h, ...h.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1);
        })
        .map(h => h.textContent.replace(/\\s+/g, ' ').trim())""")


async def queues_showing_no_ticket(tv: Page) -> list[str]:
    """The queues with tickets waiting whose column shows none of them whole."""
    return await tv.evaluate("""() => [...document.querySelectorAll('.queue')]
        .filter(q => q.querySelector('.tickets li'))
        .filter(q => {
          const list = q.querySelector('.tickets').getBoundingClientRect();
          return ![...q.querySelectorAll('.tickets li')].some(li => {
            if (li.offsetParent === null) return false;
            const r = li.getBoundingClientRect();
            return r.top >= list.top - 1 && r.bottom <= list.bottom + 1;
          });
        })
        .map(q => q.dataset.queue)""")


async def test_recent_calls_are_big_enough_to_read_from_across_the_room(
        tv: Page, server, site, store, desk):
    visits = [await desk.check_in("reg") for _ in range(5)]
    await pair_display(tv, server, site, store)
    for visit, room in zip(visits, ("desk-1", "room-1", "room-2", "room-3", "room-4"),
                           strict=False):
        if room == "room-4":
            break
        await desk.call(visit, room)
    # The last call first: until it is on screen, each push replaces the list's rows.
    await expect(now_calling(tv)).to_contain_text(visits[3]["ticket"], timeout=SHORT)
    row = recent_calls(tv).get_by_role("row").filter(has_text=visits[0]["ticket"])
    await expect(row).to_be_visible(timeout=SHORT)
    for cell in ("ticket", "where"):
        size = await row.locator(f"td.{cell}").evaluate(
            "td => parseFloat(getComputedStyle(td).fontSize)")
        assert size >= 104, (cell, size)
    # Every call besides the newest is in the list, and none is cut off by the panel.
    panel = await recent_calls(tv).bounding_box()
    for visit in visits[:3]:
        shown = recent_calls(tv).get_by_role("row").filter(has_text=visit["ticket"])
        await expect(shown).to_be_visible()
        box = await shown.bounding_box()
        assert box["y"] + box["height"] <= panel["y"] + panel["height"] + 1


async def test_a_patient_roomed_from_waiting_is_shown_and_told_where_to_go(
        tv: Page, server, site, store, desk):
    await pair_display(tv, server, site, store)
    visit = await desk.check_in("reg", language="es")
    await desk.move(visit, "room", room="room-3")
    hero = now_calling(tv)
    await expect(hero.get_by_text(visit["ticket"], exact=True)).to_be_visible(timeout=SHORT)
    await expect(hero).to_contain_text("Room 3")
    said = await wait_for(lambda: _said(tv, 2), SOUND, message="the rooming is said")
    assert "room 3" in said[0]["text"] and "consultorio 3" in said[1]["text"]
    assert not any("Second call" in s["text"] for s in said)


async def test_a_patient_called_to_a_desk_then_roomed_is_sent_to_the_room(
        tv: Page, server, site, store, desk):
    await pair_display(tv, server, site, store)
    visit = await desk.check_in("reg")
    await desk.call(visit, "desk-1")
    hero = now_calling(tv)
    await expect(hero).to_contain_text("Desk 1", timeout=SHORT)
    await desk.move(visit, "room", room="room-3")
    await expect(hero).to_contain_text("Room 3", timeout=SHORT)
    await expect(hero.get_by_text(visit["ticket"], exact=True)).to_be_visible()
    await expect(hero.get_by_text("Please have a seat")).to_be_hidden()

    async def room_said() -> list[dict[str, Any]]:
        return [s for s in await spoken(tv) if "room 3" in s["text"]]

    said = await wait_for(room_said, SOUND, message="the room is said")
    assert not any("Second call" in s["text"] for s in said)


async def test_finished_calls_stay_on_recent_calls_with_their_room(
        page: Page, server, site, store, desk):
    await pair_display(page, server, site, store)
    first, second = await desk.check_in("reg"), await desk.check_in("reg")
    await desk.call(first, "room-1")
    await desk.call(second, "room-2")
    row = recent_calls(page).get_by_role("row").filter(has_text=first["ticket"])
    await expect(row).to_contain_text("Room 1", timeout=SHORT)
    await desk.move(first, "done")
    await desk.move(second, "no-show")
    await expect(now_calling(page).get_by_text("Please have a seat")).to_be_visible(
        timeout=SHORT)
    await expect(row).to_be_visible()
    await expect(row).to_contain_text("Room 1")
    # The time of the call as the site writes times (an English site: 12-hour, AM/PM).
    await expect(row.locator("td.time")).to_have_text(re.compile(r"^\d{1,2}:\d{2} (AM|PM)$"))
    await expect(recent_calls(page).get_by_role("row").filter(has_text=second["ticket"])) \
        .to_contain_text("Room 2")
