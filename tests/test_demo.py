"""The demo clinic a newcomer opens with `make run`: mid-morning, with patients, at any
hour of the day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import test_browser_board as board_tests
from playwright.async_api import expect

from app import clock
from app.cli import seed_demo
from app.demo import DEMO_HOUR, demo_zone

server = board_tests.server


def test_the_demo_clinic_is_in_its_late_morning_at_every_hour_of_the_day():
    start = datetime(2026, 12, 6, 0, 7, tzinfo=UTC)
    for minutes in range(0, 48 * 60, 37):
        now = start + timedelta(minutes=minutes)
        local = now.astimezone(ZoneInfo(demo_zone(now)))
        assert local.hour == DEMO_HOUR, (now, demo_zone(now), local)


async def test_the_demo_has_patients_waiting_called_in_a_room_and_expected(store, site_id):
    said = await seed_demo(store, site_id, users=False)
    assert "13 patients in the clinic" in said
    site = await store.get_site(site_id)
    state = await store.snapshot(site)
    now = clock.now()
    assert now.astimezone(site.tz).hour == DEMO_HOUR
    assert sum(q.total for q in state.queues) == 10
    assert sorted(v["status"] for v in state.active) == ["called", "called", "in_room"]
    waits = [now.timestamp() * 1000 - int(v["checked_in_ms"]) for q in state.queues
             for v in q.waiting]
    assert max(waits) > 20 * 60_000, "some have waited a while"
    upcoming = [a for a in state.appointments if a.get("status") == "booked"]
    assert len(upcoming) >= 5
    # Run again (a second `make run`): nobody is added twice.
    again = await seed_demo(store, site_id, users=False)
    assert "patients in the clinic" not in again
    assert sum(q.total for q in (await store.snapshot(site)).queues) == 10


async def test_the_demo_board_opens_on_a_busy_morning(browser, server, store, site_id):
    await seed_demo(store, site_id, users=False)
    site = await store.get_site(site_id)
    page = await board_tests.open_board(browser, server, site, store, "pat",
                                        size=(1366, 768))
    registration = board_tests.queue_section(page, "Registration")
    await expect(registration.get_by_role("row").filter(has_text="Harriet Lindqvist")) \
        .to_be_visible()
    await expect(registration).to_contain_text("5 waiting")
    called = page.get_by_role("region", name="Called · in room · check-out")
    await expect(called.get_by_role("row").filter(has_text="Ruth Abernathy")).to_contain_text(
        "Desk 1")
    await expect(called.get_by_role("row").filter(has_text="Ines Carvalho")).to_contain_text(
        "in room")
    expected = page.get_by_role("region", name="Expected today")
    await expect(expected.get_by_role("button", name="Check in").first).to_be_visible()
    await expect(page.locator("time.clock")).to_contain_text(f"{DEMO_HOUR}:")
