"""Each Lua script against a real Redis, through the Store: moves and their refusals."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from helpers import TEST_SITE, make_settings
from redis import asyncio as aioredis

from app import clock
from app.errors import ApiError
from app.sites import site_from_dict
from app.storage import keys
from app.storage.store import Store


async def _last_event(store: Store, site) -> str:
    return (await store.snapshot(site)).event_id


async def test_tickets_count_up_per_queue_with_the_queue_prefix(store, site):
    tickets = [(await store.check_in(site, q, actor="t"))[0]["ticket"]
               for q in ("reg", "reg", "lab", "reg")]
    assert tickets == ["A001", "A002", "L001", "A003"]


async def test_check_in_to_a_closed_queue_is_refused_and_writes_nothing(store, site):
    await store.set_queue_open(site, "lab", False, "t")
    before = await _last_event(store, site)
    with pytest.raises(ApiError) as err:
        await store.check_in(site, "lab", actor="t", name="Kim")
    assert (err.value.status_code, err.value.code) == (409, "queue_closed")
    assert await _last_event(store, site) == before
    await store.set_queue_open(site, "lab", True, "t")
    visit, _ = await store.check_in(site, "lab", actor="t")
    assert visit["ticket"] == "L001"  # the refused check-in used no number


async def test_a_move_from_the_wrong_status_answers_the_current_status(store, site):
    visit, _ = await store.check_in(site, "reg", actor="t")
    with pytest.raises(ApiError) as err:
        await store.move(site, visit["id"], "checkout", actor="t")
    assert err.value.status_code == 409 and err.value.extra == {"status": "waiting"}


async def test_moving_an_unknown_visit_is_not_found(store, site):
    with pytest.raises(ApiError) as err:
        await store.move(site, "nope", "call", actor="t")
    assert err.value.status_code == 404


async def test_a_room_holds_one_patient_and_needs_cleaning_after(store, site):
    a, _ = await store.check_in(site, "reg", actor="t")
    b, _ = await store.check_in(site, "reg", actor="t")
    await store.move(site, a["id"], "room", actor="t", room="room-1")
    with pytest.raises(ApiError) as err:
        await store.move(site, b["id"], "room", actor="t", room="room-1")
    assert err.value.code == "room_occupied"
    await store.move(site, a["id"], "checkout", actor="t")
    rooms = {r.id: r.status for r in (await store.snapshot(site)).rooms}
    assert rooms["room-1"] == "needs_cleaning"
    await store.set_room_status(site, "room-1", "available", "t")
    moved = await store.move(site, b["id"], "room", actor="t", room="room-1")
    assert moved["room"] == "room-1" and moved["status"] == "in_room"


async def test_a_desk_is_free_again_at_once_and_a_closed_room_takes_nobody(store, site):
    a, _ = await store.check_in(site, "reg", actor="t")
    await store.move(site, a["id"], "call", actor="t", room="desk-1")
    await store.move(site, a["id"], "done", actor="t")
    await store.set_room_status(site, "room-2", "closed", "t")
    b, _ = await store.check_in(site, "reg", actor="t")
    with pytest.raises(ApiError) as err:
        await store.move(site, b["id"], "call", actor="t", room="room-2")
    assert err.value.code == "room_closed"
    rooms = {r.id: r.status for r in (await store.snapshot(site)).rooms}
    assert rooms["desk-1"] == "available" and rooms["room-2"] == "closed"


async def test_a_room_with_a_patient_cannot_be_closed(store, site):
    a, _ = await store.check_in(site, "reg", actor="t")
    await store.move(site, a["id"], "room", actor="t", room="room-3")
    with pytest.raises(ApiError) as err:
        await store.set_room_status(site, "room-3", "closed", "t")
    assert err.value.code == "room_occupied"


async def test_return_keeps_the_place_and_transfer_queues_from_now(store, site):
    first, _ = await store.check_in(site, "reg", actor="t", name="First")
    second, _ = await store.check_in(site, "reg", actor="t", name="Second")
    lab_earlier, _ = await store.check_in(site, "lab", actor="t", name="Lab")
    called = await store.move(site, None, "call", actor="t", next_queue="reg")
    assert called["id"] == first["id"]
    back = await store.move(site, first["id"], "return", actor="t")
    assert back["position"] == 1 and back["status"] == "waiting"
    moved = await store.move(site, second["id"], "transfer", actor="t", queue="lab")
    assert moved["queue"] == "lab" and moved["position"] == 2
    state = await store.snapshot(site)
    assert [v["name"] for v in state.queue("lab").waiting] == ["Lab", "Second"]
    assert lab_earlier["ticket"] == "L001" and moved["ticket"] == second["ticket"]


async def test_call_next_takes_urgent_before_earlier_normal(store, site):
    await store.check_in(site, "reg", actor="t", name="Early normal")
    await store.check_in(site, "reg", actor="t", name="Later urgent", priority=2)
    await store.check_in(site, "reg", actor="t", name="Later high", priority=1)
    order = [(await store.move(site, None, "call", actor="t", next_queue="reg"))["name"]
             for _ in range(3)]
    assert order == ["Later urgent", "Later high", "Early normal"]
    assert await store.move(site, None, "call", actor="t", next_queue="reg") is None


async def test_every_move_is_in_the_stream_and_the_audit_log_without_names(store, site):
    visit, _ = await store.check_in(site, "reg", actor="kiosk-1", name="Secret Person")
    await store.move(site, visit["id"], "call", actor="user:pat", room="room-1")
    await store.move(site, visit["id"], "no-show", actor="user:pat")
    events = await store.events_after(site.id, "0", 100)
    types = [e.type for e in events]
    assert types[-5:] == ["visit.checked_in", "visit.called", "room.updated",
                          "visit.no_show", "room.updated"]
    assert events[-2].actor == "user:pat" and events[-2].visit["status"] == "no_show"
    today = clock.local_date(clock.now(), site.tz)
    entries = [json.loads(e) for e in await store.redis.lrange(keys.audit(site.id, today), 0, -1)]
    assert {e["type"] for e in entries} >= {"visit.checked_in", "visit.called", "visit.no_show"}
    assert all("Secret" not in json.dumps(e) for e in entries)


async def test_the_stream_is_trimmed(redis_url, tmp_path, site_id, store):
    small = Store(store.redis, make_settings(redis_url, tmp_path, STREAM_MAXLEN="100"))
    site = site_from_dict({"id": site_id, **TEST_SITE})
    await small.save_site(site)
    for _ in range(400):
        await small.check_in(site, "reg", actor="t")
    assert await store.redis.xlen(keys.events(site.id)) < 300


async def test_saving_a_site_again_keeps_live_rooms_and_drops_removed_queues(store, site):
    visit, _ = await store.check_in(site, "reg", actor="t")
    await store.move(site, visit["id"], "room", actor="t", room="room-2")
    trimmed = site_from_dict({"id": site.id, **TEST_SITE,
                              "queues": TEST_SITE["queues"][:2],
                              "rooms": TEST_SITE["rooms"][:3]})
    await store.save_site(trimmed)
    state = await store.snapshot(trimmed)
    assert [q.id for q in state.queues] == ["reg", "nurse"]
    assert {r.id: r.status for r in state.rooms}["room-2"] == "occupied"


async def test_snapshot_event_id_is_the_last_event_it_includes(store, site):
    await store.check_in(site, "reg", actor="t")
    events = await store.events_after(site.id, "0", 1000)
    assert (await store.snapshot(site)).event_id == events[-1].id


async def test_a_snapshot_lists_what_another_process_changed_since_the_last(store, site):
    """A Store guesses a snapshot's visits from its last one: a check-in, a call and a
    done made by another process in between are all in the next, the same as a Store
    that guesses nothing reads."""
    kept, _ = await store.check_in(site, "reg", actor="t")
    gone, _ = await store.check_in(site, "lab", actor="t")
    await store.snapshot(site)
    other = Store(store.redis, store.settings)
    new, _ = await other.check_in(site, "reg", actor="t")
    await other.move(site, gone["id"], "call", actor="t")
    await other.move(site, gone["id"], "done", actor="t")
    guessed = await store.snapshot(site)
    fresh = await Store(store.redis, store.settings).snapshot(site)
    assert [v["id"] for v in guessed.queue("reg").waiting] == [kept["id"], new["id"]]
    assert guessed.queue("lab").waiting == () and guessed.active == ()
    assert guessed == fresh


async def test_a_snapshot_reads_again_only_the_visits_changed_since_the_last(store, site):
    """A Store keeps the records its last snapshot listed, and the next one reads only
    those written since: a record written twice in one instant (the same time on it) is
    read both times; one left alone is the record already held."""
    still, _ = await store.check_in(site, "reg", actor="t", name="Still Waiting")
    moved, _ = await store.check_in(site, "lab", actor="t", name="Moved Twice")
    before = await store.snapshot(site)
    other = Store(store.redis, store.settings)
    clock.configure(clock.now(), speed=0)  # every write below in the same millisecond
    await other.move(site, moved["id"], "call", actor="t", room="room-1")
    called = await store.snapshot(site)
    await other.move(site, moved["id"], "room", actor="t", room="room-1")
    roomed = await store.snapshot(site)
    assert [v["status"] for v in called.active] == ["called"]
    assert [v["status"] for v in roomed.active] == ["in_room"]
    fresh = await Store(store.redis, store.settings).snapshot(site)
    assert list(roomed.visits()) == list(fresh.visits())
    # The waiting patient's record was not read again: it is the one the first read made.
    assert roomed.queue("reg").waiting[0]["id"] == still["id"]
    assert roomed.queue("reg").waiting[0] is before.queue("reg").waiting[0]


async def test_a_record_without_a_revision_is_read_every_time(store, site):
    """A visit written by a version before revisions (or by hand) has none: a snapshot
    never takes it as unchanged."""
    visit, _ = await store.check_in(site, "reg", actor="t", name="Old Record")
    key = keys.visit(site.id, visit["id"])
    await store.redis.hdel(key, "rev")
    await store.snapshot(site)
    await store.redis.hset(key, "name", "Renamed By Hand")
    state = await store.snapshot(site)
    assert state.queue("reg").waiting[0]["name"] == "Renamed By Hand"


async def test_a_call_next_after_another_process_changed_the_queue_calls_who_is_first_now(
        store, site):
    """A call-next declares the queue's head as the Store's last snapshot listed it: what
    another process changed since (a check-in ahead, a queue no longer empty, a room
    taken) is still what the call acts on."""
    early, _ = await store.check_in(site, "reg", actor="t", name="Early normal")
    await store.snapshot(site)
    other = Store(store.redis, store.settings)
    await other.check_in(site, "reg", actor="t", name="Later urgent", priority=2)
    await other.check_in(site, "lab", actor="t", name="First in lab")
    await other.move(site, early["id"], "room", actor="t", room="room-1")
    assert (await store.move(site, None, "call", actor="t", next_queue="reg"))["name"] \
        == "Later urgent"
    assert (await store.move(site, None, "call", actor="t", next_queue="lab"))["name"] \
        == "First in lab"
    await other.check_in(site, "reg", actor="t", name="Next one")
    with pytest.raises(ApiError) as err:
        await store.move(site, None, "room", actor="t", next_queue="reg", room="room-1")
    assert err.value.code == "room_occupied"


async def test_a_call_next_after_a_snapshot_reads_nothing_before_its_script(
        redis_factory, tmp_path):
    own = redis_factory()  # its own server: MONITOR sees this test's commands alone
    client = aioredis.Redis.from_url(own.url, decode_responses=True)
    try:
        store = Store(client, make_settings(own.url, tmp_path))
        site = site_from_dict({"id": "heads", **TEST_SITE})
        await store.save_site(site)
        first, _ = await store.check_in(site, "reg", actor="t")
        await store.snapshot(site)
        sent: list[str] = []
        async with client.monitor() as monitor:
            async def watch() -> None:
                async for command in monitor.listen():
                    if command["client_type"] != "lua":
                        sent.append(command["command"].split()[0].upper())
                    if command["command"] == "ECHO done":
                        return
            watching = asyncio.create_task(watch())
            await asyncio.sleep(0.1)
            called = await store.move(site, None, "call", actor="t", next_queue="reg",
                                      room="room-1")
            await client.echo("done")
            await asyncio.wait_for(watching, 5)
    finally:
        await client.aclose()
    assert called["id"] == first["id"] and called["room"] == "room-1"
    # The script alone: no read of the queue's head or the room's visit before it.
    assert "EVALSHA" in sent and not {"ZRANGE", "HGET", "HMGET"} & set(sent), sent


async def test_arrivals_in_the_same_instant_keep_their_order(store, site):
    made = [(await store.check_in(site, "nurse", actor="t", name=f"P{i}"))[0]["id"]
            for i in range(30)]
    state = await store.snapshot(site)
    assert [v["id"] for v in state.queue("nurse").waiting] == made


async def test_ticket_numbers_restart_at_local_midnight_not_utc(store, chicago_site):
    site, chicago = chicago_site, ZoneInfo("America/Chicago")
    late = datetime(2026, 3, 9, 23, 58, tzinfo=chicago)  # 05:58 UTC the next day
    tickets = [
        (await store.check_in(site, "lab", actor="t", now=moment))[0]["ticket"]
        for moment in (late - timedelta(hours=7), late, late + timedelta(minutes=4))
    ]
    # 16:58 and 23:58 are one local day (though not one UTC day); 00:02 starts the next.
    assert tickets == ["L001", "L002", "L001"]
