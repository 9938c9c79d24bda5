"""The lobby-safe view: nothing personal can reach a waiting room."""

from __future__ import annotations

import dataclasses
import json

from app.lobby import LobbyCall, LobbyQueue, LobbyTicket, LobbyView, lobby_view
from app.sites import site_from_dict
from app.state import parse_snapshot
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
    "calls": {"reg": {}},
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
