"""The move table of docs/api.md, as pure Python."""

from __future__ import annotations

import pytest

from app.visits import FINAL, MOVES, STATUSES, visit_json

TABLE = {
    "call": ({"waiting"}, "called"),
    "recall": ({"called"}, "called"),
    "room": ({"waiting", "called"}, "in_room"),
    "return": ({"called", "in_room"}, "waiting"),
    "transfer": ({"waiting", "called", "in_room"}, "waiting"),
    "checkout": ({"in_room"}, "checkout"),
    "done": ({"called", "in_room", "checkout"}, "done"),
    "no-show": ({"called"}, "no_show"),
    "left": ({"waiting", "called"}, "left"),
}


def test_the_table_is_exactly_designs():
    assert {a: (set(m.allowed_from), m.to) for a, m in MOVES.items()} == TABLE


@pytest.mark.parametrize("action", sorted(TABLE))
@pytest.mark.parametrize("status", STATUSES)
def test_each_move_is_allowed_only_from_its_statuses(action, status):
    assert (status in MOVES[action].allowed_from) == (status in TABLE[action][0])


@pytest.mark.parametrize("status", sorted(FINAL))
def test_no_move_leaves_a_final_status(status):
    assert not any(status in move.allowed_from for move in MOVES.values())


def test_visit_json_has_position_only_while_waiting():
    fields = {"id": "v1", "status": "called", "flags": '["copay_due"]', "priority": "1"}
    view = visit_json(fields, position=3, eta={"low": 1, "high": 2})
    assert view["position"] is None and view["eta_minutes"] is None
    assert view["flags"] == ["copay_due"] and view["priority"] == 1
