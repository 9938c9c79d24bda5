"""The lobby-safe view: nothing personal can reach a waiting room."""

from __future__ import annotations

import dataclasses
import json

import displays.lobby
from app.sites import site_from_dict
from app.visits.lobby import LobbyCall, LobbyQueue, LobbyTicket, LobbyView, lobby_view
from app.visits.state import SiteState, parse_snapshot
from displays.lobby import fragments as lobby_fragments
from kiosk.fragments import kiosk as kiosk_fragments

SITE = site_from_dict({
    "id": "s1", "name": "Clinic",
    "queues": [{"id": "reg", "name": "Registration", "prefix": "A"}],
    "rooms": [{"id": "room-3", "name": "Room 3"}],
})
SECRET = "Zebulon Quixote-Marchetti"


def _visit(vid: str, ticket: str, status: str, **extra: str) -> dict[str, str]:
    return {"id": vid, "ticket": ticket, "queue": "reg", "status": status, "name": SECRET,
            "flags": '["interpreter"]', "appointment_id": "appt-77", "priority": "0",
            "checked_in_at": "2026-11-26T15:00:00.000+00:00", **extra}


STATE = parse_snapshot(SITE, json.dumps({
    "event_id": "5-0",
    "queues": {"reg": "open"},
    "waiting": {"reg": [_visit("v1", "A001", "waiting"), _visit("v2", "A002", "waiting")]},
    "service": {"reg": {}},
    "totals": {"reg": 2},
    "active": [_visit("v3", "A000", "called", room="room-3", called_ms="1800000000000",
                      called_at="2026-11-26T15:10:00.000+00:00")],
    "rooms": {"room-3": "occupied"},
    "room_visits": {"room-3": "v3"},
}), now_ms=1_800_000_000_000)


def test_lobby_types_have_no_field_for_anything_personal():
    personal = {"name", "first_name", "last_name", "birth_date", "reason", "flags",
                "appointment_id", "visit_id", "phone"}
    for cls in (LobbyTicket, LobbyCall, LobbyQueue, LobbyView):
        assert not personal & {f.name for f in dataclasses.fields(cls)}, cls


def test_lobby_view_shows_tickets_rooms_and_estimates():
    view = lobby_view(STATE)
    assert [t.ticket for t in view.queues[0].tickets] == ["A001", "A002"]
    assert view.calling[0].ticket == "A000" and view.calling[0].room == "Room 3"
    assert view.queues[0].tickets[1].eta_high > view.queues[0].tickets[0].eta_low


def test_nothing_personal_in_the_lobby_json_or_markup():
    outputs = [json.dumps(lobby_view(STATE).to_json()), *lobby_fragments(STATE).values(),
               *kiosk_fragments(STATE).values()]
    for text in outputs:
        for secret in (SECRET, "Zebulon", "interpreter", "appt-77", "v1", "v3"):
            assert secret not in text


def test_lobby_markup_carries_the_ids_htmx_swaps_by():
    fragments = lobby_fragments(STATE)
    assert set(fragments) == {"calling", "broadcast", "queue-reg"}
    assert 'id="calling"' in fragments["calling"] and "A000" in fragments["calling"]
    assert 'hx-swap-oob="true"' in fragments["queue-reg"]


def _calls_state() -> SiteState:
    site = site_from_dict({
        "id": "s2", "name": "Clinic", "language": "es",
        "queues": [{"id": "reg", "name": "Registration", "prefix": "A"},
                   {"id": "lab", "name": "Lab", "prefix": "L"}],
        "rooms": [{"id": "room-3", "name": "Room 3"}, {"id": "desk-1", "name": "Desk 1",
                                                        "kind": "desk"}],
    })

    def active(vid: str, ticket: str, queue: str, status: str, ms: int, room: str = "",
               language: str = "") -> dict[str, str]:
        return {**_visit(vid, ticket, status, room=room, called_ms=str(ms),
                         called_at="2026-11-26T15:10:00.000+00:00", language=language),
                "queue": queue}

    return parse_snapshot(site, json.dumps({
        "event_id": "9-0", "queues": {"reg": "open", "lab": "open"},
        "waiting": {"reg": [], "lab": [_visit("w1", "L009", "waiting") | {"queue": "lab"}]},
        "service": {}, "totals": {"reg": 0, "lab": 1},
        "active": [active("a1", "A001", "reg", "checkout", 1_000),
                   active("a2", "A002", "reg", "in_room", 2_000, "room-3"),
                   active("a3", "L003", "lab", "called", 3_000, "desk-1", "en"),
                   active("a4", "A004", "reg", "called", 4_000, "room-3")],
        "rooms": {}, "room_visits": {},
    }), now_ms=1_800_000_000_000)


def test_recent_calls_are_newest_first_without_those_gone_to_check_out():
    view = lobby_view(_calls_state())
    assert [c.ticket for c in view.recent] == ["A004", "L003", "A002"]
    assert [c.ticket for c in view.calling] == ["A004", "L003"]
    assert view.recent[2].room == "Room 3" and not view.recent[2].current


def test_the_calls_carry_what_to_say_in_the_sites_language_then_the_patients():
    view = lobby_view(_calls_state())
    lab = view.recent[1]
    assert [(a.lang, a.text) for a in lab.says] == [
        ("es", "Número L, 0, 0, 3, pase a la ventanilla 1."),
        ("en", "Ticket L, 0, 0, 3, please go to desk 1.")]
    markup = lobby_fragments(_calls_state())["calling"]
    assert "pase a la ventanilla 1" in markup and "Zebulon" not in markup


def test_a_translated_room_and_queue_are_shown_and_said_in_each_language():
    state = _calls_state()
    site = site_from_dict({
        "id": "s2", "name": "Clinic", "language": "es",
        "queues": [{"id": "reg", "name": "Registration", "prefix": "A",
                    "names": {"es": "Registro"}},
                   {"id": "lab", "name": "Lab", "prefix": "L", "names": {"es": "Laboratorio"}}],
        "rooms": [{"id": "room-3", "name": "Draw chair 3",
                   "names": {"es": "Sillón de extracción 3"}},
                  {"id": "desk-1", "name": "Desk 1", "kind": "desk"}],
    })
    state = dataclasses.replace(state, site=site)
    view = lobby_view(state)
    # The lobby is in the site's language: its names, shown and said.
    assert [q.label for q in view.queues] == ["Registro", "Laboratorio"]
    a004 = view.recent[0]
    assert a004.room == "Sillón de extracción 3"
    assert [(a.lang, a.text) for a in a004.says] == [
        ("es", "Número A, 0, 0, 4, pase a Sillón de extracción 3.")]
    # A patient who chose English hears it the English way (the configured name, read as
    # a numbered room, as ever).
    moved = dataclasses.replace(state, active=tuple(
        {**v, "room": "room-3"} if v["id"] == "a3" else v for v in state.active))
    lab = next(c for c in lobby_view(moved).recent if c.ticket == "L003")
    assert [(a.lang, a.text) for a in lab.says] == [
        ("es", "Número L, 0, 0, 3, pase a Sillón de extracción 3."),
        ("en", "Ticket L, 0, 0, 3, please go to room 3.")]
    markup = lobby_fragments(state)
    assert ">Registro</span>" in markup["queue-reg"]
    assert "Sillón de extracción 3" in markup["calling"]
    # The kiosk in English still names the queue as configured.
    assert view.queues[1].name_in("en") == "Lab"


def test_a_view_limited_to_a_queue_has_only_its_column_and_calls():
    view = lobby_view(_calls_state(), only=("lab",))
    assert [q.id for q in view.queues] == ["lab"]
    assert [c.ticket for c in view.recent] == ["L003"]


def _with_calls(state: SiteState, calls: list[dict[str, object]], **site: object) -> SiteState:
    new_site = dataclasses.replace(state.site, extra={**state.site.extra, **site})
    return dataclasses.replace(state, site=new_site, lobby_calls=tuple(reversed(calls)))


def _rec(visit: str, ticket: str, kind: str, ms: int, room: str = "") -> dict[str, object]:
    return {"visit": visit, "ticket": ticket, "queue": "reg", "room": room, "kind": kind,
            "ms": ms, "at": "2026-11-26T15:10:00.000+00:00", "lang": ""}


def test_a_rooming_is_a_call_and_a_finished_call_stays_on_the_list():
    calls = [_rec("gone", "A010", "call", 5_000, "room-3"),       # since done: not active
             _rec("a2", "A002", "room", 6_000, "room-3"),         # roomed from waiting
             _rec("back", "A011", "call", 7_000, "room-3"),
             _rec("back", "A011", "withdrawn", 8_000)]           # returned to waiting
    view = lobby_view(_with_calls(_calls_state(), calls))
    tickets = [c.ticket for c in view.recent]
    assert tickets[:2] == ["A002", "A010"] and "A011" not in tickets
    roomed = view.recent[0]
    assert roomed.current and roomed.kind == "room" and roomed.room == "Room 3"
    assert roomed.hold_until_ms == 6_000 + 120_000
    assert [a.text for a in roomed.says] == ["Número A, 0, 0, 2, pase al consultorio 3."]
    assert view.calling[0].ticket == "A002"
    assert not view.recent[1].current and view.recent[1].room == "Room 3"
    # The API's `calling` stays the visits still called; the rooming is in `recent`.
    body = view.to_json()
    assert [c["ticket"] for c in body["calling"]] == ["A004", "L003"]
    assert body["recent"][0]["kind"] == "room" and body["recent"][0]["called"] is False


def test_a_site_can_keep_roomings_off_the_lobby():
    calls = [_rec("a2", "A002", "room", 6_000, "room-3")]
    view = lobby_view(_with_calls(_calls_state(), calls, lobby={"announce_rooming": False}))
    assert view.calling[0].ticket == "A004"
    assert all(c.kind != "room" for c in view.recent)


def test_the_lobby_setting_must_be_true_or_false():
    import pytest

    from app.sites import SiteError
    with pytest.raises(SiteError, match="announce_rooming must be true or false"):
        site_from_dict({"id": "x", "name": "X", "queues": [{"id": "q", "name": "Q",
                        "prefix": "A"}], "lobby": {"announce_rooming": "no"}})


def test_a_fragment_remembered_from_an_earlier_redraw_is_the_one_drawn_afresh():
    """A redraw renders again only the fragments whose data changed: whatever it takes
    from earlier redraws is what rendering the new state from scratch gives."""
    states = [STATE, _calls_state(),
              _with_calls(STATE, [_rec("v3", "A000", "call", 9_000, "room-3")]),
              dataclasses.replace(STATE, message={"text": "Back at 2", "expires_at": "",
                                                  "expires_ms": 1_900_000_000_000}),
              STATE]
    remembered = [lobby_fragments(s) for s in states]
    displays.lobby._rendered.clear()
    assert remembered == [lobby_fragments(s) for s in states]
    assert "Back at 2" in remembered[3]["broadcast"]
    assert "Back at 2" not in remembered[4]["broadcast"]
    assert remembered[0]["calling"] != remembered[2]["calling"]
