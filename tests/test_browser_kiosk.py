"""The check-in kiosk in a real Chromium at its real size (portrait 1080x1920), driven the
way a patient drives it: taps on on-screen keys and buttons found by their words, a
scanner's fast keys, a keyboard alone. Each screen is checked with axe-core and
photographed into docs/screenshots/."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ARTIFACTS
from helpers import TEST_SITE, axe_problems
from playwright.async_api import Page, expect
from websockets.asyncio.client import connect

from app import clock
from app.access.auth import create_pairing_code, create_token
from app.appointments.model import Appointment
from app.appointments.store import AppointmentStore
from app.sites import Site, site_from_dict
from app.storage import keys
from app.visits.status_links import read_token

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ARTIFACTS  # copied by hand into docs/screenshots/ when a screen changes
PORTRAIT = {"width": 1080, "height": 1920}
WAIT = 10_000  # ms: generous, for a shared two-core machine
RECOVER = 20_000  # ms: the kiosk pings every 3 s and the socket backs off


@pytest.fixture
def server(live_server):
    return live_server()


@pytest.fixture
async def context(browser) -> AsyncIterator[Any]:
    ctx = await browser.new_context(viewport=PORTRAIT, device_scale_factor=1)
    # Record what read-aloud says: the browser's own speech, observed, not replaced.
    await ctx.add_init_script("""
        window.__spoken = [];
        if (window.speechSynthesis) {
          const speak = window.speechSynthesis.speak.bind(window.speechSynthesis);
          window.speechSynthesis.speak = (u) => {
            window.__spoken.push(u.text + '|' + u.lang);
            speak(u);
          };
        }""")
    yield ctx
    await ctx.close()


async def book(store, settings, site, *, minutes: int = 5, code: str = "",
               last: str = "Núñez-García", first: str = "José", born: str = "1970-04-03",
               provider: str | None = "Dr. Okafor", queue: str = "nurse") -> Appointment:
    start = clock.now().astimezone(site.tz) + timedelta(minutes=minutes)
    appointment = Appointment(
        id="a" + uuid.uuid4().hex[:10], site=site.id, start=start, queue=queue,
        first_name=first, last_name=last, birth_date=born, code=code, provider=provider)
    await AppointmentStore(store.redis, settings).save(site, [(0, appointment)], "test")
    return appointment


async def paired_kiosk(context, server, site, store) -> Page:
    """A page paired as the site's kiosk, on the welcome screen with its socket live."""
    page = await context.new_page()
    code = await create_pairing_code(store.redis, site.id, "kiosk")
    await page.goto(f"{server.url}/pair")
    await page.get_by_label("Pairing code").fill(code)
    await page.get_by_role("button", name="Pair").click()
    await expect(page).to_have_url(re.compile(rf"/sites/{site.id}/kiosk$"))
    await heading(page, "Welcome. Please check in here.")
    # (not wait_for_function: it polls through eval, which the page's CSP refuses)
    for _ in range(100):
        if await page.evaluate("() => window.htmx !== undefined"):
            break
        await page.wait_for_timeout(50)
    return page


async def check_axe(page: Page) -> None:
    """No serious or critical axe-core violation on the screen as it is now."""
    bad = await axe_problems(page)
    assert not bad, bad


async def checked(page: Page, name: str) -> None:
    """The screen as it is now passes axe-core, and is photographed as `name`."""
    await check_axe(page)
    await shot(page, name)


async def shot(page: Page, name: str, **kw: Any) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.wait_for_timeout(150)  # let the swap settle before the photograph
    await page.screenshot(path=str(SHOTS / f"kiosk-{name}.png"), **kw)


async def tap(page: Page, name: str, taps: list[str] | None = None) -> None:
    """Tap the button called `name` (and count it)."""
    await page.get_by_role("button", name=name, exact=True).click()
    if taps is not None:
        taps.append(name)


async def type_keys(page: Page, text: str) -> None:
    """Type on the kiosk's on-screen keys, one tap per character."""
    for ch in text:
        await page.locator(f'.kkeys:visible [data-key="{ch}"]').first.click()


async def heading(page: Page, name: str) -> None:
    """Wait for the screen whose heading is `name`."""
    await expect(page.get_by_role("heading", name=name)).to_be_visible(timeout=WAIT)


async def screen_says(page: Page, text: str) -> None:
    await expect(page.locator("#kiosk-screen")).to_contain_text(text, timeout=WAIT)


async def visits(store, site) -> list[dict[str, str]]:
    return [await store.redis.hgetall(k)
            for k in await store.redis.keys(keys.visit(site.id, "*"))]


async def test_code_flow_typed_on_the_keys_each_screen_accessible_and_photographed(
        context, server, site, store, settings):
    appointment = await book(store, settings, site, code="K7P3QX")
    page = await paired_kiosk(context, server, site, store)
    await checked(page, "01-welcome")

    await tap(page, "I have an appointment")
    await heading(page, "Enter your confirmation code")
    await type_keys(page, "K7P3QX")
    await expect(page.get_by_label("Confirmation code")).to_have_value("K7P3QX")
    await checked(page, "02-code")

    taps: list[str] = []
    await tap(page, "Continue")
    await heading(page, "Is this you?")
    await screen_says(page, "J. N.")
    await screen_says(page, "Dr. Okafor")
    await checked(page, "03-confirm")
    await tap(page, "Yes, that's me", taps)
    await heading(page, "Has anything changed")
    await checked(page, "04-changes")
    await tap(page, "Nothing has changed", taps)
    await heading(page, "Please read and agree")
    await checked(page, "05-consent")
    await tap(page, "I agree", taps)
    await heading(page, "You're checked in")
    # The goal: three taps or fewer once the code is in.
    assert taps == ["Yes, that's me", "Nothing has changed", "I agree"]
    assert len(taps) <= 3
    number = (await page.locator(".kticket-number").inner_text()).strip()
    assert re.fullmatch(r"N\d{3}", number)
    await screen_says(page, "Nurse")
    await screen_says(page, "watch the screen")
    box = await page.locator(".kqr-code").bounding_box()
    assert box["width"] >= 320 and box["height"] >= 320
    await checked(page, "06-ticket")
    await page.emulate_media(media="print")
    await shot(page, "07-ticket-print", clip={"x": 0, "y": 0, "width": 1080, "height": 640})
    await expect(page.get_by_role("button", name="Print my ticket")).to_be_hidden()
    await page.emulate_media(media="screen")

    (visit,) = await visits(store, site)
    assert visit["appointment_id"] == appointment.id and visit["consented_at"]
    assert "José" not in await page.title()
    # The QR code's link is the patient's own status page, signed for today.
    url = await page.locator(".kqr").get_attribute("data-status-url")
    assert url.startswith(f"{server.url}/t/")
    today = clock.local_date(clock.now(), site.tz)
    assert read_token(settings.secret_key, url.rsplit("/", 1)[1], today) == (site.id, visit["id"])


async def test_a_scanned_code_checks_in_in_three_taps_and_reaches_board_and_lobby(
        context, server, site, store, settings):
    appointment = await book(store, settings, site, code="Q4RT8M")
    token = await create_token(store.redis, site.id, "desk")
    frames: dict[str, list[str]] = {"board": [], "lobby": []}

    async def listen(audience: str) -> None:
        async with connect(f"{server.ws_url}/ws/sites/{site.id}/{audience}",
                           additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            async for frame in ws:
                frames[audience].append(str(frame))

    listeners = [asyncio.create_task(listen(a)) for a in frames]
    try:
        page = await paired_kiosk(context, server, site, store)
        # A scanner is a keyboard that types fast and presses Enter, on the welcome screen.
        await expect(page.get_by_label(re.compile("scan the code"))).to_be_focused()
        await page.keyboard.type(appointment.code.lower(), delay=8)
        await page.keyboard.press("Enter")
        await heading(page, "Is this you?")
        taps: list[str] = []
        await tap(page, "Yes, that's me", taps)
        await tap(page, "Nothing has changed", taps)
        await tap(page, "I agree", taps)
        await heading(page, "You're checked in")
        assert len(taps) == 3  # after the scan: three taps to a ticket
        number = (await page.locator(".kticket-number").inner_text()).strip()
        for audience in frames:
            for _ in range(100):
                if any(number in f for f in frames[audience]):
                    break
                await asyncio.sleep(0.1)
            assert any(number in f for f in frames[audience]), f"{number} not on {audience}"
        assert not any("Núñez" in f for f in frames["lobby"])
    finally:
        for listener in listeners:
            listener.cancel()


async def test_a_scan_is_taken_even_when_the_focus_is_on_a_button(context, server, site,
                                                                   store, settings):
    appointment = await book(store, settings, site, code="F0CU5X")
    page = await paired_kiosk(context, server, site, store)
    await page.get_by_role("button", name="I'm a walk-in").focus()
    await page.keyboard.type(appointment.code, delay=5)
    await page.keyboard.press("Enter")
    await heading(page, "Is this you?")


async def test_name_and_birth_date_with_several_appointments(context, server, site, store,
                                                              settings):
    await book(store, settings, site, minutes=-5, provider="Dr. Okafor")
    await book(store, settings, site, minutes=20, provider="Dr. Abebe", queue="lab")
    page = await paired_kiosk(context, server, site, store)
    await tap(page, "I have an appointment")
    await tap(page, "I don't have my code")
    await heading(page, "Find your appointment")
    await type_keys(page, "NUNEZ GARCIA")  # no accent, a space for the hyphen
    await page.get_by_text("April", exact=True).click()
    await page.get_by_label("Day").click()
    await type_keys(page, "3")
    await page.get_by_label("Year (4 digits)").click()
    await type_keys(page, "1970")
    await checked(page, "08-name")
    await tap(page, "Find my appointment")
    await heading(page, "Which appointment is yours?")
    choices = page.get_by_role("button", name=re.compile(r"^J\. N\. · "))
    await expect(choices).to_have_count(2)
    await expect(page.locator("#kiosk-screen")).not_to_contain_text("Núñez")
    await checked(page, "09-choose")
    await choices.filter(has_text="Dr. Abebe").click()
    await heading(page, "Is this you?")
    await screen_says(page, "Dr. Abebe")


async def test_no_match_three_times_then_the_desk_with_a_flagged_ticket(context, server, site,
                                                                        store):
    page = await paired_kiosk(context, server, site, store)
    await tap(page, "I have an appointment")
    message = "We couldn't find a check-in with those details. Try again or see the front desk."
    for attempt in range(3):
        await page.get_by_label("Confirmation code").fill("ZZZZZZ")
        await tap(page, "Continue")
        if attempt < 2:
            await expect(page.get_by_role("alert").filter(has_text=message)).to_be_visible(
                timeout=WAIT)
            if attempt == 0:
                await checked(page, "10-not-found")
    await heading(page, "Please see the front desk")
    await expect(page.locator(".kticket-number")).to_have_text(re.compile(r"A\d{3}"))
    await checked(page, "11-desk")
    (visit,) = await visits(store, site)
    assert json.loads(visit["flags"]) == ["see_desk"] and visit["desk_reason"] == "not_found"


async def test_early_and_late_patients_are_sent_to_the_desk(context, server, site, store,
                                                            settings):
    await book(store, settings, site, minutes=120, code="E4RLY2")
    await book(store, settings, site, minutes=-60, last="Okonkwo", born="1955-12-24")
    page = await paired_kiosk(context, server, site, store)
    await tap(page, "I have an appointment")
    await page.get_by_label("Confirmation code").fill("E4RLY2")
    await tap(page, "Continue")
    await heading(page, "Please see the front desk")
    await tap(page, "Done")
    await tap(page, "I have an appointment")
    await tap(page, "I don't have my code")
    await page.get_by_label("Last name").fill("okonkwo")
    await page.get_by_text("December", exact=True).click()
    await page.get_by_label("Day").fill("24")
    await page.get_by_label("Year (4 digits)").fill("1955")
    await tap(page, "Find my appointment")
    await heading(page, "Please see the front desk")
    reasons = sorted(v["desk_reason"] for v in await visits(store, site))
    assert reasons == ["early", "late"]


async def test_walk_in_and_a_queue_that_closes_disappears_live(context, server, site, store):
    token = await create_token(store.redis, site.id, "desk")
    page = await paired_kiosk(context, server, site, store)
    waits = page.locator("#kiosk-queues")
    await expect(waits).to_contain_text("Lab")
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1/sites/{site.id}",
                                 headers={"Authorization": f"Bearer {token}"}) as api:
        assert (await api.post("/queues/lab", json={"open": False})).status_code == 200
        await expect(waits).not_to_contain_text("Lab", timeout=WAIT)
        await tap(page, "I'm a walk-in")
        await heading(page, "What are you here for?")
        await expect(page.get_by_role("button", name=re.compile("^Lab"))).to_have_count(0)
        await checked(page, "12-services")
        # Closing a queue while the patient looks at it takes it off this screen too.
        assert (await api.post("/queues/nurse", json={"open": False})).status_code == 200
        await expect(page.get_by_role("button", name=re.compile("^Nurse"))).to_have_count(
            0, timeout=WAIT)
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await page.get_by_role("button", name=re.compile("^Registration")).click()
    await heading(page, "Your name (optional)")
    await type_keys(page, "ANA")
    await page.get_by_label("Last name initial").click()
    await type_keys(page, "L")
    await checked(page, "13-walk-in-name")
    await tap(page, "Get my ticket")
    await heading(page, "You're checked in")
    (visit,) = await visits(store, site)
    assert visit["name"] == "Ana L." and visit["queue"] == "reg"


async def test_a_live_wait_update_keeps_the_keyboard_focus_and_is_not_read_again(
        context, server, site, store):
    """Another patient checks in while this one, reading aloud and using keys alone, is
    on the choice of service: the waits change under them, and the focus stays on the
    button they were on, without the screen being read out again. The pushed fragment
    this step does not show (the welcome screen's waits) is left aside without an error
    in the console."""
    page = await paired_kiosk(context, server, site, store)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.get_by_role("button", name="Read aloud").click()
    await tap(page, "I'm a walk-in")
    await heading(page, "What are you here for?")
    await expect(page.locator("#kiosk-title")).to_be_focused()  # the new screen settled
    nurse = page.get_by_role("button", name=re.compile("^Nurse"))
    await nurse.focus()
    spoken = len(await page.evaluate("window.__spoken"))
    await page.evaluate("document.getElementById('kiosk-services').dataset.before = 'yes'")
    for _ in range(3):
        await store.check_in(site, "nurse", actor="test")
    await expect(page.locator("#kiosk-services[data-before]")).to_have_count(0, timeout=WAIT)
    await expect(nurse).to_be_focused()
    await page.wait_for_timeout(300)  # a re-read would have started by now
    assert len(await page.evaluate("window.__spoken")) == spoken
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name=re.compile("^Lab"))).to_be_focused()
    assert errors == []


async def test_spanish_from_welcome_to_ticket(context, server, site, store):
    page = await paired_kiosk(context, server, site, store)
    await tap(page, "Español")
    await heading(page, "Bienvenido. Regístrese aquí.")
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    # A change pushed over the socket stays in Spanish.
    await store.check_in(site, "reg", actor="test")
    queues = page.locator("#kiosk-queues")
    await expect(queues.get_by_role("heading", name="Espera actual")).to_be_visible()
    await expect(queues.get_by_text(re.compile(r"^Unos \d+\u2013\d+ min$")).first).to_be_visible()
    await expect(queues.get_by_role("heading", name="Waiting now")).to_be_hidden()
    await checked(page, "14-welcome-es")
    await tap(page, "No tengo cita")
    await page.get_by_role("button", name=re.compile("^Registration")).click()
    await tap(page, "Omitir y obtener mi número")
    await heading(page, "Ya está registrado")
    await screen_says(page, "Llamaremos su número")
    await checked(page, "15-ticket-es")
    number = (await page.locator(".kticket-number").inner_text()).strip()
    (visit,) = [v for v in await visits(store, site) if v["ticket"] == number]
    assert visit["language"] == "es"


async def test_idle_warning_more_time_then_reset_and_the_ticket_closes_itself(
        browser, live_server, site, store):
    server = live_server({"KIOSK_IDLE_SECONDS": "2", "KIOSK_WARNING_SECONDS": "3",
                          "KIOSK_TICKET_SECONDS": "3"})
    ctx = await browser.new_context(viewport=PORTRAIT)
    try:
        page = await paired_kiosk(ctx, server, site, store)
        await tap(page, "I have an appointment")
        await type_keys(page, "K7P")
        dialog = page.get_by_role("alertdialog", name="Need more time?")
        await expect(dialog).to_be_visible(timeout=WAIT)
        await checked(page, "16-need-more-time")
        await dialog.get_by_role("button", name="Yes, I need more time").click()
        await expect(dialog).to_be_hidden()
        await expect(page.get_by_label("Confirmation code")).to_have_value("K7P")
        await expect(dialog).to_be_visible(timeout=WAIT)
        await heading(page, "Welcome. Please check in here.")
        assert "K7P" not in await page.content()
        await tap(page, "I'm a walk-in")
        await page.get_by_role("button", name=re.compile("^Lab")).click()
        await tap(page, "Skip and get my ticket")
        await heading(page, "You're checked in")
        await heading(page, "Welcome. Please check in here.")
        await expect(page.locator(".kticket-number")).to_have_count(0)
    finally:
        await ctx.close()


async def test_a_double_tap_makes_one_visit(context, server, site, store):
    page = await paired_kiosk(context, server, site, store)
    await tap(page, "I'm a walk-in")
    await page.get_by_role("button", name=re.compile("^Registration")).click()
    await heading(page, "Your name (optional)")
    # Two requests in flight at once from the page (what a bouncing finger makes), then a
    # real double tap on the button.
    await page.evaluate("""() => Promise.all([1, 2].map(() => htmx.ajax('POST',
        location.pathname + '/step/walk-in',
        {target: '#kiosk-screen', values: {answer: 'skip'}})))""")
    await heading(page, "You're checked in")
    assert len(await visits(store, site)) == 1


async def test_double_tap_on_i_agree(context, server, site, store, settings):
    await book(store, settings, site, code="D0UBL3")
    page = await paired_kiosk(context, server, site, store)
    await tap(page, "I have an appointment")
    await page.get_by_label("Confirmation code").fill("D0UBL3")
    await tap(page, "Continue")
    await tap(page, "Yes, that's me")
    await tap(page, "Nothing has changed")
    await page.get_by_role("button", name="I agree").dblclick()
    await heading(page, "You're checked in")
    assert len(await visits(store, site)) == 1


async def test_server_down_says_see_the_desk_and_recovers_by_itself(context, live_server,
                                                                     site, store):
    server = live_server()
    page = await paired_kiosk(context, server, site, store)
    await server.astop()
    # The socket's close makes the page check the server; no patient has to tap first.
    offline = page.get_by_role("alert").filter(has_text="Please see the front desk")
    await expect(offline).to_be_visible(timeout=WAIT)
    await shot(page, "17-offline")
    await asyncio.to_thread(server.start)
    await expect(offline).to_be_hidden(timeout=RECOVER)
    await heading(page, "Welcome. Please check in here.")
    await tap(page, "I'm a walk-in")
    await page.get_by_role("button", name=re.compile("^Registration")).click()
    await tap(page, "Skip and get my ticket")
    await heading(page, "You're checked in")


async def test_a_form_htmx_has_not_taken_over_never_puts_what_was_typed_in_the_url(
        context, server, site, store):
    page = await paired_kiosk(context, server, site, store)
    url = page.url
    await page.evaluate("""() => {
        const form = document.createElement('form');
        form.innerHTML = '<input name="last_name" value="Lima"><button>Go</button>';
        document.getElementById('kiosk-screen').append(form);
        form.requestSubmit();
    }""")
    await page.wait_for_timeout(300)
    assert page.url == url and "Lima" not in page.url
    await heading(page, "Welcome. Please check in here.")


async def test_keyboard_alone_read_aloud_and_text_at_200_percent(context, server, site, store):
    page = await paired_kiosk(context, server, site, store)
    read = page.get_by_role("button", name="Read aloud")
    await read.focus()
    await page.keyboard.press("Enter")
    await expect(read).to_have_attribute("aria-pressed", "true")
    spoken = await page.evaluate("window.__spoken")
    assert spoken and spoken[0].startswith("Welcome. Please check in here.|en")
    walk_in = page.get_by_role("button", name="I'm a walk-in")
    for _ in range(30):
        if await walk_in.evaluate("el => el === document.activeElement"):
            break
        await page.keyboard.press("Shift+Tab")
    await expect(walk_in).to_be_focused()
    outline = await walk_in.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none", "focus is visible"
    await page.keyboard.press("Enter")
    await heading(page, "What are you here for?")
    await expect(page.locator("#kiosk-title")).to_be_focused()  # the new screen settled
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.textContent")
    assert "Registration" in focused or "Nurse" in focused or "Lab" in focused
    await page.keyboard.press("Enter")
    await heading(page, "Your name (optional)")
    await page.keyboard.type("Ana")
    await page.get_by_role("button", name="Get my ticket", exact=True).focus()
    await page.keyboard.press("Enter")
    await heading(page, "You're checked in")
    number = (await page.locator(".kticket-number").inner_text()).strip()
    spelled = " ".join(number)
    await page.wait_for_function(
        f"window.__spoken.some(s => s.startsWith({json.dumps(spelled)}))", timeout=WAIT)
    # Text at 200 %: nothing runs off the side of the screen.
    await page.evaluate("document.documentElement.style.fontSize = '200%'")
    overflow = await page.evaluate("""() => [...document.querySelectorAll('#kiosk-screen *')]
        .filter(el => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .map(el => el.className || el.tagName)""")
    assert overflow == []
    await shot(page, "18-ticket-text-200")


# The largest band of empty screen a step may leave across the kiosk's first screen (its
# top edge to its bottom edge), as a share of the screen's height: 1920 px -> 230 px, a
# third less than a welcome button and its gap. Measured by `largest_empty_band`.
EMPTY_BAND_MAX = 0.12
# The kiosk's screens: the portrait 1080x1920 it is designed at (24-32"), and the smaller
# portrait 768x1366 a 21" kiosk has (the same layout, less room).
KIOSK_SIZES = [PORTRAIT, {"width": 768, "height": 1366}]


async def largest_empty_band(page: Page) -> dict[str, Any]:
    """The tallest horizontal band of the first screen holding nothing a patient sees: no
    text, no control, no image, no coloured or bordered shape. {"px", "top", "below"}."""
    return await page.evaluate(r"""() => {
      const H = window.innerHeight;
      const spans = [];
      for (const el of document.querySelectorAll('#kiosk-screen .kstep *')) {
        if (el.closest('[hidden], .kpanel')) continue;
        const st = getComputedStyle(el);
        if (st.visibility === 'hidden' || st.display === 'none' || st.opacity === '0') continue;
        const r = el.getBoundingClientRect();
        if (!r.width || !r.height || r.top >= H || r.bottom <= 0) continue;
        const text = [...el.childNodes].some(n => n.nodeType === 3 && n.data.trim());
        const shape = /^(BUTTON|INPUT|IMG|CANVAS|svg)$/.test(el.tagName)
          || !/rgba\(0, 0, 0, 0\)|transparent/.test(st.backgroundColor)
            && st.backgroundColor !== getComputedStyle(document.body).backgroundColor
          || parseFloat(st.borderTopWidth) > 0 && !/rgba\(0, 0, 0, 0\)/.test(st.borderTopColor);
        if (text || shape) spans.push([Math.max(0, r.top), Math.min(H, r.bottom), el]);
      }
      spans.sort((a, b) => a[0] - b[0]);
      let best = {px: 0, top: 0, below: ''}, reach = 0;
      for (const [top, bottom, el] of spans) {
        if (top - reach > best.px) best = {px: top - reach, top: reach,
                                           below: el.getAttribute('class') || el.tagName};
        reach = Math.max(reach, bottom);
      }
      if (H - reach > best.px) best = {px: H - reach, top: reach, below: 'bottom edge'};
      return best;
    }""")


@pytest.mark.parametrize("size", KIOSK_SIZES, ids=["1080x1920", "768x1366"])
async def test_no_step_leaves_a_band_of_empty_screen(browser, server, site, store, settings,
                                                     size):
    await book(store, settings, site, code="B4NDS7", provider="Dr. Okafor")
    await book(store, settings, site, minutes=-5, last="Okonkwo", born="1955-12-24")
    await book(store, settings, site, minutes=20, last="Okonkwo", born="1955-12-24",
               provider="Dr. Abebe", queue="lab")
    # Two services open (the lab closed): the fewer the choices, the more room to fill.
    token = await create_token(store.redis, site.id, "desk")
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1/sites/{site.id}",
                                 headers={"Authorization": f"Bearer {token}"}) as api:
        assert (await api.post("/queues/lab", json={"open": False})).status_code == 200
    ctx = await browser.new_context(viewport=size, device_scale_factor=1)
    page = await paired_kiosk(ctx, server, site, store)
    bands: dict[str, dict[str, Any]] = {}

    async def measure(step: str) -> None:
        await page.wait_for_timeout(150)
        bands[step] = await largest_empty_band(page)
        name = f"band-{size['width']}-{step}.png"
        await page.screenshot(path=str(SHOTS / name))

    try:
        await measure("welcome")
        await tap(page, "I'm a walk-in")
        await heading(page, "What are you here for?")
        await expect(page.get_by_role("button", name=re.compile("^Lab"))).to_have_count(0)
        await measure("services")
        await page.get_by_role("button", name=re.compile("^Registration")).click()
        await heading(page, "Your name (optional)")
        await measure("walk-in-name")
        await tap(page, "Skip and get my ticket")
        await heading(page, "You're checked in")
        await measure("walk-in-ticket")
        await tap(page, "Done")
        await tap(page, "I have an appointment")
        await heading(page, "Enter your confirmation code")
        await measure("code")
        await type_keys(page, "B4NDS7")
        await tap(page, "Continue")
        await heading(page, "Is this you?")
        await measure("confirm")
        await tap(page, "Yes, that's me")
        await heading(page, "Has anything changed")
        await measure("changes")
        await tap(page, "Nothing has changed")
        await heading(page, "Please read and agree")
        await measure("consent")
        await tap(page, "I agree")
        await heading(page, "You're checked in")
        await measure("ticket")
        await tap(page, "Done")
        await tap(page, "I have an appointment")
        await tap(page, "I don't have my code")
        await heading(page, "Find your appointment")
        await measure("name")
        await page.get_by_label("Last name").fill("okonkwo")
        await page.get_by_text("December", exact=True).click()
        await page.get_by_label("Day").fill("24")
        await page.get_by_label("Year (4 digits)").fill("1955")
        await tap(page, "Find my appointment")
        await heading(page, "Which appointment is yours?")
        await measure("choose")
        await tap(page, "None of these")
        await heading(page, "Please see the front desk")
        await measure("desk")
        # Help stays on the first screen of every step, the longest included.
        await tap(page, "Start over")
        await tap(page, "I have an appointment")
        await tap(page, "I don't have my code")
        await heading(page, "Find your appointment")
        box = await page.get_by_role("button", name="Help", exact=True).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= size["height"], box
    finally:
        await ctx.close()
    limit = EMPTY_BAND_MAX * size["height"]
    too_big = {step: band for step, band in bands.items() if band["px"] > limit}
    assert not too_big, (limit, too_big)


@pytest.mark.parametrize("size", KIOSK_SIZES, ids=["1080x1920", "768x1366"])
async def test_a_single_open_service_fills_its_step_too(browser, server, site, store, size):
    # The fewest choices there can be: one service open, nurse and lab closed.
    token = await create_token(store.redis, site.id, "desk")
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1/sites/{site.id}",
                                 headers={"Authorization": f"Bearer {token}"}) as api:
        for queue in ("nurse", "lab"):
            assert (await api.post(f"/queues/{queue}", json={"open": False})).status_code == 200
    ctx = await browser.new_context(viewport=size, device_scale_factor=1)
    try:
        page = await paired_kiosk(ctx, server, site, store)
        await tap(page, "I'm a walk-in")
        await heading(page, "What are you here for?")
        services = page.get_by_role("button", name=re.compile("^(Registration|Nurse|Lab)"))
        await expect(services).to_have_count(1)
        await page.wait_for_timeout(150)
        band = await largest_empty_band(page)
        await page.screenshot(path=str(SHOTS / f"band-{size['width']}-one-service.png"))
        await check_axe(page)
    finally:
        await ctx.close()
    assert band["px"] <= EMPTY_BAND_MAX * size["height"], band


async def hidden_controls(page: Page) -> list[str]:
    """The controls on the screen (buttons, fields) not wholly on its first screen, or with
    a part under something else (the sticky bottom bar): tested at the centre and the
    corners, just inside each control's edge."""
    return await page.evaluate("""() => {
      const H = window.innerHeight, W = window.innerWidth, bad = [];
      for (const el of document.querySelectorAll('#kiosk-screen button, #kiosk-screen input')) {
        const st = getComputedStyle(el);
        if (el.closest('[hidden], .kpanel') || st.display === 'none') continue;
        if (st.opacity === '0' && el.closest('.kmonth, .kcheck')) continue;  // drawn by a span
        const r = el.getBoundingClientRect();
        if (!r.width || !r.height) continue;
        const name = el.textContent.trim() || el.id || el.name;
        if (r.top < 0 || r.bottom > H || r.left < 0 || r.right > W) {
          bad.push(name + ' off screen');
          continue;
        }
        const d = Math.max(4, parseFloat(st.borderTopLeftRadius) || 0);  // inside a round corner
        const points = [[r.left + r.width / 2, r.top + r.height / 2],
                        [r.left + d, r.top + d], [r.right - d, r.top + d],
                        [r.left + d, r.bottom - d], [r.right - d, r.bottom - d]];
        if (points.some(([x, y]) => { const top = document.elementFromPoint(x, y);
                                     return !top || !(top === el || el.contains(top)); }))
          bad.push(name + ' covered');
      }
      return bad;
    }""")


@pytest.mark.parametrize("size", KIOSK_SIZES, ids=["1080x1920", "768x1366"])
async def test_every_control_of_the_welcome_screen_is_on_it_and_uncovered(browser, server, site,
                                                                         store, size):
    ctx = await browser.new_context(viewport=size, device_scale_factor=1)
    try:
        page = await paired_kiosk(ctx, server, site, store)
        await page.wait_for_timeout(150)
        await page.screenshot(path=str(SHOTS / f"welcome-{size['width']}.png"))
        assert await page.get_by_label("Or scan the code on your appointment letter or phone") \
            .count() == 1
        assert await hidden_controls(page) == []
    finally:
        await ctx.close()


# Services a bigger clinic adds to the test site's three: the welcome screen is laid out for
# a "Waiting now" list of up to six (docs/kiosk.md).
MORE_SERVICES = [
    {"id": "xray", "name": "X-ray", "prefix": "X", "minutes_per_patient": 8},
    {"id": "vacc", "name": "Vaccinations", "prefix": "V", "minutes_per_patient": 5},
    {"id": "pharm", "name": "Pharmacy", "prefix": "P", "minutes_per_patient": 3},
]


async def with_services(store, site: Site, count: int) -> Site:
    """The test site saved again with `count` open services (3 to 6)."""
    bigger = site_from_dict({"id": site.id, **TEST_SITE,
                             "queues": [*TEST_SITE["queues"], *MORE_SERVICES][:count]})
    await store.save_site(bigger)
    return bigger


@pytest.mark.parametrize("count", [4, 5, 6])
@pytest.mark.parametrize("size", KIOSK_SIZES, ids=["1080x1920", "768x1366"])
async def test_with_up_to_six_services_the_scan_field_is_above_the_bottom_bar(
        browser, server, site, store, size, count):
    """However many services the welcome screen lists (up to six), the scan field, its
    last control, is wholly on the first screen and clear of the sticky bottom bar, in
    English and in Spanish (whose prompt is longer)."""
    site = await with_services(store, site, count)
    ctx = await browser.new_context(viewport=size, device_scale_factor=1)
    try:
        page = await paired_kiosk(ctx, server, site, store)
        for lang in ("en", "es"):
            if lang == "es":
                await tap(page, "Español")
                await heading(page, "Bienvenido. Regístrese aquí.")
            await expect(page.locator("#kiosk-queues").get_by_role("listitem")).to_have_count(count)
            await page.wait_for_timeout(150)
            await page.screenshot(
                path=str(SHOTS / f"welcome-{size['width']}-{count}-services-{lang}.png"))
            scan = await page.get_by_role("textbox").bounding_box()
            bar = await page.get_by_role("navigation").bounding_box()
            assert scan["y"] >= 0 and scan["x"] >= 0 and scan["x"] + scan["width"] <= size["width"]
            assert scan["y"] + scan["height"] <= bar["y"], (lang, scan, bar)
            assert await hidden_controls(page) == [], lang
    finally:
        await ctx.close()


async def test_help_is_on_the_first_screen_of_the_longest_step_and_calls_the_desk(
        context, server, site, store):
    # (Empty bands on every step: test_no_step_leaves_a_band_of_empty_screen.)
    page = await paired_kiosk(context, server, site, store)
    height = page.viewport_size["height"]
    await tap(page, "I have an appointment")
    await heading(page, "Enter your confirmation code")

    # The longest step (last name and birth date): Help is on the first screen.
    await tap(page, "I don't have my code")
    await heading(page, "Find your appointment")
    assert await page.evaluate("document.documentElement.scrollHeight") > height
    help_button = page.get_by_role("button", name="Help", exact=True)
    box = await help_button.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, box
    await help_button.click()
    await expect(page.get_by_text("Someone from the front desk is coming to help you.")) \
        .to_be_visible()
