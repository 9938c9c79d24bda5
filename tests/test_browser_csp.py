"""Every screen runs under the Content Security Policy in a real Chromium with not one
violation: the kiosk through a whole check-in, the board through a walk-in, the lobby
showing the call. And a kiosk slowed down by failed look-ups says "One moment…" while the
pause lasts, then lets the right code through."""

from __future__ import annotations

from typing import Any

import pytest
import test_browser_board as board_tests
import test_browser_kiosk as kiosk_tests
import test_browser_lobby as lobby_tests
from playwright.async_api import Page, expect

from app.access import devices
from kiosk import flow
from kiosk import session as sessions


@pytest.fixture
def server(live_server):
    return live_server({"BOARD_UNDO_SECONDS": "1"})


def watch_violations(page: Page) -> list[str]:
    """What the browser reports as refused by the policy, from now on."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text)
            if "Content Security Policy" in m.text else None)
    return seen


async def test_the_kiosk_checks_a_patient_in_with_no_violation(browser, server, site, store,
                                                                settings):
    context = await browser.new_context(viewport=kiosk_tests.PORTRAIT)
    try:
        await kiosk_tests.book(store, settings, site, code="K7P3QX")
        page = await context.new_page()
        seen = watch_violations(page)
        context.on("page", watch_violations)
        page = await kiosk_tests.paired_kiosk(context, server, site, store)
        seen += watch_violations(page)
        await kiosk_tests.tap(page, "I have an appointment")
        await kiosk_tests.type_keys(page, "K7P3QX")
        await kiosk_tests.tap(page, "Continue")
        await kiosk_tests.tap(page, "Yes, that's me")
        await kiosk_tests.tap(page, "Nothing has changed")
        await kiosk_tests.tap(page, "I agree")
        await kiosk_tests.heading(page, "You're checked in")
        policy = await page.evaluate("fetch(location.href).then(r => "
                                     "r.headers.get('content-security-policy'))")
        assert "script-src 'self'" in policy
        assert seen == []
    finally:
        await context.close()


async def test_board_and_lobby_show_a_call_with_no_violation(browser, server, site, store,
                                                              page: Any):
    seen = watch_violations(page)
    await lobby_tests.pair_display(page, server, site, store)
    board = await board_tests.open_board(browser, server, site, store, "csp-desk")
    seen += watch_violations(board)
    await board_tests.check_in_walk_in(board, "Grace Hopper")
    row = board.get_by_role("row").filter(has_text="Grace Hopper")
    await expect(row).to_be_visible()
    await row.get_by_role("button", name="Call").first.click()
    await expect(page.locator("body")).to_contain_text("A001", timeout=board_tests.SHORT)
    assert seen == []
    await board.context.close()


async def test_a_slowed_kiosk_says_one_moment_then_takes_the_right_code(browser, server, site,
                                                                       store, settings):
    context = await browser.new_context(viewport=kiosk_tests.PORTRAIT)
    try:
        appointment = await kiosk_tests.book(store, settings, site, code="K7P3QX")
        page = await kiosk_tests.paired_kiosk(context, server, site, store)
        (device,) = await devices.site_devices(store.redis, site.id)
        counter = sessions.failure_keys(settings.secret_key, site.id,
                                        f"device:{device['id']}")[0]
        # Earlier patients' wrong codes: the next look-up waits 2 s.
        await store.redis.set(counter, flow.DEVICE_SLOW_AFTER + 1, ex=60)
        await kiosk_tests.tap(page, "I have an appointment")
        await kiosk_tests.type_keys(page, appointment.code)
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_role("status").filter(has_text="One moment")).to_be_visible()
        await kiosk_tests.heading(page, "Is this you?")
    finally:
        await context.close()
