"""A kiosk's call for help (app/desk/help_calls.py): the patient taps Help, every board shows it
until a PSR answers it, and the lobby never does."""

from __future__ import annotations

import json

import test_kiosk

from app.storage import keys
from displays import board, lobby

kiosk = test_kiosk.kiosk  # the kiosk as its page uses it (a fixture)
Kiosk = test_kiosk.Kiosk


async def _state(api):
    return await api.app.state.store.snapshot(api.site)


async def test_help_from_the_kiosk_shows_on_the_board_until_a_psr_answers(api, kiosk):
    screen = await kiosk.tap("help")
    assert Kiosk.step(screen) == "welcome"
    assert "Someone from the front desk is coming to help you." in screen
    await kiosk.tap("help")  # tapped again while the call is open: still one call

    (call,) = (await _state(api)).help_calls
    snapshot = (await api.get("/snapshot")).json()
    assert snapshot["help_calls"] == [{"kiosk": call["kiosk"], "name": call["name"],
                                       "at": call["at"]}]
    alerts = board.fragments(await _state(api))["board-alerts"]
    assert f"{call['name']}: a patient asks for help" in alerts and "On my way" in alerts
    assert 'data-count="1"' in alerts
    (asked,) = await api.events("kiosk.help")
    assert asked["help"] == {"kiosk": call["kiosk"], "name": call["name"], "at": call["at"]}

    r = await api.post(f"/help/{call['kiosk']}/answer", {})
    assert r.status_code == 200 and r.json() == {"kiosk": call["kiosk"], "answered": True}
    assert (await _state(api)).help_calls == ()
    assert (await api.get("/snapshot")).json()["help_calls"] == []
    assert "asks for help" not in board.fragments(await _state(api))["board-alerts"]
    assert len(await api.events("kiosk.help_answered")) == 1

    again = await api.post(f"/help/{call['kiosk']}/answer", {})
    assert again.status_code == 404 and "answered it already" in again.json()["detail"]


async def test_help_counts_from_a_kiosk_whose_session_has_timed_out(api, kiosk):
    redis = api.app.state.store.redis
    for key in await redis.keys(keys.kiosk_session(api.site.id, "*")):
        await redis.delete(key)
    screen = await kiosk.tap("help")
    assert "coming to help you" in screen
    assert len((await _state(api)).help_calls) == 1


async def test_a_call_nobody_answered_for_twelve_hours_is_dropped(api, kiosk):
    await kiosk.tap("help")
    redis = api.app.state.store.redis
    ((kiosk_id, body),) = (await redis.hgetall(keys.help_requests(api.site.id))).items()
    stale = {**json.loads(body), "at_ms": json.loads(body)["at_ms"] - 12 * 3600_000 - 1}
    await redis.hset(keys.help_requests(api.site.id), kiosk_id, json.dumps(stale))
    assert (await _state(api)).help_calls == ()


async def test_a_call_for_help_never_reaches_the_lobby(api, kiosk):
    await kiosk.tap("help")
    (call,) = (await _state(api)).help_calls
    shown = "".join(lobby.fragments(await _state(api)).values())
    assert call["name"] not in shown and "help" not in shown.lower()


async def test_only_the_desk_answers_a_call_for_help(api, kiosk):
    await kiosk.tap("help")
    (call,) = (await _state(api)).help_calls
    for role in ("display", "kiosk"):
        r = await api.post(f"/help/{call['kiosk']}/answer", {}, role=role)
        assert r.status_code == 403
    assert len((await _state(api)).help_calls) == 1
