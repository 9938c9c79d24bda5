"""`GET .../events?after=&limit=`: the site's changes, oldest first, resumable by id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

VISIT_FIELDS = {"id", "site", "ticket", "queue", "status", "name", "priority", "flags", "room",
                "appointment_id", "checked_in_at", "called_at", "roomed_at", "done_at",
                "position", "eta_minutes"}
STATUS_AFTER = {
    "visit.checked_in": "waiting",
    "visit.called": "called",
    "visit.roomed": "in_room",
    "visit.returned": "waiting",
    "visit.transferred": "waiting",
    "visit.checkout": "checkout",
    "visit.done": "done",
    "visit.no_show": "no_show",
    "visit.left": "left",
}


async def events(api, **params: Any) -> dict[str, Any]:
    r = await api.get("/events", params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def move(api, visit_id: str, action: str, body: dict[str, Any] | None = None):
    r = await api.post(f"/visits/{visit_id}/{action}", body or {})
    assert r.status_code == 200, r.text
    return r.json()


def order(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


async def test_events_list_a_patients_moves_in_the_order_they_happened(api):
    mark = await api.event_id()
    visit = await api.check_in(name="Ana Lima")
    await move(api, visit["id"], "call")
    await move(api, visit["id"], "room", {"room": "room-1"})
    await move(api, visit["id"], "checkout")
    await move(api, visit["id"], "done")

    page = await events(api, after=mark)

    found = page["events"]
    assert [(e["type"], (e.get("visit") or e.get("room"))["status"]) for e in found] == [
        ("visit.checked_in", "waiting"),
        ("visit.called", "called"),
        ("visit.roomed", "in_room"),
        ("room.updated", "occupied"),
        ("visit.checkout", "checkout"),
        ("room.updated", "needs_cleaning"),
        ("visit.done", "done"),
    ]
    assert [order(e["id"]) for e in found] == sorted({order(e["id"]) for e in found})
    assert page["last_id"] == found[-1]["id"] == await api.event_id()


async def test_without_after_the_events_start_at_the_oldest_the_stream_holds(api):
    visit = await api.check_in()

    page = await events(api)

    assert page == await events(api, after="0")
    checked_in = [e for e in page["events"] if e["type"] == "visit.checked_in"]
    assert [e["visit"]["id"] for e in checked_in] == [visit["id"]]


async def test_after_an_event_id_resumes_with_the_next_event_and_misses_none(api):
    mark = await api.event_id()
    for i in range(5):
        await api.check_in(name=f"P{i}")
    everything = (await events(api, after=mark))["events"]
    assert len(everything) == 5

    for i, event in enumerate(everything):
        resumed = await events(api, after=event["id"])
        assert resumed["events"] == everything[i + 1:]


async def test_limit_answers_the_oldest_events_and_last_id_pages_through_the_rest(api):
    mark = await api.event_id()
    tickets = [(await api.check_in())["ticket"] for _ in range(7)]

    pages, cursor = [], mark
    while True:
        page = await events(api, after=cursor, limit=3)
        if not page["events"]:
            assert page["last_id"] == cursor
            break
        assert len(page["events"]) <= 3
        assert page["last_id"] == page["events"][-1]["id"]
        pages.append([e["visit"]["ticket"] for e in page["events"]])
        cursor = page["last_id"]

    assert pages == [tickets[0:3], tickets[3:6], tickets[6:7]]


async def test_last_id_stays_the_given_id_when_nothing_is_newer(api):
    await api.check_in()
    latest = await api.event_id()

    page = await events(api, after=latest)

    assert page == {"events": [], "last_id": latest}


async def test_a_visit_event_has_id_type_time_actor_and_the_staff_view_of_the_visit(api):
    mark = await api.event_id()
    visit = await api.check_in(name="Ana Lima", flags=["interpreter"], priority=1)

    (event,) = (await events(api, after=mark))["events"]

    assert set(event) == {"id", "type", "at", "actor", "visit"}
    assert event["type"] == "visit.checked_in"
    assert event["id"] == await api.event_id()
    at = datetime.fromisoformat(event["at"])
    assert at.utcoffset() is not None
    assert at == datetime.fromisoformat(visit["checked_in_at"])
    assert event["actor"].startswith("token:")
    assert set(event["visit"]) >= VISIT_FIELDS
    assert event["visit"]["id"] == visit["id"]
    assert event["visit"]["name"] == "Ana Lima"
    assert event["visit"]["flags"] == ["interpreter"]
    assert event["visit"]["priority"] == 1


async def test_the_actor_tells_a_kiosk_check_in_from_the_desks_moves(api):
    mark = await api.event_id()
    r = await api.post("/visits", {"queue": "reg"}, role="kiosk")
    await move(api, r.json()["id"], "call")
    await move(api, r.json()["id"], "return")

    kiosk, desk, desk_again = [e["actor"] for e in (await events(api, after=mark))["events"]]

    assert desk == desk_again
    assert kiosk != desk


async def test_each_move_emits_its_event_with_the_visit_after_the_move(api):
    mark = await api.event_id()
    first = await api.check_in()
    await move(api, first["id"], "call")
    await move(api, first["id"], "return")
    await move(api, first["id"], "room", {"room": "room-1"})
    await move(api, first["id"], "transfer", {"queue": "nurse"})
    await move(api, first["id"], "call")
    await move(api, first["id"], "no-show")
    second = await api.check_in()
    await move(api, second["id"], "room", {"room": "room-2"})
    await move(api, second["id"], "checkout")
    await move(api, second["id"], "done")
    third = await api.check_in()
    await move(api, third["id"], "left")

    found = [e for e in (await events(api, after=mark))["events"] if "visit" in e]

    assert {e["type"] for e in found} == set(STATUS_AFTER)
    for e in found:
        assert e["visit"]["status"] == STATUS_AFTER[e["type"]], e
    transferred = next(e for e in found if e["type"] == "visit.transferred")
    assert transferred["visit"]["queue"] == "nurse"


async def test_a_visit_event_carries_the_position_at_the_time_of_the_event(api):
    mark = await api.event_id()
    visits = [await api.check_in() for _ in range(3)]
    await move(api, visits[0]["id"], "call")
    await move(api, visits[0]["id"], "return")

    found = (await events(api, after=mark))["events"]

    assert [(e["type"], e["visit"]["position"]) for e in found] == [
        ("visit.checked_in", 1), ("visit.checked_in", 2), ("visit.checked_in", 3),
        ("visit.called", None), ("visit.returned", 1),
    ]


async def test_room_events_carry_the_room_instead_of_a_visit(api):
    visit = await api.check_in()
    mark = await api.event_id()
    await move(api, visit["id"], "room", {"room": "room-2"})
    await move(api, visit["id"], "done")
    cleaned = await api.post("/rooms/room-2", {"status": "available"})
    assert cleaned.status_code == 200

    rooms = [e for e in (await events(api, after=mark))["events"] if e["type"] == "room.updated"]

    assert all(set(e) == {"id", "type", "at", "actor", "room"} for e in rooms)
    assert [e["room"] for e in rooms] == [
        {"id": "room-2", "status": "occupied", "visit_id": visit["id"]},
        {"id": "room-2", "status": "needs_cleaning", "visit_id": None},
        {"id": "room-2", "status": "available", "visit_id": None},
    ]


async def test_a_refused_move_adds_no_event(api):
    visit = await api.check_in()
    mark = await api.event_id()

    r = await api.post(f"/visits/{visit['id']}/checkout", {})

    assert r.status_code == 409
    assert await events(api, after=mark) == {"events": [], "last_id": mark}
