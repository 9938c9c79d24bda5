"""Closing the day: open visits become `left` ("day closed"), are counted, and leave
every index; the scheduled close runs once however many processes try."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta

from helpers import wait_for

from app import clock
from app.reports.day_close import (
    DayCloser,
    closing_moment,
    is_due,
    next_close,
    run_closer,
)
from app.sites import site_from_dict
from app.storage import due, keys


async def test_open_visits_become_left_and_no_index_keeps_them(api, store, settings):
    site = api.site
    waiting = await api.check_in(name="Waiting One")
    called = await api.check_in(name="Called One")
    roomed = await api.check_in("nurse", name="Roomed One")
    finished = await api.check_in(name="Done One")
    await api.post(f"/visits/{called['id']}/call", {"room": "desk-1"})
    await api.post(f"/visits/{roomed['id']}/room", {"room": "room-2"})
    await api.post(f"/visits/{finished['id']}/call", {})
    await api.post(f"/visits/{finished['id']}/done", {})

    closer = DayCloser(store.redis, settings)
    assert await closer.close(site) == 3
    for v in (waiting, called, roomed):
        after = (await api.get(f"/visits/{v['id']}")).json()
        assert after["status"] == "left"
        assert after["room"] is None
    assert (await api.get(f"/visits/{finished['id']}")).json()["status"] == "done"

    r = store.redis
    for q in ("reg", "nurse", "lab"):
        assert await r.zcard(keys.waiting(site.id, q)) == 0
    assert await r.zcard(keys.active(site.id)) == 0
    assert await r.hgetall(keys.room_visit(site.id)) == {}
    rooms = await r.hgetall(keys.room_status(site.id))
    assert rooms["desk-1"] == "available"
    assert rooms["room-2"] == "needs_cleaning"
    day = clock.local_date(clock.now(), site.tz)
    stats = await r.hgetall(keys.stats(site.id, day))
    assert stats["day_closed"] == "3"
    audit = [e for e in await _audit(r, site.id, day) if e["type"] == "visit.left"]
    assert {e["reason"] for e in audit} == {"day closed"}
    assert {e["ticket"] for e in audit} == {waiting["ticket"], called["ticket"],
                                            roomed["ticket"]}

    # The scheduled run is once a day (the app's own closer may have been first); another
    # process trying again does nothing, while by hand (the CLI) it closes again.
    await closer.close(site, only_once=True)
    late = await api.check_in(name="After Hours")
    assert await closer.close(site, only_once=True) is None
    assert (await api.get(f"/visits/{late['id']}")).json()["status"] == "waiting"
    assert await closer.close(site) == 1
    assert (await api.get(f"/visits/{late['id']}")).json()["status"] == "left"


async def test_a_visit_checked_in_after_the_closing_time_stays_open(api, store, settings):
    early = await api.check_in(name="Before Closing")
    await asyncio.sleep(0.01)
    closing = clock.now()
    late = await api.check_in(name="After Closing")
    assert await DayCloser(store.redis, settings).close(api.site, before=closing) == 1
    assert (await api.get(f"/visits/{early['id']}")).json()["status"] == "left"
    assert (await api.get(f"/visits/{late['id']}")).json()["status"] == "waiting"
    # Closing again finds nothing to close, and writes nothing the screens would redraw for.
    last = await store.redis.xrevrange(keys.events(api.site.id), count=1)
    assert await DayCloser(store.redis, settings).close(api.site, before=closing) == 0
    assert await store.redis.xrevrange(keys.events(api.site.id), count=1) == last
    called = await api.post("/queues/reg/call-next", {})
    assert called.json()["id"] == late["id"]


async def test_the_scheduled_close_takes_the_open_visits_from_before_closing_time(
        api, store, settings):
    """A site that closes at midnight: its scheduled close, whenever it runs, makes
    yesterday's leftover visit `left` and keeps the patient who checked in today."""
    site = replace(api.site, day_close="00:00")
    await store.save_site(site)
    yesterday = await api.check_in(name="From Yesterday")
    await store.redis.hset(keys.visit(site.id, yesterday["id"]), "checked_in_ms",
                           clock.ms(clock.now() - timedelta(days=1)))
    today = await api.check_in(name="Arrived Today")
    await store.redis.delete(keys.day_closed(site.id, clock.local_date(clock.now(), site.tz)))
    # The app's own closer may have closed the day meanwhile (save_site made it due): the
    # day is open again, so the close is due again.
    await due.due_now(store.redis, site.id, (due.CLOSE,))

    stop = asyncio.Event()
    closer = asyncio.create_task(run_closer(store, DayCloser(store.redis, settings), stop,
                                            interval_s=0.05))
    try:
        async def yesterdays_visit_left() -> bool:
            return (await api.get(f"/visits/{yesterday['id']}")).json()["status"] == "left"

        await wait_for(yesterdays_visit_left)
        assert (await api.get(f"/visits/{today['id']}")).json()["status"] == "waiting"
    finally:
        stop.set()
        await closer


async def test_ids_whose_visit_expired_are_dropped_from_the_sets(api, store, settings):
    gone = await api.check_in(name="Expired")
    await store.redis.delete(keys.visit(api.site.id, gone["id"]))
    assert await DayCloser(store.redis, settings).close(api.site) == 0
    assert await store.redis.zcard(keys.waiting(api.site.id, "reg")) == 0


def test_the_close_is_due_from_the_sites_local_closing_time():
    site = site_from_dict({"id": "x", "timezone": "America/Chicago", "day_close": "20:00",
                           "queues": [{"id": "q", "name": "Q", "prefix": "A"}]})
    assert not is_due(site, datetime.fromisoformat("2026-03-02T19:59:00-06:00"))
    assert is_due(site, datetime.fromisoformat("2026-03-02T20:00:00-06:00"))
    assert is_due(site, datetime.fromisoformat("2026-03-03T02:30:00+00:00"))  # 20:30 CST
    # 02:30 UTC is still the evening of the 2nd in Chicago: that day's 20:00 is the cut.
    assert closing_moment(site, datetime.fromisoformat("2026-03-03T02:30:00+00:00")) == \
        datetime.fromisoformat("2026-03-02T20:00:00-06:00")


def test_the_close_is_next_due_at_the_next_local_closing_time():
    site = site_from_dict({"id": "x", "timezone": "America/Chicago", "day_close": "20:00",
                           "queues": [{"id": "q", "name": "Q", "prefix": "A"}]})
    at = datetime.fromisoformat
    assert next_close(site, at("2026-03-02T08:00:00-06:00")) == at("2026-03-02T20:00:00-06:00")
    assert next_close(site, at("2026-03-02T20:00:00-06:00")) == at("2026-03-03T20:00:00-06:00")
    # Across the spring change of clocks: still 20:00 local, now an hour nearer in UTC.
    assert next_close(site, at("2026-03-07T21:00:00-06:00")) == at("2026-03-08T20:00:00-05:00")


async def test_the_closer_schedules_the_next_close(api, store, settings):
    """After a pass the site's close waits for its next closing time; saving the site (its
    closing hour changed, say) makes it due at once."""
    site = replace(api.site, day_close="23:59")
    await store.save_site(site)
    schedule = due.Schedule(store.redis, due.CLOSE)
    assert await schedule.next_at(site.id) <= clock.ms(clock.now())
    stop = asyncio.Event()
    closer = asyncio.create_task(run_closer(store, DayCloser(store.redis, settings), stop,
                                            interval_s=0.05))
    try:
        expected = clock.ms(next_close(site, clock.now()))

        async def scheduled() -> bool:
            return await schedule.next_at(site.id) == expected

        await wait_for(scheduled)
    finally:
        stop.set()
        await closer


async def _audit(r, site_id, day):
    return [json.loads(x) for x in await r.lrange(keys.audit(site_id, day), 0, -1)]


async def test_python_m_app_day_close_closes_now(api, redis_url, tmp_path):
    visit = await api.check_in(name="Still Waiting")
    env = {**os.environ, "REDIS_URL": redis_url, "VAR_DIR": str(tmp_path / "var")}
    done = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "app", "day", "close", "--site", api.site.id],
        env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "1 open visits are now 'left'" in done.stdout
    assert (await api.get(f"/visits/{visit['id']}")).json()["status"] == "left"
    unknown = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "app", "day", "close", "--site", "nosuchsite"],
        env=env, capture_output=True, text=True, timeout=60)
    assert unknown.returncode != 0 and "no site 'nosuchsite'" in unknown.stderr
