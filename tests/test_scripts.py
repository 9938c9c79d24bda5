"""The Lua scripts' own rules against a real Redis: every key declared, no index outliving
its record, and the check-in by appointment done whole inside one script."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest

from app import clock
from app.appointments.schedule import import_entries
from app.appointments.store import AppointmentStore
from app.config import Settings
from app.errors import ApiError
from app.sites import Site
from app.storage import keys, scripts
from app.storage.store import Store


def booking(site: Site, id_: str, start: datetime, **more: str) -> dict[str, str]:
    return {"id": id_, "start": start.isoformat(), "first_name": "Mary Ann",
            "last_name": "Lee", "birth_date": "1970-01-01", **more}


async def book(store: Store, settings: Settings, site: Site, *entries: dict[str, str]) -> None:
    result = await import_entries(store.redis, settings, site, list(entries))
    assert result["errors"] == [], result


# The first argument of every Redis command a script runs: a declared key (K.name,
# K[name]) or a local holding one.
KEY_ARGUMENT = re.compile(r'redis\.call\("(\w+)", ([^,)]+)')
KEY_LOCALS = {"key", "visit_key", "waiting_key", "service_key", "stats_key", "set_key",
              "record_key", "history_key", "history"}


def test_no_script_builds_a_key_name():
    paths = sorted(scripts.HERE.glob("*.lua"))
    assert len(paths) > 10, "the scripts are where the Store loads them from"
    for path in paths:
        text = path.read_text()
        assert "KEYS[" not in text or path.name == "lib.lua", path.name
        for command, key in KEY_ARGUMENT.findall(text):
            assert key.startswith(("K.", "K[")) or key in KEY_LOCALS, (path.name, command, key)


async def test_call_next_skips_and_cleans_a_visit_whose_record_expired(store, site):
    gone, _ = await store.check_in(site, "reg", actor="t", name="Forgotten")
    after, _ = await store.check_in(site, "reg", actor="t", name="Next")
    await store.redis.delete(keys.visit(site.id, gone["id"]))

    called = await store.move(site, None, "call", actor="t", next_queue="reg")

    assert called["id"] == after["id"] and called["status"] == "called"
    assert await store.redis.zrange(keys.waiting(site.id, "reg"), 0, -1) == []
    assert await store.move(site, None, "call", actor="t", next_queue="reg") is None


async def test_call_next_gets_past_a_long_run_of_expired_visits(store, site):
    gone = [(await store.check_in(site, "reg", actor="t"))[0]["id"] for _ in range(40)]
    alive, _ = await store.check_in(site, "reg", actor="t", name="Alive")
    await store.redis.delete(*(keys.visit(site.id, v) for v in gone))

    called = await store.move(site, None, "call", actor="t", next_queue="reg")

    assert called["id"] == alive["id"]
    assert await store.redis.zcard(keys.waiting(site.id, "reg")) == 0


async def test_the_snapshot_skips_and_cleans_ids_whose_record_is_gone(store, site):
    waiting_gone, _ = await store.check_in(site, "reg", actor="t")
    kept, _ = await store.check_in(site, "reg", actor="t", name="Kept")
    roomed, _ = await store.check_in(site, "lab", actor="t")
    await store.move(site, roomed["id"], "room", actor="t", room="room-2")
    await store.redis.delete(keys.visit(site.id, waiting_gone["id"]),
                             keys.visit(site.id, roomed["id"]))

    state = await store.snapshot(site)

    assert [v["id"] for v in state.queue("reg").waiting] == [kept["id"]]
    assert state.queue("reg").total == 1 and state.active == ()
    assert {r.id: r.visit_id for r in state.rooms}["room-2"] is None
    assert await store.redis.zrange(keys.waiting(site.id, "reg"), 0, -1) == [kept["id"]]
    assert await store.redis.zcard(keys.active(site.id)) == 0
    assert await store.redis.hget(keys.room_visit(site.id), "room-2") is None


async def test_a_room_held_by_an_expired_visit_takes_the_next_patient(store, site):
    gone, _ = await store.check_in(site, "reg", actor="t")
    await store.move(site, gone["id"], "room", actor="t", room="room-1")
    await store.redis.delete(keys.visit(site.id, gone["id"]))
    nxt, _ = await store.check_in(site, "reg", actor="t")

    moved = await store.move(site, nxt["id"], "room", actor="t", room="room-1")

    assert moved["room"] == "room-1" and moved["status"] == "in_room"
    assert await store.redis.hget(keys.room_visit(site.id), "room-1") == nxt["id"]


async def test_the_day_list_skips_and_cleans_visits_whose_record_is_gone(
        store, settings, site):
    gone, _ = await store.check_in(site, "reg", actor="t")
    kept, _ = await store.check_in(site, "reg", actor="t")
    await store.redis.delete(keys.visit(site.id, gone["id"]))
    day = clock.local_date(clock.now(), site.tz)

    visits = await AppointmentStore(store.redis, settings).visits_of_day(site, day)

    assert [v["id"] for v in visits] == [kept["id"]]
    assert await store.redis.smembers(keys.day(site.id, day)) == {kept["id"]}


async def test_a_second_check_in_with_one_appointment_answers_the_first_visit(
        store, settings, site):
    await book(store, settings, site, booking(site, "a1", clock.now()))
    first, created = await store.check_in(site, "reg", actor="kiosk-1", appointment_id="a1")
    again, created_again = await store.check_in(site, "reg", actor="kiosk-2",
                                                appointment_id="a1")
    assert (created, created_again) == (True, False)
    assert again["id"] == first["id"] and again["ticket"] == first["ticket"]
    assert await store.redis.zcard(keys.waiting(site.id, "reg")) == 1


async def test_a_check_in_by_appointment_takes_the_patients_name_unless_one_is_given(
        store, settings, site):
    now = clock.now()
    await book(store, settings, site, booking(site, "a1", now),
               booking(site, "a2", now, first_name="Jo", last_name="Park"))
    from_appointment, _ = await store.check_in(site, "reg", actor="t", appointment_id="a1")
    given, _ = await store.check_in(site, "reg", actor="t", appointment_id="a2",
                                    name="Joanna Park")
    assert from_appointment["name"] == "Mary Ann Lee"
    assert given["name"] == "Joanna Park"


@pytest.mark.parametrize(("minutes", "flags"), [
    (-31, ["early"]), (-30, []), (15, []), (16, ["late"])])
async def test_the_arrival_window_flags_come_from_the_appointment_start(
        store, settings, site, minutes, flags):
    start = clock.now().replace(microsecond=0) + timedelta(hours=1)
    await book(store, settings, site, booking(site, "a1", start))
    visit, _ = await store.check_in(site, "reg", actor="t", appointment_id="a1",
                                    flags=["copay_due"],
                                    now=start + timedelta(minutes=minutes))
    assert visit["flags"] == ["copay_due", *flags]


@pytest.mark.parametrize("appointment", ["nope", "gone"])
async def test_an_unknown_or_cancelled_appointment_is_refused_and_writes_nothing(
        store, settings, site, appointment):
    await book(store, settings, site,
               booking(site, "gone", clock.now(), status="cancelled"))
    before = (await store.snapshot(site)).event_id
    with pytest.raises(ApiError) as err:
        await store.check_in(site, "reg", actor="t", appointment_id=appointment)
    assert (err.value.status_code, err.value.extra) == (422, {"field": "appointment_id"})
    assert (await store.snapshot(site)).event_id == before


async def test_an_appointment_cancelled_after_the_kiosk_found_it_is_refused(
        store, settings, site):
    await book(store, settings, site, booking(site, "a1", clock.now()))
    found = await AppointmentStore(store.redis, settings).get(site, "a1")
    assert found is not None and found.status == "booked"
    await book(store, settings, site, booking(site, "a1", clock.now(), status="cancelled"))
    with pytest.raises(ApiError, match="cancelled"):
        await store.check_in(site, "reg", actor="t", appointment_id="a1")
    assert (await AppointmentStore(store.redis, settings).get(site, "a1")).status == \
        "cancelled"


async def test_a_check_in_whose_appointment_visit_expired_makes_a_new_visit(
        store, settings, site):
    await book(store, settings, site, booking(site, "a1", clock.now()))
    first, _ = await store.check_in(site, "reg", actor="t", appointment_id="a1")
    await store.redis.delete(keys.visit(site.id, first["id"]))
    again, created = await store.check_in(site, "reg", actor="t", appointment_id="a1")
    assert created and again["id"] != first["id"]
    linked = await AppointmentStore(store.redis, settings).get(site, "a1")
    assert linked.visit_id == again["id"]


# What a script answers when what its caller read has changed in between


def snapshot_keys(site: Site) -> dict[str, str]:
    s = site.id
    found = {"queues": keys.queue_state(s), "rooms": keys.room_status(s),
             "room_visit": keys.room_visit(s), "active": keys.active(s),
             "events": keys.events(s)}
    for q in site.queues:
        found |= {"waiting:" + q.id: keys.waiting(s, q.id),
                  "service:" + q.id: keys.service(s, q.id)}
    return found


async def test_a_snapshot_not_given_a_listed_visit_asks_to_read_again(store, site):
    visit, _ = await store.check_in(site, "reg", actor="t")
    args = {"queue_ids": [q.id for q in site.queues], "limit": -1}
    script = store.snapshots._script

    strict = json.loads(await scripts.call(script, snapshot_keys(site),
                                           {**args, "lenient": False}))
    lenient = json.loads(await scripts.call(script, snapshot_keys(site),
                                            {**args, "lenient": True}))
    given = json.loads(await scripts.call(
        script, {**snapshot_keys(site), "visit:" + visit["id"]: keys.visit(site.id, visit["id"])},
        {**args, "lenient": False}))

    assert strict == {"retry": True}
    assert lenient["waiting"]["reg"] == {}  # left out, to come as a delta
    assert [v["id"] for v in given["waiting"]["reg"]] == [visit["id"]]


async def test_a_call_next_whose_head_was_not_given_asks_to_read_again(store, site):
    await store.check_in(site, "reg", actor="t")
    s = site.id
    answer = await scripts.call(store._scripts["move"], {
        "active": keys.active(s), "rooms": keys.room_status(s),
        "room_visit": keys.room_visit(s), "events": keys.events(s),
        "audit": keys.audit(s, "2026-01-01"), "stats": keys.stats(s, "2026-01-01"),
        "queues": keys.queue_state(s), "seq": keys.sequence(s),
        "waiting": keys.waiting(s, "reg"), "service": keys.service(s, "reg"),
    }, {**scripts.common(store.settings, clock.now(), "t"), "visit_id": "", "action": "call",
        "allowed_from": ["waiting"], "to": "called", "event": "visit.called", "room": "",
        "target_queue": "", "clean_after_use": True, "desks": [], "queue": "reg",
        "appointment_id": "", "holder_seen": ""})
    assert answer == scripts.RETRY
    assert len(await store.redis.zrange(keys.waiting(s, "reg"), 0, -1)) == 1  # untouched


async def test_moves_keep_the_lobbys_list_of_calls_without_names(store, site):
    a, _ = await store.check_in(site, "reg", actor="t", name="Zebulon Quixote")
    b, _ = await store.check_in(site, "reg", actor="t", name="Philippa Ngata")
    await store.move(site, a["id"], "call", actor="t", room="desk-1")
    await store.move(site, a["id"], "room", actor="t", room="room-3")
    await store.move(site, a["id"], "done", actor="t")
    await store.move(site, b["id"], "room", actor="t", room="room-1")
    await store.move(site, b["id"], "return", actor="t")

    raw = await store.redis.lrange(keys.lobby_calls(site.id), 0, -1)
    listed = [json.loads(r) for r in reversed(raw)]
    assert [(c["ticket"], c["kind"], c["room"]) for c in listed] == [
        (a["ticket"], "call", "desk-1"), (a["ticket"], "room", "room-3"),
        (b["ticket"], "room", "room-1"), (b["ticket"], "withdrawn", "")]
    assert "Zebulon" not in "".join(raw) and "Philippa" not in "".join(raw)
    assert 0 < await store.redis.pttl(keys.lobby_calls(site.id)) <= 3_600_000
    # The snapshot hands the list on, after the visits have moved on.
    state = await store.snapshot(site)
    assert [c["kind"] for c in state.lobby_calls] == ["withdrawn", "room", "room", "call"]
