"""Appointments in Redis: import, re-import, look-ups, retention, check-in, arrival flags."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app import clock
from app.appointments.demo import demo_appointments
from app.appointments.formats import ScheduleError
from app.appointments.model import appointment_json
from app.appointments.schedule import import_entries, import_file
from app.appointments.store import AppointmentStore
from app.config import Settings
from app.sites import Site
from app.storage import keys
from app.storage.store import Store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def appts(store: Store, settings: Settings) -> AppointmentStore:
    return AppointmentStore(store.redis, settings)


def tomorrow(site: Site, hour: int = 9, minute: int = 0) -> datetime:
    day = clock.now().astimezone(site.tz).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=site.tz)


def entry(site: Site, id_: str, last: str, born: str, minute: int = 0,
          **more: Any) -> dict[str, Any]:
    return {"id": id_, "start": tomorrow(site, 9, minute).isoformat(), "first_name": "Pat",
            "last_name": last, "birth_date": born, **more}


def day_of(site: Site) -> str:
    return tomorrow(site).date().isoformat()


async def events(store: Store, site: Site, kind: str = "appointment.") -> list[dict[str, str]]:
    found = await store.redis.xrange(keys.events(site.id), "-", "+")
    return [f for _, f in found if f["type"].startswith(kind)]


async def test_import_stores_and_reimport_updates_without_duplicates(
        store: Store, settings: Settings, site: Site, appts: AppointmentStore) -> None:
    batch = [entry(site, "a1", "O'Brien", "1958-03-14"),
             entry(site, "a2", "Núñez", "1984-11-02", 20)]
    first = await import_entries(store.redis, settings, site, batch)
    assert first == {"imported": 2, "updated": 0, "errors": []}
    listed = await appts.list_day(site, day_of(site))
    codes = {a.id: a.code for a in listed}
    again = await import_entries(store.redis, settings, site, batch)
    assert again == {"imported": 0, "updated": 2, "errors": []}
    listed = await appts.list_day(site, day_of(site))
    assert [a.id for a in listed] == ["a1", "a2"]
    assert {a.id: a.code for a in listed} == codes
    assert len(await events(store, site)) == 2  # an unchanged re-import emits nothing
    stats = await store.redis.hgetall(keys.stats(site.id, day_of(site)))
    assert stats["appointments"] == "2"


async def test_a_later_import_with_status_cancelled_cancels(
        store: Store, settings: Settings, site: Site, appts: AppointmentStore) -> None:
    await import_entries(store.redis, settings, site, [entry(site, "a1", "Lee", "1970-01-01")])
    result = await import_entries(store.redis, settings, site,
                                  [entry(site, "a1", "Lee", "1970-01-01", status="cancelled")])
    assert result["updated"] == 1
    assert (await appts.get(site, "a1")).status == "cancelled"
    kinds = [e["type"] for e in await events(store, site)]
    assert kinds == ["appointment.imported", "appointment.cancelled"]
    body = appointment_json(json.loads((await events(store, site))[-1]["appointment"]))
    assert body["id"] == "a1" and body["status"] == "cancelled"
    stats = await store.redis.hgetall(keys.stats(site.id, day_of(site)))
    assert (stats["appointments"], stats["appointments_cancelled"]) == ("1", "1")


async def test_a_moved_appointment_leaves_its_old_day(
        store: Store, settings: Settings, site: Site, appts: AppointmentStore) -> None:
    await import_entries(store.redis, settings, site, [entry(site, "a1", "Lee", "1970-01-01")])
    code = (await appts.get(site, "a1")).code
    later = tomorrow(site) + timedelta(days=1)
    moved = entry(site, "a1", "Lee", "1970-01-01", start=later.isoformat())
    await import_entries(store.redis, settings, site, [moved])
    assert await appts.list_day(site, day_of(site)) == []
    assert await appts.find_by_code(site, code, day_of(site)) is None
    new_day = later.date().isoformat()
    assert (await appts.find_by_code(site, code, new_day)).id == "a1"
    assert [a.id for a in await appts.find_by_name_dob(site, "lee", "1970-01-01", new_day)] == \
        ["a1"]
    assert await appts.find_by_name_dob(site, "lee", "1970-01-01", day_of(site)) == []


@pytest.mark.parametrize(("stored", "typed"), [
    ("O'Brien", "obrien"), ("José", "Jose"), ("Smith-Jones", "smith jones")])
async def test_look_up_by_normalised_last_name_and_birth_date(
        store: Store, settings: Settings, site: Site, appts: AppointmentStore,
        stored: str, typed: str) -> None:
    await import_entries(store.redis, settings, site, [
        entry(site, "a1", stored, "1980-02-03"), entry(site, "a2", stored, "1980-02-04")])
    found = await appts.find_by_name_dob(site, typed, "1980-02-03", day_of(site))
    assert [a.id for a in found] == ["a1"]
    assert await appts.find_by_name_dob(site, typed, "1980-02-05", day_of(site)) == []


async def test_look_up_by_code_ignores_case_and_dashes(
        store: Store, settings: Settings, site: Site, appts: AppointmentStore) -> None:
    await import_entries(store.redis, settings, site,
                         [entry(site, "a1", "Lee", "1970-01-01", code="KX7P2M")])
    assert (await appts.find_by_code(site, "kx7-p2m", day_of(site))).id == "a1"
    assert await appts.find_by_code(site, "KX7P2N", day_of(site)) is None
    assert await appts.find_by_code(site, "", day_of(site)) is None


async def test_a_code_is_unique_per_day(
        store: Store, settings: Settings, site: Site) -> None:
    result = await import_entries(store.redis, settings, site, [
        entry(site, "a1", "Lee", "1970-01-01", code="KX7P2M"),
        entry(site, "a2", "Kim", "1971-01-01", code="kx7p2m"),
        entry(site, "a3", "Ode", "1972-01-01", code="KX7P2M",
              start=(tomorrow(site) + timedelta(days=1)).isoformat()),
    ])
    assert result["imported"] == 2
    assert [e["index"] for e in result["errors"]] == [1]
    assert "already used" in result["errors"][0]["detail"]


async def test_key_names_never_hold_a_name_or_birth_date_and_personal_fields_expire(
        store: Store, settings: Settings, site: Site) -> None:
    await import_entries(store.redis, settings, site,
                         [entry(site, "a1", "O'Brien", "1958-03-14")])
    names = [k async for k in store.redis.scan_iter(match=f"lq:{{{site.id}}}:*")]
    assert names and not [k for k in names if "brien" in k.lower() or "1958" in k]
    ttl = await store.redis.ttl(keys.appointment(site.id, "a1"))
    retention = settings.retention_days * 86400
    assert retention < ttl <= retention + 2 * 86400
    for name in names:
        if ":appt" in name:
            assert await store.redis.ttl(name) > 0, name
    stats_ttl = await store.redis.ttl(keys.stats(site.id, day_of(site)))
    assert stats_ttl > ttl  # the day's counts outlive the personal fields


async def test_check_in_links_the_appointment_and_done_fulfils_it(
        store: Store, settings: Settings, site: Site, appts: AppointmentStore) -> None:
    today = clock.now().astimezone(site.tz)
    await import_entries(store.redis, settings, site, [
        {"id": "a1", "start": today.isoformat(), "first_name": "Mary", "last_name": "Lee",
         "birth_date": "1970-01-01"}])
    visit, _ = await store.check_in(site, "reg", actor="test", appointment_id="a1")
    linked = await appts.get(site, "a1")
    assert (linked.status, linked.visit_id) == ("arrived", visit["id"])
    arrived = [e for e in await events(store, site) if e["type"] == "appointment.arrived"]
    assert len(arrived) == 1
    assert json.loads(arrived[0]["appointment"])["visit_id"] == visit["id"]
    # A re-import of the booked schedule does not undo the arrival.
    await import_entries(store.redis, settings, site, [
        {"id": "a1", "start": today.isoformat(), "first_name": "Mary", "last_name": "Lee",
         "birth_date": "1970-01-01", "status": "booked"}])
    assert (await appts.get(site, "a1")).status == "arrived"
    await store.move(site, visit["id"], "call", actor="test")
    await store.move(site, visit["id"], "done", actor="test")
    day = today.date().isoformat()
    assert [a.status for a in await appts.list_day(site, day)] == ["fulfilled"]


async def test_a_visit_marked_no_show_makes_its_appointment_noshow_in_the_list(
        store: Store, settings: Settings, site: Site, appts: AppointmentStore) -> None:
    today = clock.now().astimezone(site.tz)
    await import_entries(store.redis, settings, site, [
        {"id": "a1", "start": today.isoformat(), "first_name": "Mary", "last_name": "Lee",
         "birth_date": "1970-01-01"}])
    visit, _ = await store.check_in(site, "reg", actor="test", appointment_id="a1")
    await store.move(site, visit["id"], "call", actor="test")
    await store.move(site, visit["id"], "no-show", actor="test")
    assert [a.status for a in await appts.list_day(site, today.date().isoformat())] == \
        ["noshow"]
    assert (await appts.get(site, "a1")).status == "noshow"  # stored, not only derived


async def test_import_file_reads_csv_and_fhir(
        store: Store, settings: Settings, site: Site, tmp_path: Path) -> None:
    csv_result = await import_file(store.redis, settings, site,
                                   ROOT / "docs" / "sample-schedule.csv")
    assert csv_result == {"imported": 5, "updated": 0, "errors": []}
    fhir_result = await import_file(store.redis, settings, site,
                                    ROOT / "tests" / "data" / "fhir-schedule-bundle.json")
    assert (fhir_result["imported"], [e["index"] for e in fhir_result["errors"]]) == (
        4, [7, 11, 12])
    again = await import_file(store.redis, settings, site,
                              ROOT / "tests" / "data" / "fhir-schedule-bundle.json")
    assert (again["imported"], again["updated"]) == (0, 4)
    with pytest.raises(ScheduleError, match="cannot read"):
        await import_file(store.redis, settings, site, tmp_path / "missing.csv")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("first_name\nJos\xe9\n".encode("latin-1"))
    with pytest.raises(ScheduleError, match="UTF-8"):
        await import_file(store.redis, settings, site, latin1)


async def test_demo_appointments_import_cleanly_and_again(
        store: Store, settings: Settings, site: Site, appts: AppointmentStore) -> None:
    now = clock.now()
    entries = demo_appointments(site, now)
    first = await import_entries(store.redis, settings, site, entries)
    assert first == {"imported": len(entries), "updated": 0, "errors": []}
    again = await import_entries(store.redis, settings, site, demo_appointments(site, now))
    assert again["updated"] == len(entries) and again["errors"] == []
    code = entries[5]["code"]
    day = entries[5]["start"][:10]
    assert (await appts.find_by_code(site, code, day)).id == entries[5]["id"]
