"""The front-desk board in a real Chromium, used the way a PSR uses it: two boards stay in
step, races end in a sentence instead of a double call, every action is one click, the
day's money shows in the report, and axe-core finds nothing serious."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import test_browser_kiosk as kiosk_tests
import test_browser_lobby as lobby_tests
from conftest import ARTIFACTS
from helpers import axe_problems
from playwright.async_api import Browser, Page, expect

from app import clock
from app.access.auth import add_user
from app.appointments.model import Appointment
from app.appointments.store import AppointmentStore
from app.storage import keys

SHORT = 5_000  # ms: a generous wait for a change to show on screen
LONG_NAME = "María-José Østergård-Nguyễn de la Cruz Fernández-Ëvangelista Whitmore"
PASSWORD = "correct horse 1"

desk = lobby_tests.desk  # a desk client of the server's API


@pytest.fixture
def server(live_server, request):
    """A real server. A move that takes a patient off the board is held 1 s for Undo
    (10 s in production), unless a test's `server_env` marker says otherwise."""
    marker = request.node.get_closest_marker("server_env")
    return live_server({"BOARD_UNDO_SECONDS": "1", **(marker.args[0] if marker else {})})


async def open_board(browser: Browser, server, site, store, user: str,
                     size: tuple[int, int] = (1600, 1000)) -> Page:
    """A signed-in board in its own browser context, once its socket has sent the board."""
    await add_user(store.redis, site.id, "desk", user, PASSWORD)
    context = await browser.new_context(viewport={"width": size[0], "height": size[1]},
                                        timezone_id="Asia/Tokyo")
    page = await context.new_page()
    live = asyncio.Event()
    page.on("websocket", lambda ws: ws.on("framereceived", lambda _: live.set()))
    await page.goto(f"{server.url}/login?next=/sites/{site.id}/board")
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(rf"/sites/{site.id}/board$"))
    await asyncio.wait_for(live.wait(), SHORT / 1000)
    return page


def feedback(page: Page):
    return page.locator("#board-feedback")


def queue_section(page: Page, name: str):
    return page.get_by_role("region", name=name, exact=True)


async def check_in_walk_in(page: Page, name: str, queue: str = "Registration",
                           flags: tuple[str, ...] = ()) -> None:
    form = page.get_by_role("region", name="Check in a walk-in")
    await form.get_by_label("Name").fill(name)
    await form.get_by_label("Queue").select_option(label=queue)
    for flag in flags:
        await form.get_by_label(flag).check()
    await form.get_by_role("button", name="Check in").click()


async def open_more(row):
    """The row's "More" panel, opened unless it is open already."""
    details = row.locator("details.more")
    if await details.get_attribute("open") is None:
        await details.locator("summary").click()
    return row.locator(".more-panel")


async def test_a_walk_in_checked_in_on_one_board_shows_on_the_other(browser, server, site,
                                                                    store):
    one = await open_board(browser, server, site, store, "pat")
    two = await open_board(browser, server, site, store, "sam", size=(1366, 768))
    await check_in_walk_in(one, LONG_NAME, flags=("Verify ins.", "Interpreter"))
    await expect(feedback(one)).to_contain_text("Checked in A001")
    row = two.get_by_role("row").filter(has_text=LONG_NAME)
    await expect(row).to_be_visible(timeout=SHORT)
    await expect(row).to_contain_text("A001")
    await expect(row.get_by_role("button", name="Verify ins.")).to_be_visible()
    # The long name wraps: the row's buttons stay on screen.
    box = await row.get_by_role("button", name="Call", exact=True).bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1366
    await expect(two.get_by_text("Signed in as")).to_contain_text("sam")
    await two.get_by_role("button", name="Sign out").click()
    await expect(two).to_have_url(re.compile(r"/login"))


async def test_two_psrs_calling_next_together_get_different_patients(browser, server, site,
                                                                    store, desk):
    one = await open_board(browser, server, site, store, "pat")
    two = await open_board(browser, server, site, store, "sam")
    await two.get_by_label("Calls go to").select_option(label="Room 3")  # sam's own desk
    await desk.check_in("reg", name="Olu Adeyemi")
    await desk.check_in("reg", name="Priya Raman")
    await expect(queue_section(two, "Registration")).to_contain_text("Priya Raman",
                                                                     timeout=SHORT)
    await asyncio.gather(
        queue_section(one, "Registration").get_by_role("button", name="Call next").click(),
        queue_section(two, "Registration").get_by_role("button", name="Call next").click())
    said = [await feedback(p).inner_text() for p in (one, two)]
    for _ in range(50):
        if all(s.startswith("Called") for s in said):
            break
        await asyncio.sleep(0.1)
        said = [await feedback(p).inner_text() for p in (one, two)]
    assert all(s.startswith("Called") for s in said), said
    assert {re.search(r"Called (A\d+)", s).group(1) for s in said} == {"A001", "A002"}
    assert "to Desk 1" in said[0] and "to Room 3" in said[1]
    # Nobody left: the next press says so.
    await queue_section(one, "Registration").get_by_role("button", name="Call next").click()
    await expect(feedback(one)).to_have_text("Nobody is waiting in Registration.")


async def test_a_call_someone_else_made_first_is_a_sentence_and_the_board_catches_up(
        browser, server, site, store, desk):
    one = await open_board(browser, server, site, store, "pat")
    two = await open_board(browser, server, site, store, "sam")
    visit = await desk.check_in("reg", name="Keanu Kahananui")
    row_two = two.get_by_role("row").filter(has_text="Keanu Kahananui")
    await expect(row_two).to_be_visible(timeout=SHORT)
    # Board two's next frames are held back (as on a slow network) when its PSR clicks.
    await two.evaluate("""window.__held = []; window.__frozen = true;
        document.addEventListener('htmx:wsBeforeMessage', function (e) {
          if (!window.__frozen) return;
          window.__held.push(e.detail.message);
          e.stopImmediatePropagation(); e.preventDefault(); }, true);""")
    row_one = one.get_by_role("row").filter(has_text="Keanu Kahananui")
    await row_one.get_by_role("button", name="Call", exact=True).click()
    await expect(feedback(one)).to_contain_text(f"Called {visit['ticket']}")
    await row_two.get_by_role("button", name="Call", exact=True).click()
    await expect(feedback(two)).to_contain_text(
        f"{visit['ticket']} is already called: someone else got there first")
    await expect(feedback(two)).not_to_contain_text("{")
    await two.evaluate("""window.__frozen = false; window.__held.forEach(function (m) {
        document.body.dispatchEvent(new CustomEvent('htmx:wsBeforeMessage',
          {bubbles: true, cancelable: true, detail: {message: m}})); });""")
    await expect(two.get_by_role("region", name="Called · in room · check-out")).to_contain_text(
        "Keanu Kahananui", timeout=SHORT)


async def test_every_move_is_one_click_and_calls_go_to_the_chosen_desk(browser, server,
                                                                      site, store, desk):
    page = await open_board(browser, server, site, store, "pat")
    await page.get_by_label("Calls go to").select_option(label="Room 3")
    a = await desk.check_in("reg", name="Avery Stone")
    b = await desk.check_in("reg", name="Blake Moss")
    c = await desk.check_in("reg", name="Casey Fern")
    active = page.get_by_role("region", name="Called · in room · check-out")

    def row(name: str):
        return page.get_by_role("row").filter(has_text=name)

    async def more(name: str):
        return await open_more(row(name))

    await row("Avery Stone").get_by_role("button", name="Call", exact=True).click()
    await expect(active.get_by_role("row").filter(has_text="Avery Stone")).to_contain_text(
        "Room 3", timeout=SHORT)
    panel = await more("Avery Stone")
    await panel.get_by_label("Room").select_option(label="Room 1")
    await panel.get_by_role("button", name="Room", exact=True).click()
    await expect(row("Avery Stone")).to_contain_text("in room · Room 1", timeout=SHORT)
    await row("Avery Stone").get_by_role("button", name="Check-out").click()
    await expect(row("Avery Stone")).to_contain_text("checkout", timeout=SHORT)
    await row("Avery Stone").get_by_role("button", name="Done").click()
    await expect(row("Avery Stone")).to_have_count(0, timeout=SHORT)
    room_1 = page.get_by_role("region", name="Rooms").get_by_role("listitem").filter(
        has_text="Room 1")
    await expect(room_1).to_contain_text("needs cleaning")
    await room_1.get_by_role("button", name="Cleaned").click()
    await expect(room_1).to_contain_text("available", timeout=SHORT)

    await page.get_by_label("Calls go to").select_option(label="Desk 1")
    await row("Blake Moss").get_by_role("button", name="Call", exact=True).click()
    await expect(row("Blake Moss")).to_contain_text("called · Desk 1", timeout=SHORT)
    await row("Blake Moss").get_by_role("button", name="No-show").click()
    await expect(row("Blake Moss")).to_have_count(0, timeout=SHORT)

    panel = await more("Casey Fern")
    await panel.get_by_label("To").select_option(label="Lab")
    await panel.get_by_role("button", name="Transfer").click()
    await expect(queue_section(page, "Lab")).to_contain_text("Casey Fern", timeout=SHORT)
    panel = await more("Casey Fern")
    await panel.get_by_role("button", name="Left").click()
    await expect(row("Casey Fern")).to_have_count(0, timeout=SHORT)

    d = await desk.check_in("nurse", name="Dana Reyes")
    await row("Dana Reyes").get_by_role("button", name="Call", exact=True).click()
    await expect(row("Dana Reyes")).to_contain_text("called", timeout=SHORT)
    panel = await more("Dana Reyes")
    await panel.get_by_role("button", name="Return").click()
    await expect(queue_section(page, "Nurse")).to_contain_text("Dana Reyes", timeout=SHORT)
    await expect(feedback(page)).to_have_text(f"{d['ticket']} is back in Nurse, waiting 1st.")
    del a, b, c

    nurse = queue_section(page, "Nurse")
    await nurse.get_by_role("button", name="Close Nurse").click()
    await expect(nurse).to_contain_text("closed to check-ins", timeout=SHORT)
    await nurse.get_by_role("button", name="Open Nurse").click()
    await expect(nurse).not_to_contain_text("closed to check-ins", timeout=SHORT)


async def test_flags_priority_note_and_copay_from_the_board_reach_the_report(
        browser, server, site, store, desk):
    page = await open_board(browser, server, site, store, "pat")
    await desk.check_in("reg", name="First Waiting")
    visit = await desk.check_in("reg", name="Noa Peretz", flags=["insurance_verify", "copay_due"])
    row = page.get_by_role("row").filter(has_text="Noa Peretz")
    await expect(row).to_be_visible(timeout=SHORT)

    await row.get_by_role("button", name="Verify ins.").click()
    await expect(row.get_by_role("button", name="Verify ins.")).to_have_count(0, timeout=SHORT)
    await expect(feedback(page)).to_have_text("Insurance verified for A002.")

    await row.get_by_role("button", name="Copay due").click()  # opens the copay form
    panel = row.locator(".more-panel")
    # Too much: the sentence speaks of the amount the person typed, not of a field.
    await panel.get_by_label("Copay $").fill("2000")
    await panel.get_by_role("button", name="Record").click()
    await expect(feedback(page)).to_have_text(
        "A002: The amount must be between $0.01 and $1,000.", timeout=SHORT)
    await panel.get_by_label("Copay $").fill("25")
    await panel.get_by_label("by").select_option("card")
    await panel.get_by_role("button", name="Record").click()
    await expect(row).to_contain_text("Paid $25.00", timeout=SHORT)
    await expect(feedback(page)).to_have_text("Recorded $25.00 copay by card for A002.")
    await expect(row.get_by_role("button", name="Copay due")).to_have_count(0)

    panel = await open_more(row)
    await panel.get_by_label("Priority").select_option(label="urgent")
    await panel.get_by_role("button", name="Set").click()
    await expect(feedback(page)).to_have_text(
        "A002's priority is now urgent, waiting 1st in Registration.", timeout=SHORT)
    rows = queue_section(page, "Registration").get_by_role("row")
    await expect(rows.nth(1)).to_contain_text("Noa Peretz", timeout=SHORT)  # now first
    panel = await open_more(row)
    await panel.get_by_label("Note").fill("Needs a wheelchair at door 2")
    await panel.get_by_role("button", name="Save note").click()
    await expect(row).to_contain_text("Needs a wheelchair at door 2", timeout=SHORT)
    await expect(feedback(page)).to_have_text("Saved the note for A002.")
    panel = await open_more(row)
    await panel.get_by_label("To").select_option(label="Lab")
    await panel.get_by_role("button", name="Transfer").click()
    await expect(feedback(page)).to_have_text("A002 moved to Lab, waiting 1st.", timeout=SHORT)

    await page.get_by_role("link", name="Day report").click()
    await expect(page.get_by_role("table", name="By method")).to_contain_text("$25.00")
    await expect(page.get_by_role("table", name="By staff member")).to_contain_text("pat")
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Download CSV").click()
    text = Path(await (await info.value).path()).read_text()
    assert f"{visit['ticket']},card,25.00,pat" in text
    assert "Noa" not in text
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "report-day.png"), full_page=True)
    problems = await axe_problems(page)
    assert not problems, problems

    await page.get_by_role("link", name="Audit trail").click()
    await page.get_by_label("Ticket").fill(visit["ticket"])
    await page.get_by_role("button", name="Search").click()
    trail = page.get_by_role("table")
    await expect(trail).to_contain_text("copay recorded")
    await expect(trail).to_contain_text("flag dealt with")
    await expect(trail).to_contain_text("insurance verified")
    problems = await axe_problems(page)
    assert not problems, problems


async def test_expected_patients_check_in_with_one_click_and_late_ones_are_marked(
        browser, server, site, store, settings, desk):
    now = clock.now()
    appointments = AppointmentStore(store.redis, settings)
    people = [("ap-late", "Late", "Larsen", -40), ("ap-soon", "Soon", "Sato", 20)]
    await appointments.save(site, [
        (i, Appointment(id=aid, site=site.id, start=now + timedelta(minutes=m), queue="nurse",
                        first_name=first, last_name=last, birth_date="1980-01-01",
                        code=f"CODE{i}X", provider="Dr. Okafor"))
        for i, (aid, first, last, m) in enumerate(people)], actor="test")
    page = await open_board(browser, server, site, store, "pat")
    expected = page.get_by_role("region", name="Expected today")
    late = expected.get_by_role("listitem").filter(has_text="Late Larsen")
    await expect(late.get_by_text("Late", exact=True)).to_be_visible()
    soon = expected.get_by_role("listitem").filter(has_text="Soon Sato")
    await expect(soon.get_by_text("Late", exact=True)).to_be_hidden()
    await soon.get_by_role("button", name="Check in Soon Sato").click()
    await expect(soon).to_have_count(0, timeout=SHORT)
    row = queue_section(page, "Nurse").get_by_role("row").filter(has_text="Soon Sato")
    await expect(row).to_contain_text("Dr. Okafor")
    # An appointment imported elsewhere shows up live.
    await appointments.save(site, [(0, Appointment(
        id="ap-new", site=site.id, start=now + timedelta(minutes=45), queue="lab",
        first_name="Newly", last_name="Booked", birth_date="1990-02-02", code="NEWB01"))],
        actor="test")
    await expect(expected).to_contain_text("Newly Booked", timeout=SHORT)


async def test_a_patient_called_minutes_ago_and_not_in_a_room_asks_for_a_recall(
        browser, server, site, store, desk):
    page = await open_board(browser, server, site, store, "pat")
    slow = await desk.check_in("reg", name="Slow Walker")
    quick = await desk.check_in("reg", name="Quick Step")
    await desk.call(slow, "room-3")
    await desk.call(quick, "room-1")
    # Slow Walker was called four minutes ago: the board learns it with the next change
    # (a new revision, as a script gives the record it writes, or the board keeps its copy).
    four_minutes_ago = clock.now() - timedelta(minutes=4)
    await store.redis.hset(keys.visit(site.id, slow["id"]), mapping={
        "called_ms": int(four_minutes_ago.timestamp() * 1000), "rev": "set by the test"})
    await desk.check_in("reg", name="Someone Else")
    active = page.get_by_role("region", name="Called · in room · check-out")
    slow_row = active.get_by_role("row").filter(has_text="Slow Walker")
    quick_row = active.get_by_role("row").filter(has_text="Quick Step")
    recall = slow_row.get_by_role("button", name="Recall?")
    await expect(recall).to_be_visible(timeout=SHORT)
    await expect(slow_row).to_have_class(re.compile(r"\brecall-due\b"))
    await expect(quick_row.get_by_role("button", name="Recall?")).to_be_hidden()

    await recall.click()
    await expect(feedback(page)).to_contain_text(f"Called {slow['ticket']} again to Room 3.")
    await expect(slow_row.get_by_role("button", name="Recall?")).to_be_hidden(timeout=SHORT)
    await expect(slow_row).not_to_have_class(re.compile(r"\brecall-due\b"))
    await expect(slow_row).to_contain_text("called · Room 3")
    events = await desk.events()
    assert [e["visit"]["ticket"] for e in events if e["type"] == "visit.recalled"] == [
        slow["ticket"]]


@pytest.mark.server_env({"BOARD_UNDO_SECONDS": "4"})
async def test_done_waits_a_few_seconds_for_undo_and_undo_sends_nothing(browser, server, site,
                                                                        store, desk):
    page = await open_board(browser, server, site, store, "pat")
    v = await desk.check_in("reg", name="Uma Unger")
    await desk.call(v, "room-1")
    row = page.locator("tr.visit", has_text="Uma Unger")
    await expect(row).to_contain_text("called", timeout=SHORT)
    await row.get_by_role("button", name="Done").click()
    await expect(feedback(page)).to_contain_text(f"Done — {v['ticket']} in 4 s.")
    await expect(row).to_have_class(re.compile(r"\bheld\b"))
    await page.screenshot(path=str(ARTIFACTS / "board-undo.png"), clip={
        "x": 0, "y": 0, "width": 1600, "height": 400})
    await feedback(page).get_by_role("button", name="Undo").click()
    await expect(feedback(page)).to_have_text(f"Undone: nothing was sent for {v['ticket']}.")
    await expect(row).not_to_have_class(re.compile(r"\bheld\b"))
    await page.wait_for_timeout(4500)
    assert (await desk.client.get(f"/visits/{v['id']}")).json()["status"] == "called"

    # Without Undo, the move is made when the time is up.
    await row.get_by_role("button", name="No-show").click()
    await expect(row).to_have_class(re.compile(r"\bheld\b"))
    assert (await desk.client.get(f"/visits/{v['id']}")).json()["status"] == "called"
    await expect(row).to_have_count(0, timeout=4000 + SHORT)
    assert (await desk.client.get(f"/visits/{v['id']}")).json()["status"] == "no_show"
    await expect(feedback(page)).to_have_text(f"{v['ticket']} is marked as a no-show.")


async def test_a_kiosks_call_for_help_shows_on_the_board_until_a_psr_answers(
        browser, server, site, store):
    page = await open_board(browser, server, site, store, "pat")
    context = await browser.new_context(viewport=kiosk_tests.PORTRAIT, device_scale_factor=1)
    kiosk = await kiosk_tests.paired_kiosk(context, server, site, store)
    await kiosk.get_by_role("button", name="Help", exact=True).click()
    await expect(kiosk.get_by_role("status")).to_have_text(
        "Someone from the front desk is coming to help you.", timeout=SHORT)
    await kiosk.screenshot(path=str(ARTIFACTS / "kiosk-help.png"))

    banner = page.locator("#board-alerts").get_by_role("alert").filter(has_text="help")
    await expect(banner).to_contain_text("Kiosk: a patient asks for help", timeout=SHORT)
    await banner.get_by_role("button", name="On my way").click()
    await expect(feedback(page)).to_contain_text("The kiosk's call for help is answered.")
    await expect(banner).to_have_count(0, timeout=SHORT)
    await context.close()


async def test_search_filters_shortcuts_and_the_lobby_message(browser, server, site, store,
                                                             desk):
    page = await open_board(browser, server, site, store, "pat")
    await desk.check_in("reg", name="Ingrid Holm")
    await desk.check_in("lab", name="Tomás Ruiz")
    await expect(page.get_by_role("row").filter(has_text="Tomás Ruiz")).to_be_visible(
        timeout=SHORT)
    await page.locator("body").press("/")
    await expect(page.get_by_label("Search")).to_be_focused()
    await page.keyboard.type("tomás")
    await expect(page.get_by_role("row").filter(has_text="Ingrid Holm")).to_be_hidden()
    await expect(page.get_by_role("row").filter(has_text="Tomás Ruiz")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("row").filter(has_text="Ingrid Holm")).to_be_visible()
    await page.get_by_role("search").get_by_label("Queue").select_option(label="Lab")
    await expect(queue_section(page, "Registration")).to_be_hidden()
    await page.get_by_role("search").get_by_label("Queue").select_option(label="All")

    await page.locator("body").click(position={"x": 5, "y": 300})
    await page.keyboard.press("?")
    help_ = page.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(help_).to_be_visible()
    await help_.get_by_role("button", name="Close").click()
    await page.keyboard.press("j")
    await page.keyboard.press("Enter")
    await expect(feedback(page)).to_contain_text("Called", timeout=SHORT)

    message = page.get_by_role("region", name="Lobby message")
    await message.get_by_label("Text").fill("The afternoon clinic is running about 20 minutes late")
    await message.get_by_role("button", name="Post").click()
    await expect(message).to_contain_text("On the lobby screens", timeout=SHORT)
    await message.get_by_role("button", name="Clear message").click()
    await expect(message).to_contain_text("No message on the lobby screens", timeout=SHORT)
    problems = await axe_problems(page)
    assert not problems, problems


async def test_a_busy_board_screenshot(browser, server, site, store, settings, desk):
    """docs/screenshots/board.png: ~15 waiting across queues, some called or in rooms (one
    called long enough ago to ask for a recall), flags, a long accented name, an expected
    list."""
    now = clock.now()
    await AppointmentStore(store.redis, settings).save(site, [
        (i, Appointment(id=f"ap-{i}", site=site.id, start=now + timedelta(minutes=m),
                        queue="nurse", first_name=f, last_name=last, birth_date="1975-05-05",
                        code=f"SHOT{i}Q", provider=p))
        for i, (f, last, m, p) in enumerate([
            ("Hana", "Kobayashi", -25, "Dr. Okafor"), ("Luis", "Ortega", 10, "Dr. Patel"),
            ("Grace", "Mensah", 25, "Dr. Okafor"), ("Ivan", "Petrov", 40, "Dr. Patel"),
            ("Rosa", "Delgado", -5, "Dr. Patel"), ("Samir", "Haddad", 0, "Dr. Okafor")])],
        actor="test")
    for i in (4, 5):
        await desk.check_in("nurse", appointment_id=f"ap-{i}")
    names = [
        ("reg", LONG_NAME, ["insurance_verify", "copay_due", "interpreter"], 1, "es"),
        ("reg", "Aiyana Redcloud", ["forms_pending"], 0, ""),
        ("reg", "Bjørn Åkesson", [], 0, ""),
        ("reg", "Chidi Okonkwo", ["id_check"], 0, ""),
        ("reg", "Dmitri Volkov", [], 0, ""),
        ("reg", "Elena Popescu", ["copay_due"], 2, ""),
        ("reg", "Farah Haddad", [], 0, ""),
        ("nurse", "Gustavo Lima", ["accessibility"], 0, ""),
        ("nurse", "Hye-jin Park", [], 0, ""),
        ("nurse", "Isabelle Dubois", ["interpreter"], 0, "fr"),
        ("nurse", "Jamal Carter", [], 1, ""),
        ("lab", "Kirra Walker", [], 0, ""),
        ("lab", "Lorenzo Bianchi", ["copay_due"], 0, ""),
        ("lab", "Mei Chen", [], 0, ""),
        ("lab", "Nils Berg", [], 0, ""),
        ("reg", "Olga Nowak", [], 0, ""),
        ("nurse", "Pedro Alves", [], 0, ""),
        ("nurse", "Quinn Murphy", ["forms_pending"], 0, ""),
    ]
    made = []
    for queue, name, flags, priority, language in names:
        made.append(await desk.check_in(queue, name=name, flags=flags, priority=priority,
                                        language=language))
    await desk.call(made[15], "desk-1")
    await desk.call(made[16], "room-1")
    await desk.move(made[17], "room", room="room-2")
    # Some have waited a while: move their check-in back (as if they came earlier).
    for v, minutes in ((made[0], 34), (made[1], 22), (made[7], 17), (made[11], 9)):
        key = f"lq:{{{site.id}}}:visit:{v['id']}"
        ms = int(await store.redis.hget(key, "checked_in_ms")) - minutes * 60000
        await store.redis.hset(key, "checked_in_ms", str(ms))
    # One was called five minutes ago and has not come: the board asks "Recall?".
    key = keys.visit(site.id, made[16]["id"])
    ms = int(await store.redis.hget(key, "called_ms")) - 5 * 60000
    await store.redis.hset(key, "called_ms", str(ms))
    page = await open_board(browser, server, site, store, "pat", size=(1920, 1080))
    await page.reload()
    await expect(page.get_by_role("row").filter(has_text="Quinn Murphy")).to_be_visible()
    await page.wait_for_timeout(1200)
    # A patient's language shows on their row, whether or not an interpreter is flagged.
    mark = page.get_by_role("row").filter(has_text="Isabelle Dubois").locator("abbr.lang")
    await expect(mark).to_have_text("FR")
    await expect(mark).to_have_attribute("title", "Speaks French")
    await expect(page.get_by_role("row").filter(has_text="Whitmore").locator("abbr.lang")) \
        .to_have_text("ES")
    problems = await axe_problems(page)
    assert not problems, problems
    # No cell's text runs into the next column (the wait's range under the time included).
    assert await cells_overflowing(page) == []
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "board.png"))
    assert json.dumps(problems) == "[]"
    await page.set_viewport_size({"width": 1366, "height": 768})
    await page.wait_for_timeout(300)
    assert await cells_overflowing(page) == []
    await page.screenshot(path=str(ARTIFACTS / "board-1366x768.png"))
    assert await axe_problems(page) == []


async def cells_overflowing(page) -> list[str]:
    """The visits tables' cells whose contents reach past the cell's left or right edge
    (but the actions': their More panel opens over the page, as a dialog)."""
    return await page.evaluate("""() => [...document.querySelectorAll('.visits td:not(.actions)')]
        .filter(td => td.offsetParent !== null)
        .filter(td => {
          const box = td.getBoundingClientRect();
          const range = document.createRange();
          range.selectNodeContents(td);
          return [...range.getClientRects()].some(
            r => r.width && (r.right > box.right + 1 || r.left < box.left - 1));
        })
        .map(td => td.className + ': ' + td.textContent.trim().replace(/\\s+/g, ' '))""")


async def test_a_1366x768_laptop_shows_the_basics_without_scrolling(browser, server, site,
                                                                    store, desk):
    """Six patients called and more waiting: the toolbar is one line, and the walk-in form
    and the first waiting patients are on the first screen."""
    visits = [await desk.check_in("reg" if i % 2 else "nurse", name=f"Patient {i}")
              for i in range(12)]
    for visit, room in zip(visits[:6], ("desk-1", "room-1", "room-2", "room-3", "", ""),
                           strict=True):
        await desk.call(visit, room)
    page = await open_board(browser, server, site, store, "pat", size=(1366, 768))
    await expect(page.get_by_role("row").filter(has_text="Patient 11")).to_be_attached()

    tops = await page.get_by_role("search").evaluate(
        "bar => [...bar.children].map(c => Math.round(c.getBoundingClientRect().top))")
    boxes = await page.get_by_role("search").evaluate(
        "bar => [...bar.children].map(c => c.getBoundingClientRect().height)")
    assert max(tops) - min(tops) < max(boxes), f"the toolbar wraps: tops {tops}"

    async def on_first_screen(locator) -> bool:
        box = await locator.bounding_box()
        return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 768

    walk_in = page.get_by_role("region", name="Check in a walk-in")
    assert await on_first_screen(walk_in.get_by_label("Name"))
    assert await on_first_screen(walk_in.get_by_role("button", name="Check in"))
    first_row = queue_section(page, "Registration").get_by_role("row").filter(
        has_text="Patient").first
    assert await on_first_screen(first_row), "no waiting patient on the first screen"
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
    problems = await axe_problems(page)
    assert not problems, problems


async def test_more_is_a_dialog_escape_and_a_click_outside_close_it(browser, server, site,
                                                                    store, desk):
    for i in range(14):
        await desk.check_in("reg", name=f"Waiting {i:02d}")
    page = await open_board(browser, server, site, store, "pat", size=(1366, 768))
    rows = queue_section(page, "Registration").get_by_role("row")
    await expect(rows.filter(has_text="Waiting 13")).to_be_attached(timeout=SHORT)

    first = rows.filter(has_text="Waiting 00")
    more = first.locator("summary", has_text="More")
    await more.focus()
    await page.keyboard.press("Enter")
    panel = first.get_by_role("dialog", name=re.compile("More for"))
    await expect(panel).to_be_visible()
    await page.keyboard.press("Tab")  # into the panel
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    await expect(more).to_be_focused()

    await more.click()
    await expect(panel).to_be_visible()
    await page.get_by_role("heading", name="Check in a walk-in").click()
    await expect(panel).to_be_hidden()

    # A row at the bottom of the window: its panel opens where it fits, inside the window.
    await page.evaluate("window.scrollTo(0, 0)")
    last = None
    for i in range(14):
        row = rows.filter(has_text=f"Waiting {i:02d}")
        box = await row.bounding_box()
        if box and box["y"] + box["height"] <= 768:
            last = row
    assert last is not None
    last_more = last.locator("summary", has_text="More")
    box = await last_more.bounding_box()
    assert box["y"] > 768 - 200, "the row is near the bottom of the window"
    await last_more.click()
    last_panel = last.get_by_role("dialog", name=re.compile("More for"))
    await expect(last_panel).to_be_visible()
    inside = await last_panel.bounding_box()
    assert inside["y"] >= 0 and inside["y"] + inside["height"] <= 768, inside
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "board-more-1366x768.png"))
    # Only one panel is open at a time.
    await more.focus()
    await page.keyboard.press("Enter")
    await expect(panel).to_be_visible()
    await expect(last_panel).to_be_hidden()
    problems = await axe_problems(page)
    assert not problems, problems


async def test_one_clock_on_the_board_and_its_report_and_durations_say_what_they_are(
        browser, server, site, store, settings, desk):
    """The test site speaks English: every time of day is on a 12-hour clock, however the
    PC (Tokyo here) writes its own."""
    now = clock.now()
    await AppointmentStore(store.redis, settings).save(site, [
        (0, Appointment(id="ap-clock", site=site.id, start=now + timedelta(minutes=40),
                        queue="nurse", first_name="Vera", last_name="Lind",
                        birth_date="1975-05-05", code="CLOCK1Q", provider="Dr. Patel"))],
        actor="test")
    waiting = await desk.check_in("reg", name="Wanda Waits")
    called = await desk.check_in("reg", name="Carl Called")
    await desk.call(called, "desk-1")
    await desk.move(waiting, "copay", amount="10", method="cash")
    twelve = re.compile(r"^\d{1,2}:\d{2} (AM|PM)$")
    page = await open_board(browser, server, site, store, "pat")
    await expect(page.locator(".board-head time.clock")).to_have_text(twelve)
    expected = page.get_by_role("region", name="Expected today")
    await expect(expected.locator(".appt-time").first).to_have_text(twelve)
    await expect(page.get_by_role("row").filter(has_text="Wanda Waits")).to_contain_text(
        re.compile(r"waiting \d+ min"))
    await expect(page.get_by_role("row").filter(has_text="Carl Called")).to_contain_text(
        re.compile(r"called \d+:\d{2} ago"))
    await page.get_by_role("link", name="Day report").click()
    cell = page.get_by_role("row").filter(has_text=waiting["ticket"]).get_by_role("cell").first
    await expect(cell).to_have_text(re.compile(r"^\d{1,2}:\d{2}:\d{2} (AM|PM)$"))
