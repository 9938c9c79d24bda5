"""Every route of docs/api.md: its success, each refusal, and that a refusal changes nothing."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from helpers import make_settings

from app.access.auth import ROLES, create_token
from app.main import create_app
from app.sites import site_from_dict
from app.storage.redis_server import free_port


@dataclass(frozen=True)
class Call:
    """One route of docs/api.md, called the way its own role would call it."""

    name: str
    method: str
    path: str  # after /api/v1/sites/{site}; "{visit}" is a waiting visit's id
    body: Any
    allowed: frozenset[str]
    success: int

    @property
    def refused_roles(self) -> list[str]:
        may = set(self.allowed) | ({"admin"} if "desk" in self.allowed else set())
        return [role for role in ROLES if role not in may]

    @property
    def role(self) -> str:
        return sorted(self.allowed)[0]


CALLS = [
    Call("create visit", "POST", "/visits", {"queue": "reg", "name": "New Patient"},
         frozenset({"desk", "kiosk"}), 201),
    Call("get visit", "GET", "/visits/{visit}", None, frozenset({"desk"}), 200),
    Call("move visit", "POST", "/visits/{visit}/call", {}, frozenset({"desk"}), 200),
    Call("call next", "POST", "/queues/reg/call-next", {}, frozenset({"desk"}), 200),
    Call("snapshot", "GET", "/snapshot", None, frozenset({"desk"}), 200),
    Call("lobby", "GET", "/lobby", None, frozenset({"display", "desk"}), 200),
    Call("events", "GET", "/events?after=0&limit=10", None, frozenset({"desk"}), 200),
    Call("close queue", "POST", "/queues/reg", {"open": False}, frozenset({"desk"}), 200),
    Call("set room status", "POST", "/rooms/room-2", {"status": "closed"},
         frozenset({"desk"}), 200),
]
BY_NAME = {c.name: c for c in CALLS}
POSTS = [c for c in CALLS if c.method == "POST"]


def ids(calls: list[Call]) -> list[str]:
    return [c.name.replace(" ", "-") for c in calls]


@dataclass
class World:
    api: Any
    visit: dict[str, Any]  # waiting in reg
    roomed: dict[str, Any]  # in room-1

    def url(self, call: Call, site: str | None = None) -> str:
        path = call.path.replace("{visit}", self.visit["id"])
        return f"/api/v1/sites/{site or self.api.site.id}{path}"

    async def send(self, call: Call, headers: dict[str, str] | None = None,
                   site: str | None = None, content: bytes | None = None) -> httpx.Response:
        kw: dict[str, Any] = {"headers": headers or {}}
        if content is not None:
            kw["content"] = content
            kw["headers"] = {**kw["headers"], "Content-Type": "application/json"}
        elif call.body is not None:
            kw["json"] = call.body
        return await self.api.client.request(call.method, self.url(call, site), **kw)

    async def state(self) -> dict[str, Any]:
        """Everything a rejected request must leave alone: the whole snapshot (its
        event_id, every waiting list, the rooms, the calls) and the test visits."""
        snap = (await self.api.get("/snapshot")).json()
        visits = [(await self.api.get(f"/visits/{v['id']}")).json()
                  for v in (self.visit, self.roomed)]
        return {"snapshot": snap, "visits": visits}


@pytest.fixture
async def world(api) -> World:
    visit = await api.check_in(name="Ana Lima", flags=["copay_due"])
    roomed = await api.check_in(name="Bo Chen")
    r = await api.post(f"/visits/{roomed['id']}/room", {"room": "room-1"})
    assert r.status_code == 200
    return World(api, visit, roomed)


@dataclass
class OtherSite:
    id: str
    tokens: dict[str, str]


@pytest.fixture
async def other_site(store, redis_url) -> AsyncIterator[OtherSite]:
    """A second site with its own tokens; every key of it is removed afterwards."""
    site_id = f"o{uuid.uuid4().hex[:8]}"
    await store.save_site(site_from_dict({
        "id": site_id, "name": "Other Clinic",
        "queues": [{"id": "reg", "name": "Registration", "prefix": "A"}],
        "rooms": [{"id": "room-1", "name": "Room 1"}, {"id": "room-2", "name": "Room 2"}],
    }))
    tokens = {role: await create_token(store.redis, site_id, role) for role in ROLES}
    try:
        yield OtherSite(site_id, tokens)
    finally:
        keys = [k async for k in store.redis.scan_iter(match=f"lq:{{{site_id}}}:*",
                                                      count=1000)]
        if keys:
            await store.redis.delete(*keys)
        await store.redis.srem("lq:sites", site_id)
        # The token index is keyed by each token's SHA-256 (app.access.auth stores them hashed).
        digests = [hashlib.sha256(t.encode()).hexdigest() for t in tokens.values()]
        assert await store.redis.hdel("lq:tokens", *digests) == len(digests)


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """docs/api.md's error shape: {"error": <machine code>, "detail": <sentence>}."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    if code is not None:
        assert body["error"] == code, body
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# Success


@pytest.mark.parametrize("call", CALLS, ids=ids(CALLS))
async def test_each_route_answers_its_own_role(world, call):
    r = await world.send(call, world.api.auth(call.role))

    assert r.status_code == call.success, r.text
    body = r.json()
    if call.name == "create visit":
        assert body["status"] == "waiting" and body["name"] == "New Patient"
    elif call.name in ("get visit", "call next"):
        assert body["id"] == world.visit["id"]
    elif call.name == "move visit":
        assert body["id"] == world.visit["id"] and body["status"] == "called"
    elif call.name == "snapshot":
        assert set(body) >= {"event_id", "queues", "rooms", "calling"}
        assert [q["id"] for q in body["queues"]] == ["reg", "nurse", "lab"]
    elif call.name == "lobby":
        assert set(body) >= {"event_id", "queues", "calling"}
    elif call.name == "events":
        assert [e["type"] for e in body["events"]][-1] == "room.updated"
    elif call.name == "close queue":
        assert body == {"id": "reg", "open": False}
        (reg,) = [q for q in (await world.api.get("/snapshot")).json()["queues"]
                  if q["id"] == "reg"]
        assert reg["open"] is False
    elif call.name == "set room status":
        assert body == {"id": "room-2", "status": "closed"}
        rooms = {r["id"]: r["status"] for r in (await world.api.get("/snapshot")).json()["rooms"]}
        assert rooms["room-2"] == "closed"


@pytest.mark.parametrize("call", [c for c in CALLS if "desk" in c.allowed],
                         ids=ids([c for c in CALLS if "desk" in c.allowed]))
async def test_an_admin_token_may_do_what_a_desk_token_may(world, call):
    r = await world.send(call, world.api.auth("admin"))
    assert r.status_code == call.success, r.text


async def test_a_kiosk_may_check_a_patient_in(world):
    r = await world.send(BY_NAME["create visit"], world.api.auth("kiosk"))
    assert r.status_code == 201
    assert r.json()["ticket"] == "A003"


async def test_healthz_answers_ok(api):
    r = await api.client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_answers_ready_while_redis_answers(api):
    r = await api.client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready"}


async def test_without_redis_readyz_answers_503_and_healthz_still_ok(tmp_path):
    app = create_app(make_settings(f"redis://127.0.0.1:{free_port()}/0", tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ready = await client.get("/readyz")
            health = await client.get("/healthz")
            snap = await client.get("/api/v1/sites/any/snapshot",
                                    headers=bearer("llt_whatever"))
    assert_error(ready, 503)
    assert ready.json()["status"] == "unavailable"
    assert health.status_code == 200
    assert_error(snap, 503, "unavailable")


# 401, 403, 404 for every route


@pytest.mark.parametrize("call", CALLS, ids=ids(CALLS))
async def test_each_route_answers_401_without_credentials_and_changes_nothing(world, call):
    before = await world.state()
    r = await world.send(call)
    assert_error(r, 401, "unauthorized")
    assert await world.state() == before


@pytest.mark.parametrize("header", [
    "Bearer llt_not-a-token-anyone-was-given", "Bearer ", "Basic ZGVzazpkZXNr",
], ids=["unknown-token", "empty-token", "basic-auth"])
@pytest.mark.parametrize("call", CALLS, ids=ids(CALLS))
async def test_each_route_answers_401_to_a_bad_token_and_changes_nothing(world, call, header):
    before = await world.state()
    r = await world.send(call, {"Authorization": header})
    assert_error(r, 401, "unauthorized")
    assert await world.state() == before


WRONG_ROLE = [pytest.param(c, role, id=f"{c.name.replace(' ', '-')}-as-{role}")
              for c in CALLS for role in c.refused_roles]


@pytest.mark.parametrize(("call", "role"), WRONG_ROLE)
async def test_each_route_answers_403_to_a_role_that_may_not_and_changes_nothing(
        world, call, role):
    before = await world.state()
    r = await world.send(call, world.api.auth(role))
    assert_error(r, 403, "forbidden")
    assert await world.state() == before


def test_the_display_may_not_read_the_snapshot_nor_the_kiosk_move_a_visit():
    # The two refusals docs/api.md's readers rely on most; WRONG_ROLE must include them.
    pairs = {(c.name, role) for c in CALLS for role in c.refused_roles}
    assert {("snapshot", "display"), ("move visit", "kiosk"),
            ("create visit", "display"), ("lobby", "kiosk")} <= pairs


@pytest.mark.parametrize("call", CALLS, ids=ids(CALLS))
async def test_each_route_answers_403_to_another_sites_token_and_changes_nothing(
        world, other_site, call):
    before = await world.state()
    r = await world.send(call, bearer(other_site.tokens[call.role]))
    assert_error(r, 403, "forbidden")
    assert await world.state() == before


@pytest.mark.parametrize("call", CALLS, ids=ids(CALLS))
async def test_each_route_answers_404_for_an_unknown_site(world, call):
    before = await world.state()
    r = await world.send(call, world.api.auth(call.role), site="no-such-site")
    assert_error(r, 404, "not_found")
    assert await world.state() == before


async def test_a_visit_of_another_site_is_not_found_here(world, other_site):
    r = await world.api.client.post(
        f"/api/v1/sites/{other_site.id}/visits", json={"queue": "reg"},
        headers=bearer(other_site.tokens["desk"]))
    assert r.status_code == 201
    foreign = r.json()["id"]
    before = await world.state()

    assert_error(await world.api.get(f"/visits/{foreign}"), 404, "not_found")
    assert_error(await world.api.post(f"/visits/{foreign}/call", {}), 404, "not_found")
    assert await world.state() == before


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/visits/0000000000000000", None),
    ("POST", "/visits/0000000000000000/call", {}),
    ("POST", "/visits/0000000000000000/done", {}),
    ("POST", "/visits/{visit}/teleport", {}),
    ("POST", "/queues/radiology/call-next", {}),
    ("POST", "/queues/radiology", {"open": False}),
    ("POST", "/rooms/room-99", {"status": "closed"}),
], ids=["get-unknown-visit", "call-unknown-visit", "done-unknown-visit", "unknown-action",
        "call-next-unknown-queue", "close-unknown-queue", "unknown-room"])
async def test_an_unknown_visit_queue_room_or_action_answers_404(world, method, path, body):
    before = await world.state()
    path = path.replace("{visit}", world.visit["id"])
    r = await world.api.client.request(method, world.api.base + path, json=body,
                                       headers=world.api.auth("desk"))
    assert_error(r, 404, "not_found")
    assert await world.state() == before


# 409


async def test_a_forbidden_move_answers_409_with_the_current_status(world):
    before = await world.state()
    r = await world.api.post(f"/visits/{world.roomed['id']}/no-show", {})
    body = assert_error(r, 409, "conflict")
    assert body["status"] == "in_room"
    assert await world.state() == before


async def test_a_closed_queue_refuses_check_ins_with_409_until_reopened(world):
    closed = await world.api.post("/queues/reg", {"open": False})
    assert closed.status_code == 200
    before = await world.state()

    for role in ("desk", "kiosk"):
        r = await world.api.post("/visits", {"queue": "reg"}, role=role)
        assert_error(r, 409, "queue_closed")
    assert await world.state() == before
    other_queue = await world.api.post("/visits", {"queue": "nurse"})
    assert other_queue.status_code == 201

    assert (await world.api.post("/queues/reg", {"open": True})).status_code == 200
    assert (await world.api.post("/visits", {"queue": "reg"})).status_code == 201


async def test_closing_a_queue_keeps_its_waiting_patients(world):
    await world.api.post("/queues/reg", {"open": False})
    r = await world.api.post("/queues/reg/call-next", {})
    assert r.status_code == 200 and r.json()["id"] == world.visit["id"]


@pytest.mark.parametrize("status", ["available", "closed", "needs_cleaning"])
async def test_a_room_with_a_patient_in_it_cannot_be_set_by_hand(world, status):
    before = await world.state()
    r = await world.api.post("/rooms/room-1", {"status": status})
    assert_error(r, 409, "room_occupied")
    assert await world.state() == before


# 422


TOO_LONG = "x" * 101
BAD_CHECK_INS = {
    "unknown-queue": {"queue": "radiology"},
    "missing-queue": {"name": "Ana Lima"},
    "queue-not-a-string": {"queue": ["reg"]},
    "name-over-100-characters": {"queue": "reg", "name": TOO_LONG},
    "name-not-a-string": {"queue": "reg", "name": 42},
    "name-with-control-character": {"queue": "reg", "name": "Ana\u0000Lima"},
    "name-with-delete-character": {"queue": "reg", "name": "Ana\u007fLima"},
    "name-with-c1-control-character": {"queue": "reg", "name": "Ana\u0085Lima"},
    "name-with-right-to-left-override": {"queue": "reg", "name": "Ana \u202eamiL"},
    "name-with-left-to-right-embedding": {"queue": "reg", "name": "\u202aAna Lima"},
    "name-with-first-strong-isolate": {"queue": "reg", "name": "Ana \u2068Lima\u2069"},
    "unknown-flag": {"queue": "reg", "flags": ["vip"]},
    "flags-not-a-list": {"queue": "reg", "flags": "interpreter"},
    "flag-not-a-string": {"queue": "reg", "flags": [7]},
    "priority-too-high": {"queue": "reg", "priority": 3},
    "priority-negative": {"queue": "reg", "priority": -1},
    "priority-a-bool": {"queue": "reg", "priority": True},
    "priority-a-word": {"queue": "reg", "priority": "urgent"},
    "priority-a-fraction": {"queue": "reg", "priority": 1.5},
    "priority-a-superscript-digit": {"queue": "reg", "priority": "\u00b2"},
    "body-a-list": [{"queue": "reg"}],
    "body-a-string": "reg",
}


@pytest.mark.parametrize("body", list(BAD_CHECK_INS.values()), ids=list(BAD_CHECK_INS))
async def test_a_bad_check_in_answers_422_and_creates_nothing(world, body):
    before = await world.state()
    r = await world.api.post("/visits", body)
    assert_error(r, 422, "invalid")
    assert await world.state() == before


async def test_a_name_with_a_zero_width_non_joiner_is_accepted_as_written(world):
    name = "\u0645\u06cc\u200c\u0646\u0627"  # Persian writes some names with one
    r = await world.api.post("/visits", {"queue": "reg", "name": name})
    assert r.status_code == 201
    assert r.json()["name"] == name


async def test_a_name_of_exactly_100_characters_is_accepted(world):
    r = await world.api.post("/visits", {"queue": "reg", "name": "y" * 100})
    assert r.status_code == 201
    assert r.json()["name"] == "y" * 100


async def test_an_over_long_idempotency_key_answers_422_and_creates_nothing(world):
    before = await world.state()
    r = await world.api.post("/visits", {"queue": "reg"},
                             headers={"Idempotency-Key": "k" * 201})
    assert_error(r, 422, "invalid")
    assert await world.state() == before


BAD_FIELDS = {
    "call-unknown-room": ("/visits/{visit}/call", {"room": "room-99"}),
    "call-room-not-a-string": ("/visits/{visit}/call", {"room": 1}),
    "room-unknown-room": ("/visits/{visit}/room", {"room": "room-99"}),
    "room-without-room": ("/visits/{visit}/room", {}),
    "transfer-unknown-queue": ("/visits/{visit}/transfer", {"queue": "radiology"}),
    "transfer-without-queue": ("/visits/{visit}/transfer", {}),
    "move-body-a-list": ("/visits/{visit}/call", ["room-2"]),
    "call-next-unknown-room": ("/queues/reg/call-next", {"room": "room-99"}),
    "queue-open-not-a-bool": ("/queues/reg", {"open": "false"}),
    "queue-open-missing": ("/queues/reg", {}),
    "room-status-occupied": ("/rooms/room-2", {"status": "occupied"}),
    "room-status-unknown": ("/rooms/room-2", {"status": "dirty"}),
    "room-status-missing": ("/rooms/room-2", {}),
}


@pytest.mark.parametrize(("path", "body"), list(BAD_FIELDS.values()), ids=list(BAD_FIELDS))
async def test_a_bad_field_answers_422_and_changes_nothing(world, path, body):
    before = await world.state()
    r = await world.api.post(path.replace("{visit}", world.visit["id"]), body)
    assert_error(r, 422, "invalid")
    assert await world.state() == before


UNKNOWN_FIELDS = {
    "check-in-with-a-code": ("/visits", {"code": "ULP3QY"}, "code"),
    "check-in-with-a-misspelt-name": ("/visits", {"queue": "reg", "nmae": "Ana"}, "nmae"),
    "call-with-a-queue": ("/visits/{visit}/call", {"room": "room-2", "queue": "lab"}, "queue"),
    "done-with-a-room": ("/visits/{visit}/done", {"room": "room-2"}, "room"),
    "transfer-with-a-room": ("/visits/{visit}/transfer", {"queue": "lab", "room": "room-2"},
                             "room"),
    "call-next-with-a-priority": ("/queues/reg/call-next", {"priority": 2}, "priority"),
    "queue-with-a-name": ("/queues/reg", {"open": False, "name": "Front"}, "name"),
    "room-with-a-visit": ("/rooms/room-2", {"status": "closed", "visit_id": "x"}, "visit_id"),
}


@pytest.mark.parametrize(("path", "body", "field"), list(UNKNOWN_FIELDS.values()),
                         ids=list(UNKNOWN_FIELDS))
async def test_an_unknown_field_answers_422_naming_it_and_changes_nothing(
        world, path, body, field):
    before = await world.state()
    r = await world.api.post(path.replace("{visit}", world.visit["id"]), body)
    error = assert_error(r, 422, "invalid")
    assert error["field"] == field and repr(field) in error["detail"]
    assert await world.state() == before


async def test_an_htmx_form_post_with_an_extra_field_is_refused_like_json(world):
    before = await world.state()
    r = await world.api.client.post(
        world.api.base + f"/visits/{world.visit['id']}/call",
        content="room=room-2&colour=blue",
        headers={**world.api.auth(), "HX-Request": "true",
                 "Content-Type": "application/x-www-form-urlencoded"})
    assert assert_error(r, 422, "invalid")["field"] == "colour"
    assert await world.state() == before

    r = await world.api.client.post(
        world.api.base + f"/visits/{world.visit['id']}/call", content="room=room-2",
        headers={**world.api.auth(), "HX-Request": "true",
                 "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.json()["room"] == "room-2"


BAD_QUERIES = {
    "after-a-word": "after=latest",
    "after-negative": "after=-1",
    "after-bad-sequence": "after=1732650000000-x",
    "after-empty-sequence": "after=1732650000000-",
    "after-beyond-64-bits": "after=99999999999999999999",
    "after-superscript-digit": "after=%C2%B2",
    "after-the-largest-id": "after=18446744073709551615-18446744073709551615",
    "limit-zero": "limit=0",
    "limit-over-1000": "limit=1001",
    "limit-a-word": "limit=ten",
    "limit-negative": "limit=-5",
    "limit-empty": "limit=",
    "limit-superscript-digit": "limit=%C2%B2",
}


@pytest.mark.parametrize("query", list(BAD_QUERIES.values()), ids=list(BAD_QUERIES))
async def test_a_bad_events_query_answers_422(world, query):
    r = await world.api.get(f"/events?{query}")
    assert_error(r, 422, "invalid")


# 400 and other malformed requests


MALFORMED = {
    "truncated": b'{"queue": "reg",',
    "single-quotes": b"{'queue': 'reg'}",
    "not-utf8": b"\xff\xfe{",
    "nested-too-deep": b"[" * 30000 + b"]" * 30000,
    # JSON can spell a character that does not exist; it cannot be stored as UTF-8.
    "unpaired-surrogate-in-a-value": b'{"queue": "reg", "name": "Ana\\ud800", "room": "x\\udfff"}',
    "unpaired-surrogate-in-a-key": b'{"\\udc00": "reg"}',
    "unpaired-surrogate-nested-deep": b"[" * 900 + b'"\\ud800"' + b"]" * 900,
}


@pytest.mark.parametrize("content", list(MALFORMED.values()), ids=list(MALFORMED))
@pytest.mark.parametrize("call", POSTS, ids=ids(POSTS))
async def test_malformed_json_answers_400_and_changes_nothing(world, call, content):
    before = await world.state()
    r = await world.send(call, world.api.auth(call.role), content=content)
    assert_error(r, 400, "bad_json")
    assert await world.state() == before


async def test_a_body_over_64_kib_is_refused_and_creates_nothing(world):
    before = await world.state()
    body = json.dumps({"queue": "reg", "name": "n" * 70_000}).encode()
    r = await world.api.client.post(world.api.base + "/visits", content=body,
                                    headers=world.api.auth("desk"))
    assert_error(r, 413)
    assert await world.state() == before


async def test_an_unknown_path_and_a_wrong_method_answer_the_error_shape(api):
    assert_error(await api.client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(await api.client.get(api.base + "/visits", headers=api.auth()), 405)


# The lobby view

ZEBULON = "Zebulon Quixote-Marchetti"
PHILIPPA = "Philippa Wolstenholme-Arbuthnot"
APPOINTMENT = "APPT-ZQM-4471"


@pytest.mark.parametrize("role", ["display", "desk"])
async def test_the_lobby_view_shows_tickets_and_rooms_but_no_name_flag_id_or_appointment(
        api, role):
    start = datetime.now(UTC).isoformat()
    booked = await api.post("/appointments", [{
        "id": APPOINTMENT, "start": start, "queue": "reg", "first_name": "Zebulon",
        "last_name": "Quixote-Marchetti", "birth_date": "1961-02-03"}])
    assert booked.json()["imported"] == 1, booked.text
    waiting = await api.check_in(name=ZEBULON, flags=["interpreter", "copay_due"],
                                 appointment_id=APPOINTMENT, priority=2)
    called = await api.check_in(name=PHILIPPA, flags=["accessibility"])
    r = await api.post(f"/visits/{called['id']}/call", {"room": "room-3"})
    assert r.status_code == 200

    lobby = await api.get("/lobby", role=role)

    assert lobby.status_code == 200
    text = lobby.text
    for secret in (ZEBULON, "Zebulon", "Quixote", PHILIPPA, "Wolstenholme", APPOINTMENT, "1961",
                   "interpreter", "copay_due", "accessibility", waiting["id"], called["id"]):
        assert secret not in text, secret
    body = lobby.json()
    (reg,) = [q for q in body["queues"] if q["id"] == "reg"]
    assert [t["ticket"] for t in reg["waiting"]] == [waiting["ticket"]]
    assert all(set(t) == {"ticket", "eta_minutes"} for t in reg["waiting"])
    assert body["calling"] == [{"ticket": called["ticket"], "room": "Room 3",
                                "called_at": r.json()["called_at"]}]
    assert set(body) >= {"event_id", "queues", "calling"}
    assert all(set(q) >= {"id", "name", "waiting"} for q in body["queues"])
