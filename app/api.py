"""The JSON API of docs/api.md, version 1. Routes parse, call the store, serialise."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import text
from app.access.auth import require
from app.access.csrf import FIELD as CSRF_FIELD
from app.errors import ApiError, invalid, not_found
from app.storage.store import Store
from app.visits import FLAGS, MOVES, NAME_MAX, PRIORITIES
from app.visits.lobby import lobby_view

JSON_BODY_MAX = 64 * 1024
EVENTS_LIMIT_MAX = 1000
STREAM_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}))?")
CHECK_IN_FIELDS = ("queue", "name", "appointment_id", "priority", "flags", "language")
# The body fields each move takes; a move not listed takes none.
MOVE_FIELDS = {"call": ("room",), "room": ("room",), "transfer": ("queue",)}
FIELD_NAME_SHOWN = 40


def _store(request: Request) -> Store:
    return request.app.state.store


async def read_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (or an htmx button's form fields); {} for no body.

    Anything else is read as JSON whatever its Content-Type, so `curl -d '{…}'` works.
    Form fields get no leniency: each route checks them with `only` like JSON fields."""
    content_type = request.headers.get("content-type", "")
    if request.headers.get("hx-request") and content_type.startswith(
            "application/x-www-form-urlencoded"):
        form = await request.form()
        # The page's CSRF token rides along in forms; app/access/csrf.py has checked it.
        return {k: v for k, v in form.items() if isinstance(v, str) and k != CSRF_FIELD}
    raw = await request.body()
    if len(raw) > JSON_BODY_MAX:
        raise ApiError(413, "too_large", "The request body is larger than 64 KiB.")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "bad_json", "The request body is not valid JSON.") from None
    if text.unpaired_surrogate(data):
        raise ApiError(400, "bad_json", "The request body is not valid JSON: it spells a "
                       "character that does not exist (an unpaired surrogate such as \\ud800).")
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.")
    return data


# How a person reads a field's name in a sentence (the board shows `detail` as it is); the
# error's `field` still names the field for a program.
FIELD_LABELS = {
    "name": "The name", "note": "The note", "language": "The language",
    "method": "The payment method", "room": "The room", "queue": "The queue",
    "flag": "The flag", "appointment_id": "The appointment",
}


def text_field(body: dict[str, Any], key: str, max_len: int, required: bool = False) -> str:
    """The text field `key` of a request body, stripped; "" when absent. 422 (`field` naming
    it, `detail` a sentence about what the person typed) when it is `required` and absent,
    not text, longer than `max_len`, or holding a control character (app/text.py)."""
    label = FIELD_LABELS.get(key, f"'{key}'")
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise invalid(f"{label} is missing: fill it in.", field=key)
        return ""
    if not isinstance(value, str):
        raise invalid(f"{label} must be text.", field=key)
    value = value.strip()
    if len(value) > max_len:
        raise invalid(f"{label} is longer than {max_len} characters: shorten it.", field=key)
    if text.refused_character(value):
        raise invalid(f"{label} contains control characters, which cannot be shown.",
                      field=key)
    return value


def priority_field(value: Any) -> int:
    """0, 1 or 2 from a JSON number or a form's digit; 422 naming `priority` otherwise."""
    if isinstance(value, str) and value.isdecimal():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value not in PRIORITIES:
        raise invalid("The priority must be normal (0), high (1) or urgent (2).",
                      field="priority")
    return value


def only(body: dict[str, Any], known: Collection[str]) -> dict[str, Any]:
    """`body` itself if it has no field besides `known`; else 422 naming the first other
    field, so a misspelt or misplaced field is never silently dropped."""
    for name in body:
        if name not in known:
            shown = name if len(name) <= FIELD_NAME_SHOWN else name[:FIELD_NAME_SHOWN] + "…"
            takes = f"it takes {', '.join(known)}" if known else "it takes no fields"
            raise invalid(f"Unknown field {shown!r}: {takes}.", field=shown)
    return body


def parse_check_in(body: dict[str, Any]) -> dict[str, Any]:
    """Validated check-in fields from an API body; raises 422 naming the bad (or unknown)
    field."""
    only(body, CHECK_IN_FIELDS)
    priority = priority_field(body.get("priority", 0))
    flags = body.get("flags") or []
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise invalid("'flags' must be a list of strings.", field="flags")
    unknown = [f for f in flags if f not in FLAGS]
    if unknown:
        raise invalid(f"Unknown flag '{unknown[0]}'; known flags: {', '.join(FLAGS)}.",
                      field="flags")
    return {
        "queue": text_field(body, "queue", 32, required=True),
        "name": text_field(body, "name", NAME_MAX),
        "appointment_id": text_field(body, "appointment_id", 64),
        "language": text_field(body, "language", 16),
        "priority": priority,
        "flags": list(dict.fromkeys(flags)),
    }


# Who may check a patient in by appointment id: those who may read the appointments. A
# kiosk checks in by appointment only through its own screens, after the patient's code
# or name and birth date matched (kiosk/routes.py): an id alone must not fetch a name.
APPOINTMENT_READERS = ("desk",)


async def create_visit(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("desk", "kiosk"))
    fields = parse_check_in(await read_body(request))
    if fields["appointment_id"] and not principal.may(APPOINTMENT_READERS):
        # The same answer whether the id exists or not, before anything is looked up.
        raise ApiError(403, "forbidden", "Checking in by appointment_id needs the role "
                       "desk; a kiosk checks appointments in through its own screens.")
    key = request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= 200:
        raise invalid("The Idempotency-Key header must be 1 to 200 characters.")
    if key is not None and principal.role == "kiosk":
        # A kiosk's keys are its own: another caller's key must not fetch that visit
        # (and its name) for a kiosk that never showed it.
        key = f"{principal.actor}\n{key}"
    visit, created = await _store(request).check_in(
        site, actor=principal.actor, idempotency_key=key, **fields)
    return JSONResponse(visit, status_code=201 if created else 200)


async def get_visit(request: Request) -> Response:
    _, site = await require(request, request.path_params["site"], ("desk",))
    visit = await _store(request).get_visit(site, request.path_params["visit_id"])
    if visit is None:
        raise not_found("The visit")
    return JSONResponse(visit)


async def move_visit(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("desk",))
    action = request.path_params["action"]
    if action not in MOVES:
        raise not_found(f"The action '{action}'")
    body = only(await read_body(request), MOVE_FIELDS.get(action, ()))
    room = text_field(body, "room", 32, required=action == "room")
    queue = text_field(body, "queue", 32, required=action == "transfer")
    visit = await _store(request).move(
        site, request.path_params["visit_id"], action, actor=principal.actor,
        room=room if action in ("call", "room") else "",
        queue=queue if action == "transfer" else "",
    )
    return JSONResponse(visit)


async def call_next(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("desk",))
    queue = request.path_params["queue"]
    if site.queue(queue) is None:
        raise not_found(f"The queue '{queue}'")
    room = text_field(only(await read_body(request), ("room",)), "room", 32)
    visit = await _store(request).move(site, None, "call", actor=principal.actor, room=room,
                                       next_queue=queue)
    if visit is None:
        return Response(status_code=204)
    return JSONResponse(visit)


async def set_queue(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("desk",))
    queue = request.path_params["queue"]
    if site.queue(queue) is None:
        raise not_found(f"The queue '{queue}'")
    is_open = only(await read_body(request), ("open",)).get("open")
    if not isinstance(is_open, bool):
        raise invalid("'open' must be true or false.", field="open")
    await _store(request).set_queue_open(site, queue, is_open, principal.actor)
    return JSONResponse({"id": queue, "open": is_open})


async def set_room(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("desk",))
    room = request.path_params["room"]
    if site.room(room) is None:
        raise not_found(f"The room '{room}'")
    status = only(await read_body(request), ("status",)).get("status")
    if status not in ("available", "needs_cleaning", "closed"):
        raise invalid("'status' must be available, needs_cleaning or closed.", field="status")
    await _store(request).set_room_status(site, room, status, principal.actor)
    return JSONResponse({"id": room, "status": status})


async def snapshot(request: Request) -> Response:
    _, site = await require(request, request.path_params["site"], ("desk",))
    return JSONResponse((await _store(request).snapshot(site)).to_json())


async def lobby(request: Request) -> Response:
    _, site = await require(request, request.path_params["site"], ("display", "desk"))
    return JSONResponse(lobby_view(await _store(request).snapshot(site)).to_json())


def parse_after(value: str | None) -> str:
    """A stream id from `?after=` ("0" for the start); 422 for anything else, including
    numbers Redis would refuse (each part must fit in 64 bits, with room for the next)."""
    if value is None or value == "":
        return "0"
    match = STREAM_ID.fullmatch(value)
    if match is None or any(int(part or 0) >= 2**64 - 1 for part in match.groups()):
        raise invalid("'after' must be an event id such as 1732650000000-0.", field="after")
    return value


async def events(request: Request) -> Response:
    _, site = await require(request, request.path_params["site"], ("desk",))
    after = parse_after(request.query_params.get("after"))
    raw_limit = request.query_params.get("limit", "100")
    if not raw_limit.isdecimal() or not 1 <= int(raw_limit) <= EVENTS_LIMIT_MAX:
        raise invalid(f"'limit' must be a whole number from 1 to {EVENTS_LIMIT_MAX}.",
                      field="limit")
    found = await _store(request).events_after(site.id, after, int(raw_limit))
    return JSONResponse({"events": [e.to_json() for e in found],
                         "last_id": found[-1].id if found else after})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await request.app.state.store.ping()
    except (RedisError, OSError):
        return JSONResponse({"error": "unavailable", "status": "unavailable",
                             "detail": "Redis does not answer."},
                            status_code=503)
    return JSONResponse({"status": "ready"})


PREFIX = "/api/v1/sites/{site}"

routes = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route(PREFIX + "/visits", create_visit, methods=["POST"]),
    Route(PREFIX + "/visits/{visit_id}", get_visit),
    Route(PREFIX + "/visits/{visit_id}/{action}", move_visit, methods=["POST"]),
    Route(PREFIX + "/queues/{queue}/call-next", call_next, methods=["POST"]),
    Route(PREFIX + "/queues/{queue}", set_queue, methods=["POST"]),
    Route(PREFIX + "/rooms/{room}", set_room, methods=["POST"]),
    Route(PREFIX + "/snapshot", snapshot),
    Route(PREFIX + "/lobby", lobby),
    Route(PREFIX + "/events", events),
]
