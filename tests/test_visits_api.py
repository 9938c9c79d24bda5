"""Visits through the HTTP API: check-in, moves, call-next, and their refusals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from app.visits import FINAL, MOVES, STATUSES

# How to bring a fresh waiting visit into each status, with moves the table allows.
REACH: dict[str, list[tuple[str, dict[str, str]]]] = {
    "waiting": [],
    "called": [("call", {})],
    "in_room": [("room", {"room": "room-1"})],
    "checkout": [("room", {"room": "room-1"}), ("checkout", {})],
    "done": [("call", {}), ("done", {})],
    "no_show": [("call", {}), ("no-show", {})],
    "left": [("left", {})],
}

# The body each action needs; the room differs from REACH's so `room` never re-enters it.
BODIES: dict[str, dict[str, str]] = {
    "call": {},
    "recall": {},
    "room": {"room": "room-2"},
    "return": {},
    "transfer": {"queue": "nurse"},
    "checkout": {},
    "done": {},
    "no-show": {},
    "left": {},
}


async def visit_in(api, status: str, **fields: Any) -> dict[str, Any]:
    """A new visit in queue `reg`, moved into `status` through the API."""
    visit = await api.check_in(**fields)
    for action, body in REACH[status]:
        r = await api.post(f"/visits/{visit['id']}/{action}", body)
        assert r.status_code == 200, r.text
        visit = r.json()
    assert visit["status"] == status
    return visit


async def move(api, visit: dict[str, Any], action: str, body: dict[str, Any] | None = None):
    return await api.post(f"/visits/{visit['id']}/{action}", body or {})


async def snapshot(api) -> dict[str, Any]:
    r = await api.get("/snapshot")
    assert r.status_code == 200, r.text
    return r.json()


async def waiting_ids(api, queue: str = "reg") -> list[str]:
    snap = await snapshot(api)
    (q,) = [q for q in snap["queues"] if q["id"] == queue]
    return [v["id"] for v in q["waiting"]]


async def room_state(api, room_id: str) -> tuple[str, str | None]:
    snap = await snapshot(api)
    (room,) = [r for r in snap["rooms"] if r["id"] == room_id]
    return room["status"], room["visit_id"]


async def call_next(api, queue: str = "reg", body: dict[str, Any] | None = None):
    return await api.post(f"/queues/{queue}/call-next", body or {})


def test_every_action_of_the_table_has_a_body_and_every_status_a_way_in():
    # Guards the parametrisation below: a move added to the table gets tested.
    assert set(BODIES) == set(MOVES)
    assert set(REACH) == set(STATUSES)


async def test_check_in_answers_the_visit_with_ticket_and_position(api):
    first = await api.check_in(name="Ana Lima")
    second = await api.check_in(name="Bo Chen")
    assert first["ticket"] == "A001" and second["ticket"] == "A002"
    assert first["status"] == "waiting" and first["position"] == 1
    assert second["position"] == 2
    assert second["eta_minutes"]["high"] > second["eta_minutes"]["low"] >= 0


ALLOWED = [pytest.param(action, status, id=f"{action}-from-{status}")
           for action, m in MOVES.items() for status in STATUSES if status in m.allowed_from]
FORBIDDEN = [pytest.param(action, status, id=f"{action}-from-{status}")
             for action, m in MOVES.items() for status in STATUSES
             if status not in m.allowed_from]


@pytest.mark.parametrize(("action", "status"), ALLOWED)
async def test_an_allowed_move_answers_the_visit_in_its_new_status(api, action, status):
    visit = await visit_in(api, status)
    before = await api.event_id()

    r = await move(api, visit, action, BODIES[action])

    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["id"] == visit["id"]
    assert moved["status"] == MOVES[action].to
    stored = (await api.get(f"/visits/{visit['id']}")).json()
    assert stored["status"] == MOVES[action].to
    assert await api.event_id() != before
    if action == "transfer":
        assert stored["queue"] == "nurse"
    if action == "room":
        assert stored["room"] == "room-2"


@pytest.mark.parametrize(("action", "status"), FORBIDDEN)
async def test_a_forbidden_move_answers_409_with_the_current_status(api, action, status):
    visit = await visit_in(api, status)
    stored_before = (await api.get(f"/visits/{visit['id']}")).json()
    before = await snapshot(api)

    r = await move(api, visit, action, BODIES[action])

    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "conflict"
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    assert (await api.get(f"/visits/{visit['id']}")).json() == stored_before
    assert await snapshot(api) == before


@pytest.mark.parametrize("final", sorted(FINAL))
async def test_a_finished_visit_refuses_every_move_and_is_in_no_line(api, final):
    visit = await visit_in(api, final)
    for action in MOVES:
        r = await move(api, visit, action, BODIES[action])
        assert r.status_code == 409, (action, r.text)
        assert r.json()["status"] == final
    snap = await snapshot(api)
    listed = [v["id"] for q in snap["queues"] for v in q["waiting"]]
    listed += [v["id"] for v in snap["calling"]]
    assert visit["id"] not in listed
    assert all(r["visit_id"] != visit["id"] for r in snap["rooms"])
    stored = (await api.get(f"/visits/{visit['id']}")).json()
    assert stored["status"] == final and stored["done_at"] is not None


async def test_call_without_a_room_summons_the_patient_and_leaves_rooms_alone(api):
    visit = await api.check_in(name="Ana Lima")
    rooms_before = (await snapshot(api))["rooms"]

    r = await move(api, visit, "call")

    assert r.status_code == 200
    called = r.json()
    assert called["status"] == "called" and called["room"] is None
    assert called["called_at"] is not None and called["position"] is None
    snap = await snapshot(api)
    assert [v["id"] for v in snap["calling"]] == [visit["id"]]
    assert snap["rooms"] == rooms_before
    assert await waiting_ids(api) == []


async def test_a_recall_calls_the_patient_again_to_the_same_room_and_says_so(api):
    visit = await api.check_in(name="Ana Lima")
    called = (await move(api, visit, "call", {"room": "room-3"})).json()
    first_call = (await snapshot(api))["calling"][0]["called_at"]

    r = await move(api, visit, "recall")

    assert r.status_code == 200, r.text
    recalled = r.json()
    assert recalled["status"] == "called" and recalled["room"] == "room-3"
    assert recalled["called_at"] > called["called_at"]
    (calling,) = (await snapshot(api))["calling"]
    assert calling["id"] == visit["id"] and calling["called_at"] > first_call
    assert await room_state(api, "room-3") == ("occupied", visit["id"])
    (event,) = await api.events("visit.recalled")
    assert event["visit"]["ticket"] == visit["ticket"]


async def test_call_to_a_room_marks_the_room_occupied_by_that_patient(api):
    visit = await api.check_in(name="Ana Lima")

    r = await move(api, visit, "call", {"room": "room-3"})

    assert r.status_code == 200
    assert r.json()["room"] == "room-3" and r.json()["status"] == "called"
    assert await room_state(api, "room-3") == ("occupied", visit["id"])
    assert await room_state(api, "room-1") == ("available", None)


async def test_rooming_a_patient_marks_the_room_occupied(api):
    visit = await api.check_in()

    r = await move(api, visit, "room", {"room": "room-2"})

    assert r.json()["status"] == "in_room" and r.json()["roomed_at"] is not None
    assert await room_state(api, "room-2") == ("occupied", visit["id"])


async def test_rooming_a_patient_called_to_a_desk_frees_the_desk(api):
    visit = await api.check_in()
    await move(api, visit, "call", {"room": "desk-1"})

    await move(api, visit, "room", {"room": "room-1"})

    assert await room_state(api, "desk-1") == ("available", None)
    assert await room_state(api, "room-1") == ("occupied", visit["id"])


@pytest.mark.parametrize(("leave", "body"), [
    ("checkout", {}), ("done", {}), ("return", {}), ("transfer", {"queue": "lab"}),
])
async def test_a_room_the_patient_leaves_needs_cleaning(api, leave, body):
    visit = await visit_in(api, "in_room")
    assert await room_state(api, "room-1") == ("occupied", visit["id"])

    r = await move(api, visit, leave, body)

    assert r.status_code == 200, r.text
    assert r.json()["room"] is None
    assert await room_state(api, "room-1") == ("needs_cleaning", None)


@pytest.mark.parametrize("into", ["call", "room"])
async def test_a_desk_the_patient_leaves_is_available_again(api, into):
    visit = await api.check_in()
    await move(api, visit, into, {"room": "desk-1"})
    assert await room_state(api, "desk-1") == ("occupied", visit["id"])

    r = await move(api, visit, "done")

    assert r.status_code == 200
    assert await room_state(api, "desk-1") == ("available", None)


async def test_a_room_a_no_show_was_only_called_to_needs_no_cleaning(api):
    visit = await api.check_in()
    await move(api, visit, "call", {"room": "room-2"})

    await move(api, visit, "no-show")

    assert await room_state(api, "room-2") == ("available", None)


async def test_calling_into_an_occupied_room_is_refused_and_changes_nothing(api):
    inside = await visit_in(api, "in_room")
    waiting = await api.check_in(name="Bo Chen")
    before = await snapshot(api)

    r = await move(api, waiting, "call", {"room": "room-1"})

    assert r.status_code == 409
    assert r.json()["error"] == "room_occupied"
    assert await snapshot(api) == before
    assert await room_state(api, "room-1") == ("occupied", inside["id"])


async def test_call_next_into_an_occupied_room_keeps_the_head_of_the_line_waiting(api):
    await visit_in(api, "in_room")
    head = await api.check_in(name="Bo Chen")
    before = await snapshot(api)

    r = await call_next(api, body={"room": "room-1"})

    assert r.status_code == 409
    assert await snapshot(api) == before
    assert await waiting_ids(api) == [head["id"]]


@pytest.mark.parametrize(("action", "body"), [
    ("call", {"room": "room-99"}), ("room", {"room": "room-99"}), ("room", {}),
])
async def test_a_move_to_an_unknown_or_missing_room_answers_422(api, action, body):
    visit = await api.check_in()
    before = await snapshot(api)

    r = await move(api, visit, action, body)

    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid"
    assert await snapshot(api) == before


async def test_return_puts_a_called_patient_back_ahead_of_later_arrivals(api):
    first = await api.check_in(name="First")
    second = await api.check_in(name="Second")
    called = (await call_next(api)).json()
    assert called["id"] == first["id"]
    third = await api.check_in(name="Third")

    r = await move(api, first, "return")

    assert r.status_code == 200
    assert r.json()["status"] == "waiting" and r.json()["position"] == 1
    assert await waiting_ids(api) == [first["id"], second["id"], third["id"]]
    assert (await call_next(api)).json()["id"] == first["id"]


async def test_return_from_a_room_keeps_the_original_arrival_order(api):
    first = await visit_in(api, "in_room", name="First")
    second = await api.check_in(name="Second")

    await move(api, first, "return")

    assert await waiting_ids(api) == [first["id"], second["id"]]


async def test_transfer_moves_the_patient_behind_those_already_waiting_there(api):
    # Ana arrived before anyone reached the nurse, yet queues there from her transfer.
    visit = await api.check_in("reg", name="Ana Lima")
    other = await api.check_in("reg", name="Bo Chen")
    already = await api.check_in("nurse", name="Already at nurse")

    r = await move(api, visit, "transfer", {"queue": "nurse"})

    assert r.status_code == 200
    moved = r.json()
    assert moved["queue"] == "nurse" and moved["status"] == "waiting"
    assert moved["position"] == 2
    assert await waiting_ids(api, "reg") == [other["id"]]
    assert await waiting_ids(api, "nurse") == [already["id"], visit["id"]]
    assert (await call_next(api, "nurse")).json()["id"] == already["id"]
    assert (await call_next(api, "nurse")).json()["id"] == visit["id"]


@pytest.mark.parametrize("body", [{"queue": "radiology"}, {}], ids=["unknown", "missing"])
async def test_transfer_to_an_unknown_or_missing_queue_answers_422(api, body):
    visit = await api.check_in()
    before = await snapshot(api)

    r = await move(api, visit, "transfer", body)

    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid"
    assert await snapshot(api) == before
    assert (await api.get(f"/visits/{visit['id']}")).json()["queue"] == "reg"


async def test_call_next_takes_urgent_before_earlier_normal(api):
    normal = await api.check_in(name="Normal", priority=0)
    urgent = await api.check_in(name="Urgent", priority=2)

    assert (await call_next(api)).json()["id"] == urgent["id"]
    assert (await call_next(api)).json()["id"] == normal["id"]


async def test_call_next_takes_urgent_then_high_then_normal(api):
    normal = await api.check_in(priority=0)
    high = await api.check_in(priority=1)
    urgent = await api.check_in(priority=2)

    order = [(await call_next(api)).json()["id"] for _ in range(3)]

    assert order == [urgent["id"], high["id"], normal["id"]]


async def test_call_next_takes_the_earliest_arrival_among_equal_priority(api):
    visits = [await api.check_in(name=f"P{i}") for i in range(4)]

    order = [(await call_next(api)).json()["id"] for _ in range(4)]

    assert order == [v["id"] for v in visits]


async def test_call_next_answers_the_called_visit(api):
    visit = await api.check_in(name="Ana Lima")

    r = await call_next(api)

    assert r.status_code == 200
    assert r.json()["id"] == visit["id"] and r.json()["status"] == "called"
    assert (await api.get(f"/visits/{visit['id']}")).json()["status"] == "called"


async def test_call_next_with_a_room_puts_the_patient_in_that_room(api):
    visit = await api.check_in()

    r = await call_next(api, body={"room": "room-2"})

    assert r.json()["id"] == visit["id"] and r.json()["room"] == "room-2"
    assert await room_state(api, "room-2") == ("occupied", visit["id"])


async def test_call_next_answers_204_when_nobody_waits(api):
    await api.check_in("nurse")  # someone waits, but in another queue
    before = await api.event_id()

    r = await call_next(api, "reg")

    assert r.status_code == 204
    assert r.content == b""
    assert await api.event_id() == before
    assert len(await waiting_ids(api, "nurse")) == 1


async def test_call_next_answers_204_once_the_line_is_called_out(api):
    await api.check_in()
    assert (await call_next(api)).status_code == 200
    assert (await call_next(api)).status_code == 204


async def test_repeated_idempotency_key_answers_the_same_visit_and_creates_nothing(api):
    headers = {"Idempotency-Key": "kiosk-3-tap-0042"}
    first = await api.post("/visits", {"queue": "reg", "name": "Ana Lima"}, headers=headers)
    assert first.status_code == 201
    before = await snapshot(api)

    again = await api.post("/visits", {"queue": "reg", "name": "Ana Lima"}, headers=headers)

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["ticket"] == first.json()["ticket"]
    after = await snapshot(api)
    assert after["event_id"] == before["event_id"]
    assert await waiting_ids(api) == [first.json()["id"]]


async def test_a_retried_check_in_does_not_requeue_a_patient_already_called(api):
    headers = {"Idempotency-Key": "ehr-visit-981"}
    first = await api.post("/visits", {"queue": "reg"}, headers=headers)
    await call_next(api)

    again = await api.post("/visits", {"queue": "reg"}, headers=headers)

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "called"
    assert await waiting_ids(api) == []


async def test_a_different_idempotency_key_checks_in_a_new_visit(api):
    a = await api.post("/visits", {"queue": "reg"}, headers={"Idempotency-Key": "k-1"})
    b = await api.post("/visits", {"queue": "reg"}, headers={"Idempotency-Key": "k-2"})

    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert await waiting_ids(api) == [a.json()["id"], b.json()["id"]]


async def book_today(api, appointment_id: str = "a1") -> None:
    start = datetime.now(UTC).isoformat()
    r = await api.post("/appointments", [{
        "id": appointment_id, "start": start, "queue": "reg", "first_name": "Ada",
        "last_name": "Okafor", "birth_date": "1961-02-03"}])
    assert r.json()["imported"] == 1, r.text


async def test_twelve_desks_checking_in_one_appointment_make_one_visit(api):
    await book_today(api)

    responses = await asyncio.gather(*(
        api.post("/visits", {"queue": "reg", "appointment_id": "a1"}, role="desk")
        for _ in range(12)))

    assert sorted(r.status_code for r in responses) == [200] * 11 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(await waiting_ids(api)) == 1
    (created,) = [r.json() for r in responses if r.status_code == 201]
    assert created["name"] == "Ada Okafor" and created["appointment_id"] == "a1"
    assert len(await api.events("visit.checked_in")) == 1
    assert len(await api.events("appointment.arrived")) == 1


async def test_a_kiosk_credential_cannot_check_in_by_appointment_id_known_or_not(api):
    await book_today(api)
    known = await api.post("/visits", {"queue": "reg", "appointment_id": "a1"}, role="kiosk")
    unknown = await api.post("/visits", {"queue": "reg", "appointment_id": "zz9"},
                             role="kiosk")
    assert known.status_code == unknown.status_code == 403
    assert known.json() == unknown.json()
    assert known.json()["error"] == "forbidden"
    assert "Okafor" not in known.text
    assert await waiting_ids(api) == []
    assert await api.events("appointment.arrived") == []
    # The desk (and an integration with a desk token) still can.
    r = await api.post("/visits", {"queue": "reg", "appointment_id": "a1"})
    assert r.status_code == 201 and r.json()["name"] == "Ada Okafor"


async def test_a_kiosk_cannot_fetch_another_callers_visit_by_its_idempotency_key(api):
    key = {"Idempotency-Key": "front-desk-0042"}
    desk = await api.post("/visits", {"queue": "reg", "name": "Ada Okafor"}, headers=key)
    kiosk = await api.post("/visits", {"queue": "reg"}, role="kiosk", headers=key)
    assert desk.status_code == kiosk.status_code == 201
    assert kiosk.json()["id"] != desk.json()["id"] and "Okafor" not in kiosk.text
    again = await api.post("/visits", {"queue": "reg"}, role="kiosk", headers=key)
    assert again.status_code == 200 and again.json()["id"] == kiosk.json()["id"]


async def test_a_check_in_by_appointment_repeated_after_a_call_answers_the_called_visit(api):
    await book_today(api)
    first = await api.post("/visits", {"queue": "reg", "appointment_id": "a1"})
    await call_next(api)

    again = await api.post("/visits", {"queue": "reg", "appointment_id": "a1"})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["status"] == "called"
    assert await waiting_ids(api) == []
