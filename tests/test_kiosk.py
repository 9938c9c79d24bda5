"""The kiosk over HTTP, in process, against real Redis: each flow's screens and what it
writes; limits, privacy headers, the catalogs. The browser tests drive the same flows in
Chromium (tests/test_browser_kiosk.py)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from app import clock
from app.appointments.model import Appointment
from app.appointments.store import AppointmentStore
from app.sites import DEFAULT_CONSENTS
from app.storage import keys
from kiosk import flow

ROOT = Path(__file__).resolve().parents[1]
NOT_FOUND = "We couldn't find a check-in with those details."


async def book(api, *, minutes: int = 5, last: str = "Núñez-García", first: str = "José",
               born: str = "1970-04-03", code: str = "", queue: str = "nurse",
               provider: str | None = "Dr. Okafor", status: str = "booked") -> Appointment:
    """An appointment at `minutes` from now, stored as an import stores it."""
    start = clock.now().astimezone(api.site.tz) + timedelta(minutes=minutes)
    appointment = Appointment(
        id="a" + uuid.uuid4().hex[:10], site=api.site.id, start=start, queue=queue,
        first_name=first, last_name=last, birth_date=born, code=code, status=status,
        provider=provider)
    await AppointmentStore(api.app.state.store.redis, api.app.state.settings).save(
        api.site, [(0, appointment)], "test")
    return appointment


class Kiosk:
    """The kiosk as its page uses it: GET the page, then POST each step."""

    def __init__(self, api) -> None:
        self.api = api
        self.base = f"/sites/{api.site.id}/kiosk"
        self.last: Any = None

    async def open(self) -> str:
        self.last = await self.api.client.get(self.base, headers=self.api.auth("desk"))
        assert self.last.status_code == 200, self.last.text
        return self.last.text

    async def tap(self, action: str, **form: Any) -> str:
        self.last = await self.api.client.post(f"{self.base}/step/{action}", data=form,
                                               headers=self.api.auth("desk"))
        assert self.last.status_code == 200, self.last.text
        return self.last.text

    @staticmethod
    def step(html: str) -> str:
        return re.search(r'data-step="(\w+)"', html).group(1)

    async def visit(self, ticket_html: str) -> dict[str, str]:
        """The stored visit behind the ticket on the screen."""
        number = re.search(r'data-spell="(\w+)"', ticket_html).group(1)
        redis = self.api.app.state.store.redis
        for key in await redis.keys(keys.visit(self.api.site.id, "*")):
            fields = await redis.hgetall(key)
            if fields.get("ticket") == number:
                return fields
        raise AssertionError(f"no visit with ticket {number}")


@pytest.fixture
async def kiosk(api) -> Kiosk:
    k = Kiosk(api)
    await k.open()
    return k


async def visits(api) -> list[dict[str, str]]:
    redis = api.app.state.store.redis
    return [await redis.hgetall(k) for k in await redis.keys(keys.visit(api.site.id, "*"))]


async def test_code_flow_checks_in_with_changes_and_consent_recorded(api, kiosk):
    appointment = await book(api, code="K7P3QX")
    assert kiosk.step(await kiosk.tap("start", what="appointment")) == "code"
    confirm = await kiosk.tap("code", code="k7p 3qx")
    assert kiosk.step(confirm) == "confirm"
    assert "J. N." in confirm and "Dr. Okafor" in confirm
    assert "José" not in confirm and "Núñez" not in confirm
    assert kiosk.step(await kiosk.tap("confirm", answer="yes")) == "changes"
    assert kiosk.step(await kiosk.tap("changes", answer="changed",
                                      changed=["phone", "insurance"])) == "consent"
    ticket = await kiosk.tap("consent", answer="agree")
    assert kiosk.step(ticket) == "ticket" and "kqr-code" in ticket
    visit = await kiosk.visit(ticket)
    assert visit["appointment_id"] == appointment.id
    assert visit["queue"] == "nurse"
    assert json.loads(visit["flags"]) == ["phone_changed", "insurance_changed"]
    assert visit["consented_at"].startswith(clock.now().date().isoformat()[:4])
    assert visit["name"] == "José Núñez-García"
    assert kiosk.last.headers["cache-control"] == "no-store"


async def test_name_and_birth_date_match_however_the_name_is_typed(api, kiosk):
    await book(api, last="Núñez-García")
    await kiosk.tap("start", what="appointment")
    await kiosk.tap("by-name")
    for typed in ("NUNEZ GARCIA", "nunez-garcia", "Núñez García"):
        screen = await kiosk.tap("name", last_name=typed, month="4", day="3", year="1970")
        assert kiosk.step(screen) == "confirm", typed
        await kiosk.tap("back")
        await kiosk.tap("by-name")


async def test_several_appointments_are_chosen_by_initials_time_and_provider(api, kiosk):
    first = await book(api, minutes=-5, provider="Dr. Okafor")
    await book(api, minutes=20, provider=None, queue="lab")
    await kiosk.tap("start", what="appointment")
    await kiosk.tap("by-name")
    choose = await kiosk.tap("name", last_name="nunez garcia", month="4", day="3",
                             year="1970")
    assert kiosk.step(choose) == "choose"
    assert choose.count("J. N. ·") == 2 and "Dr. Okafor" in choose and "Lab" in choose
    assert kiosk.step(await kiosk.tap("choose", appointment=first.id)) == "confirm"


async def test_three_failed_look_ups_send_the_patient_to_the_desk_with_a_ticket(api, kiosk):
    await kiosk.tap("start", what="appointment")
    for _ in range(2):
        screen = await kiosk.tap("code", code="ZZZZZZ")
        assert kiosk.step(screen) == "code" and NOT_FOUND in screen
    desk = await kiosk.tap("code", code="ZZZZZZ")
    assert kiosk.step(desk) == "desk" and "Please see the front desk" in desk
    visit = await kiosk.visit(desk)
    assert visit["queue"] == "reg" and json.loads(visit["flags"]) == ["see_desk"]
    assert visit["desk_reason"] == flow.NOT_FOUND


async def test_a_failed_name_look_up_never_says_which_part_was_wrong(api, kiosk):
    await book(api, last="Smith", born="1980-01-02")
    await kiosk.tap("start", what="appointment")
    await kiosk.tap("by-name")
    wrong_name = await kiosk.tap("name", last_name="Smyth", month="1", day="2", year="1980")
    wrong_date = await kiosk.tap("name", last_name="Smith", month="1", day="3", year="1980")
    strip = re.compile(r'<input[^>]*>|value="[^"]*"')
    assert strip.sub("", wrong_name) == strip.sub("", wrong_date)
    assert NOT_FOUND in wrong_name


async def test_wrong_codes_of_other_patients_never_send_the_next_one_to_the_desk(api):
    appointment = await book(api, code="K7P3QX")
    for _ in range(flow.DEVICE_SLOW_AFTER):  # five patients, one failed look-up each
        k = Kiosk(api)
        await k.open()
        await k.tap("start", what="appointment")
        assert k.step(await k.tap("code", code="ZZZZZZ")) == "code"
    k = Kiosk(api)
    await k.open()
    code_screen = await k.tap("start", what="appointment")
    assert "One moment" in code_screen  # what it says while the kiosk's pause lasts
    confirm = await k.tap("code", code=appointment.code)
    assert k.step(confirm) == "confirm"
    assert await visits(api) == []


def test_a_kiosk_with_failed_look_ups_pauses_longer_and_longer_up_to_a_cap():
    pauses = [flow.device_pause(n) for n in range(20)]
    assert pauses[:flow.DEVICE_SLOW_AFTER] == [0] * flow.DEVICE_SLOW_AFTER
    assert pauses[flow.DEVICE_SLOW_AFTER:flow.DEVICE_SLOW_AFTER + 3] == [1, 2, 4]
    assert max(pauses) == flow.DEVICE_PAUSE_MAX and pauses == sorted(pauses)


async def test_a_last_name_out_of_look_ups_asks_for_the_code_not_the_desk(api):
    appointment = await book(api, last="Smith", born="1980-01-02", code="K7P3QX")
    await book(api, last="Jones", born="1990-05-06")
    for born_day in ("3", "4", "5"):
        k = Kiosk(api)
        await k.open()
        await k.tap("start", what="appointment")
        await k.tap("by-name")
        await k.tap("name", last_name="SMITH", month="1", day=born_day, year="1980")
    # The next Smith, with the right birth date, is asked for the code, which works.
    k = Kiosk(api)
    await k.open()
    await k.tap("start", what="appointment")
    await k.tap("by-name")
    ask = await k.tap("name", last_name="smith", month="1", day="2", year="1980")
    assert k.step(ask) == "code"
    assert "Please enter the confirmation code" in ask
    assert k.step(await k.tap("code", code=appointment.code)) == "confirm"
    # A Smith without the code goes to the desk with the reason; no one else does.
    k = Kiosk(api)
    await k.open()
    await k.tap("start", what="appointment")
    await k.tap("by-name")
    await k.tap("name", last_name="Smith", month="1", day="2", year="1980")
    desk = await k.tap("by-name")
    assert k.step(desk) == "desk"
    assert (await k.visit(desk))["desk_reason"] == flow.TOO_MANY
    other = Kiosk(api)
    await other.open()
    await other.tap("start", what="appointment")
    await other.tap("by-name")
    jones = await other.tap("name", last_name="Jones", month="5", day="6", year="1990")
    assert other.step(jones) == "confirm"


@pytest.mark.parametrize(("minutes", "flag"), [(120, "early"), (-60, "late")])
async def test_outside_the_arrival_window_the_desk_ticket_says_early_or_late(api, kiosk,
                                                                             minutes, flag):
    appointment = await book(api, minutes=minutes, code="K7P3QX")
    await kiosk.tap("start", what="appointment")
    desk = await kiosk.tap("code", code="K7P3QX")
    assert kiosk.step(desk) == "desk"
    visit = await kiosk.visit(desk)
    assert json.loads(visit["flags"]) == ["see_desk", flag]
    assert visit["desk_reason"] == flag and visit["appointment_id"] == appointment.id


async def test_not_me_goes_to_the_desk_without_the_appointment(api, kiosk):
    await book(api, code="K7P3QX")
    await kiosk.tap("start", what="appointment")
    await kiosk.tap("code", code="K7P3QX")
    desk = await kiosk.tap("confirm", answer="no")
    visit = await kiosk.visit(desk)
    assert visit["desk_reason"] == flow.NOT_ME and visit["appointment_id"] == ""


async def test_walk_in_gets_a_ticket_in_the_chosen_queue(api, kiosk):
    assert kiosk.step(await kiosk.tap("start", what="walkin")) == "services"
    assert kiosk.step(await kiosk.tap("service", queue="lab")) == "walkin"
    bad = await kiosk.tap("walk-in", answer="name", first_name="R2D2", last_initial="")
    assert kiosk.step(bad) == "walkin" and "letters only" in bad
    ticket = await kiosk.tap("walk-in", answer="name", first_name="Ana", last_initial="l")
    visit = await kiosk.visit(ticket)
    assert visit["queue"] == "lab" and visit["name"] == "Ana L."
    assert visit["ticket"].startswith("L")


async def test_a_queue_closed_meanwhile_is_refused_with_a_friendly_sentence(api, kiosk):
    await kiosk.tap("start", what="walkin")
    await kiosk.tap("service", queue="lab")
    await api.post("/queues/lab", {"open": False})
    screen = await kiosk.tap("walk-in", answer="skip")
    assert kiosk.step(screen) == "services" and "just closed" in screen
    assert 'hx-vals=\'{"queue": "lab"}\'' not in screen
    assert await visits(api) == []


async def test_a_double_tap_makes_one_visit(api, kiosk):
    await kiosk.tap("start", what="walkin")
    await kiosk.tap("service", queue="reg")
    screens = await asyncio.gather(*(kiosk.tap("walk-in", answer="skip") for _ in range(4)))
    assert {re.search(r'data-spell="(\w+)"', s).group(1) for s in screens} == {"A001"}
    assert len(await visits(api)) == 1


async def test_start_over_forgets_the_patient(api, kiosk):
    await book(api, code="K7P3QX")
    await kiosk.tap("language", lang="es")
    await kiosk.tap("start", what="appointment")
    await kiosk.tap("code", code="K7P3QX")
    old_cookie = kiosk.api.client.cookies.get("lq_kiosk")
    welcome = await kiosk.tap("reset")
    assert kiosk.step(welcome) == "welcome" and 'lang="en"' in welcome
    assert kiosk.api.client.cookies.get("lq_kiosk") != old_cookie
    # The old session is gone from Redis: nothing of the last patient can come back.
    assert await api.app.state.store.redis.keys(keys.kiosk_session(api.site.id, "*")) != []
    assert kiosk.step(await kiosk.tap("confirm", answer="yes")) == "welcome"


async def test_spanish_is_chosen_per_session_and_other_screens_stay_english(api, kiosk):
    screen = await kiosk.tap("language", lang="es")
    assert "Tengo una cita" in screen and 'lang="es"' in screen
    assert "Tengo una cita" in await kiosk.tap("back")  # the session keeps it
    other = Kiosk(api)
    assert "I have an appointment" in await other.open()
    board = await api.client.get(f"/sites/{api.site.id}/board", headers=api.auth("desk"))
    assert "Tengo" not in board.text


async def test_nothing_personal_reaches_a_url_or_a_title(api, kiosk):
    await book(api, code="K7P3QX", last="Worthington")
    page = await kiosk.open()
    assert "<title>Check in · Test Clinic</title>" in page
    await kiosk.tap("start", what="appointment")
    await kiosk.tap("by-name")
    screen = await kiosk.tap("name", last_name="Worthington", month="4", day="3", year="1970")
    assert "Worthington" not in screen and "1970" not in screen
    assert str(kiosk.last.request.url).endswith("/step/name")
    assert kiosk.last.headers["cache-control"] == "no-store"


async def test_an_unknown_step_is_a_clear_404_and_changes_nothing(api, kiosk):
    r = await api.client.post(f"{kiosk.base}/step/teleport", headers=api.auth("desk"))
    assert r.status_code == 404
    assert await visits(api) == []


async def test_the_kiosk_page_needs_a_kiosk_or_the_desk(api):
    r = await api.client.get(f"/sites/{api.site.id}/kiosk", headers=api.auth("display"))
    assert r.status_code == 403
    r = await api.client.post(f"/sites/{api.site.id}/kiosk/step/start",
                              headers=api.auth("display"))
    assert r.status_code == 403


def test_every_string_of_the_kiosk_has_a_spanish_translation():
    # The kiosk's templates and the estimate's wording, which every screen shares.
    method_map = [("kiosk/templates/**.html", "jinja2"),
                  ("app/templates/estimate_macros.html", "jinja2")]
    jinja = {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}
    options = {pattern: jinja for pattern, _ in method_map}
    ids = {m[2] if isinstance(m[2], str) else m[2][0]
           for m in extract_from_dir(str(ROOT), method_map, options_map=options)}
    ids |= set(DEFAULT_CONSENTS)
    catalogs = sorted((ROOT / "kiosk" / "locale").glob("*/LC_MESSAGES/messages.po"))
    assert {p.parent.parent.name for p in catalogs} >= {"en", "es"}
    for path in catalogs:
        lang = path.parent.parent.name
        with path.open("rb") as f:
            catalog = read_po(f)
        assert ids <= {m.id for m in catalog}, f"{lang}: run the extraction in docs/kiosk.md"
        if lang != "en":  # English is the msgids themselves
            assert not [m.id for m in catalog if m.id and not m.string], lang


async def test_the_api_does_not_take_consent_or_a_desk_reason_from_outside(api):
    for field in ("consented_at", "desk_reason"):
        r = await api.post("/visits", {"queue": "reg", field: "2026-11-20T10:00:00Z"})
        assert r.status_code == 422 and field in r.text
    assert await visits(api) == []


async def test_a_too_long_first_name_is_refused_in_a_sentence_not_cut(api, kiosk):
    await kiosk.tap("start", what="walkin")
    screen = await kiosk.tap("service", queue="lab")
    assert 'maxlength="30"' not in screen  # the browser does not cut it silently either
    long_name = "Maximiliano Alejandro Bartholomew"  # 33 letters and spaces
    refused = await kiosk.tap("walk-in", answer="name", first_name=long_name, last_initial="")
    assert kiosk.step(refused) == "walkin"
    assert "Please type a shorter first name: 30 letters at most." in refused
    snapshot = (await api.get("/snapshot")).json()
    assert all(q["waiting"] == [] for q in snapshot["queues"])
    ticket = await kiosk.tap("walk-in", answer="name", first_name="Maximiliano",
                             last_initial="b")
    assert (await kiosk.visit(ticket))["name"] == "Maximiliano B."


async def test_the_on_screen_keyboard_has_the_letters_of_its_language(api, kiosk):
    await kiosk.tap("start", what="walkin")
    english = await kiosk.tap("service", queue="lab")
    assert 'data-key="Z"' in english and 'data-key="Ñ"' not in english
    await kiosk.tap("language", lang="es")
    spanish = await kiosk.tap("service", queue="lab")
    for letter in "ÑÁÉÍÓÚÜ":
        assert f'data-key="{letter}"' in spanish, letter
    assert "Escriba un nombre más corto" not in spanish


async def test_a_spanish_screen_shows_the_sites_spanish_names_for_its_queues(api, kiosk):
    from helpers import TEST_SITE

    from app.sites import site_from_dict
    from app.visits.status_links import make_token

    named = site_from_dict({**TEST_SITE, "id": api.site.id, "queues": [
        {**q, "names": {"es": "Laboratorio"}} if q["id"] == "lab" else q
        for q in TEST_SITE["queues"]]})
    await api.app.state.store.save_site(named)
    await kiosk.tap("language", lang="es")
    await kiosk.tap("start", what="walkin")
    services = await kiosk.tap("service", queue="lab")
    assert "Laboratorio" in services
    ticket = await kiosk.tap("walk-in", answer="skip")
    visit = await kiosk.visit(ticket)
    day = clock.local_date(clock.now(), named.tz)
    token = make_token(api.app.state.settings.secret_key, api.site.id, visit["id"], day)
    phone = await api.client.get(f"/t/{token}")
    assert "para Laboratorio" in phone.text
