"""The board's pure parts: the site's alert settings, and what a row and the fragments show
(no Redis, no browser)."""

from __future__ import annotations

import json

import pytest

from app.sites import SiteError, site_from_dict, site_from_stored
from app.visits import estimates
from app.visits.state import QueueState, RoomState, SiteState
from displays import board

BASE = {"id": "x", "timezone": "America/Chicago",
        "queues": [{"id": "reg", "name": "Registration", "prefix": "A"}],
        "rooms": [{"id": "desk-1", "name": "Desk 1", "kind": "desk"},
                  {"id": "room-1", "name": "Room 1"}]}


def test_alerts_and_the_day_close_have_defaults_and_survive_storage():
    site = site_from_dict(BASE)
    assert (site.wait_amber_minutes, site.wait_red_minutes, site.alert_queue_length,
            site.day_close) == (15, 30, 10, "20:00")
    custom = site_from_dict({**BASE, "day_close": "18:30", "alerts": {
        "wait_amber_minutes": 20, "wait_red_minutes": 40, "queue_length": 0}})
    assert site_from_stored(json.loads(json.dumps(custom.to_dict()))) == custom
    old = custom.to_dict()
    for key in ("wait_amber_minutes", "wait_red_minutes", "alert_queue_length", "day_close"):
        del old[key]
    assert site_from_stored(old).wait_red_minutes == 30  # saved before these existed


@pytest.mark.parametrize("extra, words", [
    ({"day_close": "8pm"}, "day_close"),
    ({"day_close": "24:00"}, "day_close"),
    ({"alerts": {"wait_amber_minutes": "15"}}, "wait_amber_minutes"),
    ({"alerts": {"wait_amber_minutes": 30, "wait_red_minutes": 20}}, "wait_red_minutes"),
    ({"alerts": {"queue_length": -1}}, "queue_length"),
])
def test_bad_alert_settings_name_the_setting(extra, words):
    with pytest.raises(SiteError, match=words):
        site_from_dict({**BASE, **extra})


def _state(site, waiting=(), active=(), appointments=(), total=None):
    q = QueueState("reg", "Registration", "A", True, tuple(waiting),
                   estimates.QueueModel(1, (), 4.0, 2.0, learned=False),
                   len(waiting) if total is None else total)
    rooms = tuple(RoomState(r.id, r.name, r.kind, "available", None) for r in site.rooms)
    return SiteState(site, "0-0", (q,), tuple(active), rooms,
                     appointments=tuple(appointments))


def test_a_row_shows_the_moves_of_its_status_and_flags_with_labels():
    site = site_from_dict(BASE)
    visit = {"id": "v1", "ticket": "A001", "queue": "reg", "status": "called", "name": "Ana",
             "priority": "1", "flags": '["interpreter", "insurance_verify"]', "language": "es",
             "room": "desk-1", "called_ms": "1700000000000", "checked_in_ms": "1699999000000",
             "appointment_id": "ap1"}
    appts = {"ap1": {"id": "ap1", "start_ms": "1700000000000", "provider": "Dr. Okafor"}}
    r = board.row(visit, site, appts)
    assert r["main"] == ["done", "no-show"]
    assert set(r["more"]) == {"recall", "room", "return", "transfer", "left"}
    assert r["recall_due_ms"] == 1700000000000 + 3 * 60_000  # "Recall?" from then on
    assert [c["label"] for c in r["chips"]] == ["Interp: ES", "Verify ins."]
    assert r["room"] == "Desk 1" and r["provider"] == "Dr. Okafor"
    assert r["appt_time"] == "4:13 PM"  # the site's time zone, on its 12-hour clock
    on_24h = site_from_dict({**BASE, "time_format": "24h"})
    assert board.row(visit, on_24h, appts)["appt_time"] == "16:13"


def test_a_kiosk_desk_ticket_says_why_the_patient_was_sent_to_the_desk():
    site = site_from_dict(BASE)
    visit = {"id": "v2", "ticket": "A002", "queue": "reg", "status": "waiting",
             "flags": '["see_desk"]', "desk_reason": "too_many_tries",
             "checked_in_ms": "1699999000000"}
    (chip,) = board.row(visit, site, {})["chips"]
    assert chip["label"] == "See desk: too many tries"


def test_a_long_queue_raises_a_banner_and_expected_lists_only_those_not_arrived():
    site = site_from_dict({**BASE, "alerts": {"queue_length": 2}})
    waiting = [{"id": f"v{i}", "ticket": f"A00{i}", "queue": "reg", "status": "waiting",
                "checked_in_ms": "1700000000000"} for i in range(3)]
    appointments = [
        {"id": "a1", "start_ms": "1700000000000", "status": "booked", "first_name": "Lu",
         "last_name": "Xu", "queue": "reg", "provider": ""},
        {"id": "a2", "start_ms": "1700000000000", "status": "arrived", "first_name": "Bo",
         "last_name": "Li", "queue": "reg", "provider": ""}]
    out = board.fragments(_state(site, waiting, appointments=appointments))
    assert "Registration has 3 waiting" in out["board-alerts"]
    assert "Lu Xu" in out["board-expected"] and "Bo Li" not in out["board-expected"]
    assert set(out) >= {"board-queue-reg", "board-active", "board-rooms", "board-expected",
                        "board-alerts", "board-message"}
    quiet = board.fragments(_state(site_from_dict(BASE), waiting))
    assert "waiting (alert" not in quiet["board-alerts"]


def test_a_patients_language_is_marked_unless_it_is_the_sites_own():
    english = site_from_dict(BASE)
    spanish = site_from_dict({**BASE, "language": "es"})
    assert board.language_mark("es", english) == {"code": "ES", "name": "Spanish"}
    assert board.language_mark("pt-BR", english)["name"] == "Portuguese (Brazil)"
    assert board.language_mark("en", english) is None
    assert board.language_mark("es", spanish) is None
    assert board.language_mark("", english) is None
    assert board.language_mark("zz", english) == {"code": "ZZ", "name": "zz"}


def test_a_spanish_site_board_names_its_queues_and_rooms_in_spanish():
    site = site_from_dict({**BASE, "language": "es", "queues": [
        {"id": "reg", "name": "Registration", "prefix": "A", "names": {"es": "Registro"}}],
        "rooms": [{"id": "desk-1", "name": "Desk 1", "kind": "desk",
                   "names": {"es": "Ventanilla 1"}},
                  {"id": "room-1", "name": "Room 1", "names": {"es": "Consultorio 1"}}]})
    waiting = [{"id": "w1", "ticket": "A001", "queue": "reg", "status": "waiting"}]
    roomed = [{"id": "v9", "ticket": "A009", "queue": "reg", "status": "in_room",
               "room": "room-1"}]
    out = board.fragments(_state(site, waiting, roomed))
    assert ">Registro</h2>" in out["board-queue-reg"]
    assert "Registration" not in out["board-queue-reg"]
    assert "Consultorio 1" in out["board-rooms"] and "Room 1" not in out["board-rooms"]
    assert "Ventanilla 1" in out["board-rooms"]
    assert "Consultorio 1" in out["board-active"]
    # An English site keeps the names it configures.
    english = board.fragments(_state(site_from_dict(BASE), waiting))
    assert ">Registration</h2>" in english["board-queue-reg"]
