"""The service times an estimate learns from, as stored in Redis: the per-hour history
that move.lua writes and keeps over the days, and a Store's copy of a queue's record and
history, which a snapshot, a check-in or a transfer reads again only once a service has
started or ended (real Redis, real scripts)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from app import clock
from app.storage import keys
from app.storage.store import Store
from app.visits import estimates

# Two days ago and yesterday: visits checked in then are still within RETENTION_DAYS.
DAY1 = date.today() - timedelta(days=2)
DAY2 = DAY1 + timedelta(days=1)


def at(site, day: date, hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=site.tz)


async def serve(store: Store, site, queue: str, start: datetime, minutes: float,
                count: int, room: str = "room-1") -> None:
    """`count` patients of `queue`, one after the other at `room`, `minutes` each (the
    clock stands still at each step, so a duration is exact)."""
    try:
        for i in range(count):
            began = start + timedelta(minutes=i * minutes)
            clock.configure(began, speed=0)
            visit, _ = await store.check_in(site, queue, actor="test")
            called = await store.move(site, None, "call", actor="test", room=room,
                                      next_queue=queue)
            assert called is not None and called["id"] == visit["id"]
            clock.configure(began + timedelta(minutes=minutes), speed=0)
            await store.move(site, visit["id"], "done", actor="test")
    finally:
        clock.configure()


async def test_service_times_are_kept_by_hour_of_day_across_days(store, chicago_site):
    site = chicago_site
    # Day 1: at 9:00 the nurse's visits take 3 minutes, at 14:00 10.
    await serve(store, site, "nurse", at(site, DAY1, "09:00"), 3, 8)
    await serve(store, site, "nurse", at(site, DAY1, "14:00"), 10, 5)
    nine = keys.durations(site.id, "nurse", 9)
    assert await store.redis.lrange(nine, 0, -1) == ["180"] * 8  # seconds, nothing else
    assert await store.redis.lrange(keys.durations(site.id, "nurse", 14), 0, -1) == \
        ["600"] * 5
    assert await store.redis.ttl(nine) > (estimates.HISTORY_DAYS - 1) * 86400

    # Day 2, 9:05, nobody serving yet: the first patient is told about one 9 o'clock
    # visit (3 minutes), not the day's mix that the record's newest services would give
    # (about 6, so "About 1-11 min"). At 14:05 the hour's five services are too few:
    # the record's mix stands in.
    clock.configure(at(site, DAY2, "09:05"))
    visit, _ = await store.check_in(site, "nurse", actor="test")
    assert visit["eta_minutes"]["low"] <= 3 <= visit["eta_minutes"]["high"] < 8
    seen = await store.get_visit(site, visit["id"])
    assert seen is not None and seen["eta_minutes"] == visit["eta_minutes"]
    state = await store.snapshot(site)
    nurse = state.queue("nurse")
    assert nurse is not None and nurse.eta(1) == visit["eta_minutes"]
    clock.configure(at(site, DAY2, "14:05"))
    afternoon = (await store.snapshot(site)).queue("nurse")
    assert afternoon is not None and 3 < afternoon.model.minutes < 10


async def test_a_service_that_started_in_the_hour_before_counts_there(store, chicago_site):
    site = chicago_site
    await serve(store, site, "lab", at(site, DAY1, "10:50"), 20, 1)  # ends at 11:10
    assert await store.redis.lrange(keys.durations(site.id, "lab", 10), 0, -1) == ["1200"]
    assert await store.redis.exists(keys.durations(site.id, "lab", 11)) == 0


async def test_the_history_keeps_its_newest_durations(store, chicago_site):
    site = chicago_site
    key = keys.durations(site.id, "lab", 9)
    await store.redis.rpush(key, *["60"] * estimates.HOUR_HISTORY)
    await serve(store, site, "lab", at(site, DAY1, "09:00"), 2, 1)
    assert await store.redis.llen(key) == estimates.HOUR_HISTORY
    assert await store.redis.lindex(key, 0) == "120"


async def test_a_redraw_sees_a_service_end_though_the_record_is_kept(store, chicago_site,
                                                                     settings):
    site = chicago_site
    start = at(site, DAY1, "16:00")
    await serve(store, site, "lab", start, 2, estimates.MIN_SAMPLES - 1)
    try:
        clock.configure(start + timedelta(minutes=9))
        before = (await store.snapshot(site)).queue("lab")
        again = (await store.snapshot(site)).queue("lab")  # unchanged: not read again
        assert before is not None and again is not None
        assert before.model == again.model and not before.model.learned
    finally:
        clock.configure()
    # One more service ends: the next redraw learns from the five.
    await serve(store, site, "lab", start + timedelta(minutes=10), 2, 1)
    clock.configure(start + timedelta(minutes=13))
    after = (await store.snapshot(site)).queue("lab")
    assert after is not None and after.model.learned and after.model.minutes == 2
    # Another process (its own Store) that reads everything agrees.
    other = (await Store(store.redis, settings).snapshot(site)).queue("lab")
    assert other is not None and other.model == after.model


async def test_yesterdays_lunch_closing_is_expected_today(store, chicago_site):
    site = chicago_site
    # Day 1: three rooms see lab patients in the 11 o'clock hour, one over lunch.
    for room in ("room-1", "room-2", "room-3"):
        await serve(store, site, "lab", at(site, DAY1, "11:00"), 10, 2, room)
    await serve(store, site, "lab", at(site, DAY1, "12:00"), 10, 2, "room-2")
    staffing = await store.redis.hgetall(keys.staffing(site.id, "lab"))
    day1 = DAY1.isoformat() + ","
    assert staffing == {"11|room-1": day1, "11|room-2": day1, "11|room-3": day1,
                        "12|room-2": day1}
    assert await store.redis.ttl(keys.staffing(site.id, "lab")) > 27 * 86400

    # Day 2 at 11:40, the three rooms busy and eight waiting: two rooms go at noon.
    for room in ("room-1", "room-2", "room-3"):
        clock.configure(at(site, DAY2, "11:35"), speed=0)
        await store.check_in(site, "lab", actor="test")
        await store.move(site, None, "call", actor="test", room=room, next_queue="lab")
    clock.configure(at(site, DAY2, "11:40"), speed=0)
    waiting = [(await store.check_in(site, "lab", actor="test"))[0] for _ in range(8)]
    lab = (await store.snapshot(site)).queue("lab")
    assert lab is not None and lab.model.changes == ((20.0, -2),)
    assert await store.redis.hget(keys.staffing(site.id, "lab"), "11|room-1") == \
        f"{DAY2.isoformat()},{DAY1.isoformat()}"
    last = waiting[-1]["eta_minutes"]
    assert lab.eta(8) == last
    # Three rooms free at 11:45, 11:55, 12:05; at 12:05 two of them go: the eighth is
    # called at 12:15, not 12:05 as three rooms to the end would have it.
    assert estimates.expected_waits(lab.model, 8)[-2:] == [25, 35]
    assert estimates.expected_waits(replace(lab.model, changes=()), 8)[-2:] == [25, 25]


def record_answers(monkeypatch: pytest.MonkeyPatch, store: Store) -> list[bool]:
    """Whether each check-in or move `store` runs from now on is answered its queue's
    service record (False: the script left it out, the Store holding it unchanged)."""
    sent: list[bool] = []
    run = store.run

    async def recording(name: str, keys_: dict[str, str], args: dict[str, Any]) -> Any:
        answer = await run(name, keys_, args)
        if name in ("checkin", "move") and answer[0] in ("created", "moved"):
            inputs = json.loads(answer[4])
            sent.append(inputs is not False and inputs["record"] is not False)
        return answer

    monkeypatch.setattr(store, "run", recording)
    return sent


async def held_and_fresh(store: Store, site, settings,
                         monkeypatch: pytest.MonkeyPatch) -> tuple[Store, list[bool], list[bool]]:
    """After `store` snapshots the site (it holds every queue's record from then on):
    another Store, which has read nothing, and what each is answered from now on
    (record_answers)."""
    await store.snapshot(site)
    fresh = Store(store.redis, settings)
    return fresh, record_answers(monkeypatch, store), record_answers(monkeypatch, fresh)


async def estimate_read_afresh(store: Store, site, visit: dict[str, Any]) -> Any:
    read = await store.get_visit(site, visit["id"])  # reads the record itself, every time
    assert read is not None and read["position"] == visit["position"]
    return read["eta_minutes"]


async def test_a_check_in_answers_the_same_estimate_whether_its_store_held_the_record(
        store, chicago_site, settings, monkeypatch):
    site = chicago_site
    start = at(site, DAY1, "16:00")
    await serve(store, site, "lab", start, 3, estimates.MIN_SAMPLES + 2)
    clock.configure(start + timedelta(minutes=30), speed=0)
    await store.check_in(site, "lab", actor="test")
    await store.move(site, None, "call", actor="test", room="room-2", next_queue="lab")
    fresh, held_sent, fresh_sent = await held_and_fresh(store, site, settings, monkeypatch)
    visits = [(await s.check_in(site, "lab", actor="test"))[0]
              for s in (store, fresh, fresh, store)]

    # The fresh Store is sent the record once, then holds it too.
    assert (held_sent, fresh_sent) == ([False, False], [True, False])
    assert [v["position"] for v in visits] == [1, 2, 3, 4]
    for visit in visits:
        assert visit["eta_minutes"] == await estimate_read_afresh(store, site, visit)
    assert visits[-1]["eta_minutes"]["high"] > visits[0]["eta_minutes"]["high"]


async def test_a_record_another_process_changed_is_not_answered_stale(
        store, chicago_site, settings, monkeypatch):
    site = chicago_site
    start = at(site, DAY1, "16:00")
    await serve(store, site, "lab", start, 2, estimates.MIN_SAMPLES - 1)
    other = Store(store.redis, settings)
    clock.configure(start + timedelta(minutes=10), speed=0)
    before = [(await store.check_in(site, "lab", actor="test"))[0] for _ in range(4)]
    # Another process ends the fifth two-minute service: the lab's estimate now learns
    # from its record instead of the configured six minutes.
    called = await other.move(site, None, "call", actor="test", room="room-1",
                              next_queue="lab")
    assert called is not None and called["id"] == before[0]["id"]
    clock.configure(start + timedelta(minutes=12), speed=0)
    await other.move(site, called["id"], "done", actor="test")
    sent = record_answers(monkeypatch, store)
    after, _ = await store.check_in(site, "lab", actor="test")

    assert sent == [True]
    assert after["eta_minutes"] == await estimate_read_afresh(store, site, after)
    assert after["position"] == before[-1]["position"]  # one called, one more in line
    assert after["eta_minutes"]["high"] < before[-1]["eta_minutes"]["high"]


async def test_a_transfer_answers_the_estimate_of_its_new_queue_from_a_held_record(
        store, chicago_site, settings, monkeypatch):
    site = chicago_site
    start = at(site, DAY1, "16:00")
    await serve(store, site, "nurse", start, 5, estimates.MIN_SAMPLES + 1)
    clock.configure(start + timedelta(minutes=40), speed=0)
    await store.check_in(site, "nurse", actor="test")
    first, second = [(await store.check_in(site, "reg", actor="test"))[0] for _ in "ab"]
    fresh, held_sent, fresh_sent = await held_and_fresh(store, site, settings, monkeypatch)
    moved = [await s.move(site, v["id"], "transfer", actor="test", queue="nurse")
             for s, v in ((store, first), (fresh, second))]

    # The nurse's record is unchanged since the snapshot: left out for the Store that
    # holds it, sent to the one that does not.
    assert (held_sent, fresh_sent) == ([False], [True])
    assert [v and v["position"] for v in moved] == [2, 3]
    for visit in moved:
        assert visit is not None
        assert visit["eta_minutes"] == await estimate_read_afresh(store, site, visit)
