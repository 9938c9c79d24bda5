"""The desk's records on a visit (flag cleared, copay, note, priority) through the API:
each is an event with its actor and an audit entry without personal fields."""

from __future__ import annotations

import json

import pytest

from app import clock
from app.desk.records import parse_amount
from app.errors import ApiError
from app.storage import keys


async def audit(api) -> list[dict]:
    day = clock.local_date(clock.now(), api.site.tz)
    raw = await api.app.state.store.redis.lrange(keys.audit(api.site.id, day), 0, -1)
    return [json.loads(r) for r in raw]


def test_amounts_are_read_as_cents_and_bad_ones_refused():
    assert parse_amount("25") == 2500
    assert parse_amount("$25.5") == 2550
    assert parse_amount(40) == 4000
    for bad in ("", "abc", "0", "-5", "25.555", "1000.01", True, None, "NaN", "inf"):
        with pytest.raises(ApiError):
            parse_amount(bad)


async def test_clearing_a_flag_removes_it_and_the_trail_says_who(api):
    visit = await api.check_in(name="Ana Lima", flags=["insurance_verify", "forms_pending"])
    r = await api.post(f"/visits/{visit['id']}/clear-flag", {"flag": "insurance_verify"})
    assert r.status_code == 200, r.text
    assert r.json()["flags"] == ["forms_pending"]
    again = await api.post(f"/visits/{visit['id']}/clear-flag", {"flag": "insurance_verify"})
    assert again.status_code == 409
    assert again.json()["error"] == "already_done"
    entry = [e for e in await audit(api) if e["type"] == "visit.flag_cleared"][-1]
    assert entry["flag"] == "insurance_verify"
    assert entry["ticket"] == visit["ticket"]
    assert entry["actor"].startswith("token:")
    assert "Ana" not in json.dumps(entry)


async def test_a_copay_is_added_up_clears_copay_due_and_keeps_the_money_in_the_audit(api):
    visit = await api.check_in(name="Ana Lima", flags=["copay_due"])
    r = await api.post(f"/visits/{visit['id']}/copay", {"amount": "25.00", "method": "card"})
    assert r.status_code == 200, r.text
    assert r.json()["copay_cents"] == 2500
    assert "copay_due" not in r.json()["flags"]
    r = await api.post(f"/visits/{visit['id']}/copay", {"amount": 5, "method": "cash"})
    assert r.json()["copay_cents"] == 3000
    copays = [e for e in await audit(api) if e["type"] == "visit.copay_recorded"]
    assert [(e["amount_cents"], e["method"]) for e in copays] == [(2500, "card"), (500, "cash")]
    events = (await api.get("/events", params={"after": "0"})).json()["events"]
    assert any(e["type"] == "visit.copay_recorded" and e["actor"].startswith("token:")
               for e in events)


@pytest.mark.parametrize("body, field", [
    ({"amount": "25", "method": "bitcoin"}, "method"),
    ({"amount": "ten", "method": "cash"}, "amount"),
    ({"method": "cash"}, "amount"),
    ({"amount": "5", "method": "cash", "tip": "1"}, "tip"),
])
async def test_a_bad_copay_is_a_422_naming_the_field_and_changes_nothing(api, body, field):
    visit = await api.check_in(name="Ana Lima", flags=["copay_due"])
    r = await api.post(f"/visits/{visit['id']}/copay", body)
    assert r.status_code == 422
    assert r.json()["field"] == field
    after = (await api.get(f"/visits/{visit['id']}")).json()
    assert after["flags"] == ["copay_due"]


async def test_raising_the_priority_moves_the_patient_ahead_of_normal_ones(api):
    first = await api.check_in(name="First")
    second = await api.check_in(name="Second")
    r = await api.post(f"/visits/{second['id']}/priority", {"priority": 2})
    assert r.status_code == 200, r.text
    assert r.json()["priority"] == 2
    assert r.json()["position"] == 1
    called = (await api.post("/queues/reg/call-next", {})).json()
    assert called["id"] == second["id"]
    assert (await api.post(f"/visits/{first['id']}/priority", {"priority": 7})).status_code == 422


async def test_a_note_is_kept_but_never_written_to_the_audit(api):
    visit = await api.check_in(name="Ana Lima")
    r = await api.post(f"/visits/{visit['id']}/note", {"note": "Wheelchair at door 2"})
    assert r.json()["note"] == "Wheelchair at door 2"
    entry = [e for e in await audit(api) if e["type"] == "visit.noted"][-1]
    assert "Wheelchair" not in json.dumps(entry)
    assert (await api.post(f"/visits/{visit['id']}/note", {"note": "x" * 141})).status_code == 422


async def test_records_on_an_unknown_visit_are_404_and_need_the_desk_role(api):
    assert (await api.post("/visits/nope/note", {"note": "hi"})).status_code == 404
    visit = await api.check_in(name="Ana Lima")
    r = await api.post(f"/visits/{visit['id']}/note", {"note": "hi"}, role="kiosk")
    assert r.status_code == 403


async def test_the_priority_of_a_finished_visit_cannot_change(api):
    visit = await api.check_in(name="Ana Lima")
    await api.post(f"/visits/{visit['id']}/left", {})
    r = await api.post(f"/visits/{visit['id']}/priority", {"priority": 1})
    assert r.status_code == 409
    assert r.json()["status"] == "left"
