"""The patient's phone page, /t/{token}: a ticket and a place in line, nothing personal,
only with a genuine token of the site's today."""

from __future__ import annotations

import html
from datetime import timedelta

from app import clock
from app.storage import keys
from app.visits.status_links import make_token

NAME = "Zebulon Quixote-Marchetti"


def token_for(api, visit, days: int = 0) -> str:
    date = clock.local_date(clock.now() + timedelta(days=days), api.site.tz)
    return make_token(api.app.state.settings.secret_key, api.site.id, visit["id"], date)


async def test_the_status_follows_the_visit_from_waiting_to_called(api):
    await api.check_in()
    visit = await api.check_in(name=NAME, flags=["interpreter"])
    token = token_for(api, visit)

    r = await api.client.get(f"/t/{token}/status")
    assert r.status_code == 200
    body = r.json()
    assert body["ticket"] == visit["ticket"] and body["status"] == "waiting"
    assert body["position"] == 2 and body["queue"] == "Registration"
    assert body["eta_minutes"]["low"] <= body["eta_minutes"]["high"]

    await api.post(f"/visits/{visit['id']}/call", {"room": "room-3"})
    body = (await api.client.get(f"/t/{token}/status")).json()
    assert body["status"] == "called" and body["room"] == "Room 3"
    page = await api.client.get(f"/t/{token}")
    assert "It's your turn: go to Room 3" in html.unescape(page.text)


async def test_the_page_and_status_carry_nothing_personal_and_ask_for_no_copy(api):
    visit = await api.check_in(name=NAME, flags=["interpreter", "copay_due"],
                               language="es")
    token = token_for(api, visit)
    for path in (f"/t/{token}", f"/t/{token}/status"):
        r = await api.client.get(path)
        assert r.status_code == 200
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["referrer-policy"] == "no-referrer"
        for secret in ("Zebulon", "Quixote", "interpreter", "copay", visit["id"]):
            assert secret not in r.text, (path, secret)
    fragment = await api.client.get(f"/t/{token}/status", headers={"HX-Request": "true"})
    assert 'id="phone-status"' in fragment.text and "Zebulon" not in fragment.text


async def test_a_forged_or_yesterdays_or_other_visits_token_finds_nothing(api):
    visit = await api.check_in(name=NAME)
    good = token_for(api, visit)
    for token in (good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
                  token_for(api, visit, days=-1), token_for(api, visit, days=1),
                  "x" * 400, "not-a-token"):
        for path in (f"/t/{token}", f"/t/{token}/status"):
            r = await api.client.get(path)
            assert r.status_code == 404, (token, path)
            assert NAME not in r.text and visit["ticket"] not in r.text
    page = await api.client.get(f"/t/{token_for(api, visit, days=-1)}")
    assert "ask at the front desk" in page.text


async def test_a_token_whose_visit_has_gone_finds_nothing(api, store):
    visit = await api.check_in()
    await store.redis.delete(keys.visit(api.site.id, visit["id"]))
    r = await api.client.get(f"/t/{token_for(api, visit)}/status")
    assert r.status_code == 404


async def test_the_page_speaks_the_language_the_patient_chose(api):
    spanish = await api.check_in(language="es")
    english = await api.check_in()
    page = await api.client.get(f"/t/{token_for(api, spanish)}")
    assert page.status_code == 200
    assert '<html lang="es">' in page.text and "Su número" in page.text
    assert "Usted es el número 1 en la fila" in page.text and "para Registration" in page.text
    await api.post(f"/visits/{spanish['id']}/call", {"room": "room-3"})
    fragment = await api.client.get(f"/t/{token_for(api, spanish)}/status",
                                    headers={"HX-Request": "true"})
    assert "Es su turno: vaya a Room 3" in fragment.text
    other = await api.client.get(f"/t/{token_for(api, english)}")
    assert '<html lang="en">' in other.text and "You are number 1 in line" in other.text
