"""One estimate, one wording: the kiosk, the lobby, the phone page and the API agree."""

from __future__ import annotations

import html
import re

from test_phone import token_for

from app.templating import macro
from app.visits.lobby import lobby_view
from displays.board import fragments as fragments_board
from displays.lobby import fragments

DASH = "\N{EN DASH}"


def text(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


async def screens(api, store, site) -> tuple[str, str]:
    """What the kiosk's "Waiting now" and the lobby's Registration column say."""
    state = await store.snapshot(site)
    kiosk = text(str(macro("kiosk_macros.html", "queue_list")(lobby_view(state))))
    lobby = text(fragments(state)["queue-reg"])
    return kiosk, lobby


async def test_an_empty_queue_nobody_serves_is_not_no_wait_anywhere(api, store, site):
    kiosk, lobby = await screens(api, store, site)
    said = re.search(r"About \d+" + DASH + r"\d+ min", kiosk)
    assert said, kiosk
    assert said.group(0) in lobby and "No wait" not in lobby


async def test_a_free_room_means_no_wait_on_kiosk_and_lobby(api, store, site):
    first = await api.check_in()
    await api.post(f"/visits/{first['id']}/call", {"room": "room-3"})
    await api.post(f"/visits/{first['id']}/done")
    kiosk, lobby = await screens(api, store, site)
    assert "Registration No wait" in kiosk
    assert "No wait" in lobby


async def test_the_ticket_the_phone_and_the_lobby_show_the_same_range(api, store, site):
    busy = await api.check_in()
    await api.post(f"/visits/{busy['id']}/call", {"room": "room-3"})
    await api.check_in()
    visit = await api.check_in()
    eta = visit["eta_minutes"]
    words = f"About {eta['low']}{DASH}{eta['high']} min"
    _, lobby = await screens(api, store, site)
    assert f"{visit['ticket']} {words}" in lobby
    phone = await api.client.get(f"/t/{token_for(api, visit)}")
    assert words in text(phone.text)
    board = text(fragments_board(await store.snapshot(site))["board-queue-reg"])
    assert f"{words}" in board
    listed = (await api.get(f"/visits/{visit['id']}")).json()
    assert listed["eta_minutes"] == eta
