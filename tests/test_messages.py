"""The desk's broadcast message: set through the API, in the snapshot, gone at its expiry."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from app import clock
from app.desk.messages import set_message
from app.storage import keys
from app.visits.state import current_message as current


async def test_a_desk_sets_a_message_and_the_lobby_state_carries_it(api):
    r = await api.post("/message", {"text": "The lab reopens at 2 pm", "minutes": 30})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["text"] == "The lab reopens at 2 pm"
    expires = clock.now() + timedelta(minutes=30)
    assert abs(datetime.fromisoformat(body["expires_at"]) - expires) < timedelta(seconds=5)
    state = await api.app.state.store.snapshot(api.site)
    assert state.message["text"] == "The lab reopens at 2 pm"
    assert state.message["expires_at"] == body["expires_at"]


async def test_clearing_the_message_takes_it_off_and_says_so(api):
    await api.post("/message", {"text": "Back in 5 minutes", "minutes": 5})
    r = await api.client.delete(api.base + "/message", headers=api.auth())
    assert r.status_code == 200 and r.json() == {"text": None}
    assert (await api.app.state.store.snapshot(api.site)).message is None


async def test_the_message_key_expires_with_the_message(api, store):
    await api.post("/message", {"text": "Short notice", "minutes": 1})
    ttl = await store.redis.pttl(keys.message(api.site.id))
    assert 50_000 < ttl <= 60_000


async def test_setting_the_message_writes_an_event_and_an_audit_entry_without_its_text(
        api, store):
    await api.post("/message", {"text": "Flu shots at desk 2", "minutes": 60})
    events = (await api.get("/events")).json()["events"]
    assert events[-1]["type"] == "site.message"
    date = clock.local_date(clock.now(), api.site.tz)
    audit = [json.loads(e) for e in await store.redis.lrange(keys.audit(api.site.id, date),
                                                              0, -1)]
    entry = audit[-1]
    assert entry["type"] == "site.message" and entry["actor"].startswith("token:")
    assert "Flu shots" not in json.dumps(entry)


@pytest.mark.parametrize(("body", "field"), [
    ({"text": "", "minutes": 5}, "text"),
    ({"minutes": 5}, "text"),
    ({"text": "x" * 91, "minutes": 5}, "text"),
    ({"text": "bell\x07", "minutes": 5}, "text"),
    ({"text": "Desk \u202e1 ksed", "minutes": 5}, "text"),
    ({"text": "line\nbreak", "minutes": 5}, "text"),
    ({"text": 42, "minutes": 5}, "text"),
    ({"text": "ok", "minutes": 0}, "minutes"),
    ({"text": "ok", "minutes": 721}, "minutes"),
    ({"text": "ok", "minutes": "5"}, "minutes"),
    ({"text": "ok", "minutes": True}, "minutes"),
    ({"text": "ok", "minutes": 5, "colour": "red"}, "colour"),
])
async def test_a_bad_message_is_refused_naming_the_field_and_changes_nothing(api, body, field):
    r = await api.post("/message", body)
    assert r.status_code == 422
    assert r.json()["error"] == "invalid" and r.json()["field"] == field
    assert (await api.app.state.store.snapshot(api.site)).message is None


async def test_a_message_keeps_the_zero_width_non_joiner_that_persian_writes(api):
    text = ("\u0622\u0632\u0645\u0627\u06cc\u0634\u06af\u0627\u0647\u200c\u0647\u0627 "
            "\u0628\u0627\u0632\u0646\u062f")  # "the labs are open"
    r = await api.post("/message", {"text": text, "minutes": 5})
    assert r.status_code == 200, r.text
    assert (await api.app.state.store.snapshot(api.site)).message["text"] == text


async def test_only_the_desk_may_set_the_message(api):
    for role in ("display", "kiosk"):
        r = await api.post("/message", {"text": "Hello", "minutes": 5}, role=role)
        assert r.status_code == 403
    r = await api.client.post(api.base + "/message", json={"text": "Hello", "minutes": 5})
    assert r.status_code == 401


async def test_a_message_past_its_expiry_is_not_shown_even_if_redis_still_holds_it(
        store, site):
    past = clock.now() - timedelta(minutes=10)
    await set_message(store, site, "Old news", 5, "test", now=past)
    raw = json.dumps({"text": "Old news", "expires_at": "x",
                      "expires_ms": str(clock.ms(past) + 5 * 60000)})
    assert current(raw, clock.ms(clock.now())) is None
    assert current(None, 0) is None and current("not json", 0) is None
