"""The OpenAPI 3.1 document of API v1, served at /api/v1/openapi.json.

Written out by hand from docs/api.md: each operation's roles (`x-roles`), its body, its
query parameters and the answers it gives, refusals included. tests/test_openapi.py checks
that it names every API route of the routing table and nothing else, and fuzzes the API
through it (schemathesis).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.desk.messages import MINUTES_MAX, TEXT_MAX
from app.visits import FLAGS, MOVES, NAME_MAX

PATH = "/api/v1/openapi.json"
PREFIX = "/api/v1/sites/{site}"
JSON = "application/json"

ERROR = {"$ref": "#/components/schemas/Error"}
OBJECT = {"type": "object"}
ID = {"type": "string", "minLength": 1, "maxLength": 64}


def _answer(description: str, schema: dict[str, Any] = OBJECT,
            media: str = JSON) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


def _refusals(*codes: int) -> dict[str, Any]:
    words = {400: "The body is not JSON.", 401: "No valid credential.",
             403: "Another site's credential, or a role that may not do this.",
             404: "No such site or thing.", 409: "Refused in the current state.",
             413: "The body is too large.", 422: "A field is wrong; `field` names it.",
             503: "Redis is not reachable."}
    chosen = (401, 403, 404, 503, *codes)
    return {str(c): _answer(words[c], ERROR) for c in sorted(set(chosen))}


def _body(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return {"required": False, "content": {JSON: {"schema": schema}}}


def _op(summary: str, roles: tuple[str, ...], ok: dict[str, Any], *refusals: int,
        body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "x-roles": list(roles),
                          "security": [{"bearer": []}], "responses": {**ok,
                                                                       **_refusals(*refusals)}}
    if body is not None:
        op["requestBody"] = body
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str, schema: dict[str, Any] = ID) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


VISIT = {"$ref": "#/components/schemas/Visit"}
DATE = _query("date", {"type": "string", "examples": ["2026-01-05"]})
WRITE = (400, 413, 422)


def _operations() -> dict[str, dict[str, Any]]:
    text = {"type": "string"}
    check_in = _body({
        "queue": {"type": "string", "maxLength": 32},
        "name": {"type": "string", "maxLength": NAME_MAX},
        "appointment_id": {"type": "string", "maxLength": 64},
        "priority": {"type": "integer", "enum": [0, 1, 2]},
        "flags": {"type": "array", "items": {"type": "string", "enum": list(FLAGS)}},
        "language": {"type": "string", "maxLength": 16},
    }, ("queue",))
    move = _body({"room": {"type": "string", "maxLength": 32},
                  "queue": {"type": "string", "maxLength": 32}})
    return {
        PREFIX + "/visits": {"post": _op(
            "Check a patient in", ("desk", "kiosk"),
            {"200": _answer("The visit an Idempotency-Key or appointment already made.",
                            VISIT),
             "201": _answer("The new visit.", VISIT)}, *WRITE, 409, body=check_in,
            params=[{"name": "Idempotency-Key", "in": "header", "required": False,
                     "schema": {"type": "string", "minLength": 1, "maxLength": 200}}])},
        PREFIX + "/visits/{visit_id}": {"get": _op(
            "One visit", ("desk",), {"200": _answer("The visit.", VISIT)})},
        PREFIX + "/visits/{visit_id}/{action}": {"post": _op(
            "Move a visit (call, room, done, ...)", ("desk",),
            {"200": _answer("The visit after the move.", VISIT)}, *WRITE, 409, body=move,
            params=[_path_param("action", {"type": "string", "enum": sorted(MOVES)})])},
        PREFIX + "/visits/{visit_id}/clear-flag": {"post": _op(
            "Clear one flag", ("desk",), {"200": _answer("The visit.", VISIT)}, *WRITE, 409,
            body=_body({"flag": {"type": "string", "maxLength": 32}}, ("flag",)))},
        PREFIX + "/visits/{visit_id}/copay": {"post": _op(
            "Record a copay", ("desk",), {"200": _answer("The visit.", VISIT)}, *WRITE, 409,
            body=_body({"amount": {"type": ["string", "number"]},
                        "method": {"type": "string", "enum": ["cash", "card", "check"]}},
                       ("amount", "method")))},
        PREFIX + "/visits/{visit_id}/note": {"post": _op(
            "Set the desk's note", ("desk",), {"200": _answer("The visit.", VISIT)}, *WRITE,
            409, body=_body({"note": text}))},
        PREFIX + "/visits/{visit_id}/priority": {"post": _op(
            "Set the priority", ("desk",), {"200": _answer("The visit.", VISIT)}, *WRITE, 409,
            body=_body({"priority": {"type": "integer", "enum": [0, 1, 2]}}, ("priority",)))},
        PREFIX + "/queues/{queue}/call-next": {"post": _op(
            "Call the next patient of a queue", ("desk",),
            {"200": _answer("The called visit.", VISIT),
             "204": {"description": "Nobody is waiting."}}, *WRITE, 409,
            body=_body({"room": {"type": "string", "maxLength": 32}}))},
        PREFIX + "/queues/{queue}": {"post": _op(
            "Open or close a queue", ("desk",),
            {"200": _answer("The queue.", {"type": "object", "properties": {
                "id": text, "open": {"type": "boolean"}}})}, *WRITE,
            body=_body({"open": {"type": "boolean"}}, ("open",)))},
        PREFIX + "/rooms/{room}": {"post": _op(
            "Set a room's status", ("desk",),
            {"200": _answer("The room.", OBJECT)}, *WRITE, 409,
            body=_body({"status": {"type": "string",
                                   "enum": ["available", "needs_cleaning", "closed"]}},
                       ("status",)))},
        PREFIX + "/snapshot": {"get": _op(
            "The site's whole state", ("desk",), {"200": _answer("The snapshot.")})},
        PREFIX + "/lobby": {"get": _op(
            "What the lobby shows (no names)", ("display", "desk"),
            {"200": _answer("The lobby view.")})},
        PREFIX + "/events": {"get": _op(
            "Events after an id", ("desk",), {"200": _answer("Events and the last id.")},
            422, params=[_query("after", {"type": "string"}),
                         _query("limit", {"type": "integer", "minimum": 1,
                                          "maximum": 1000})])},
        PREFIX + "/message": {
            "post": _op("Show a message on the lobby", ("desk",),
                        {"200": _answer("The message.")}, *WRITE,
                        body=_body({"text": {"type": "string", "maxLength": TEXT_MAX},
                                    "minutes": {"type": "integer", "minimum": 1,
                                                "maximum": MINUTES_MAX}},
                                   ("text", "minutes"))),
            "delete": _op("Take the lobby message down", ("desk",),
                          {"200": _answer("Done."), "204": {"description": "Done."}},
                          *WRITE),
        },
        PREFIX + "/help/{kiosk}/answer": {"post": _op(
            "Answer a kiosk's call for help", ("desk",), {"200": _answer("The call.")},
            *WRITE, body=_body({}))},
        PREFIX + "/appointments": {
            "post": _op("Import the schedule (JSON list, CSV or FHIR Bundle)",
                        ("admin", "desk"), {"200": _answer("What was imported.")}, *WRITE,
                        body={"required": True, "content": {
                            JSON: {"schema": {"type": ["array", "object"]}},
                            "text/csv": {"schema": {"type": "string"}}}}),
            "get": _op("A day's appointments", ("desk",),
                       {"200": _answer("The appointments.")}, 422, params=[DATE]),
        },
        PREFIX + "/fhir/Appointment": {"get": _op(
            "A day's appointments as a FHIR searchset", ("desk",),
            {"200": _answer("A FHIR Bundle.", OBJECT, "application/fhir+json")}, 422,
            params=[DATE, _query("_include", {"type": "string",
                                              "enum": ["Appointment:patient"]})])},
        PREFIX + "/fhir/Encounter": {"get": _op(
            "A day's visits as FHIR Encounters", ("desk",),
            {"200": _answer("A FHIR Bundle.", OBJECT, "application/fhir+json")}, 422,
            params=[DATE])},
        PREFIX + "/stats": {"get": _op(
            "The day in numbers: arrivals, waits, throughput, no-shows, by queue and priority",
            ("desk",), {"200": _answer("The day's numbers.")}, 422, params=[DATE])},
        PATH: {"get": {"summary": "This document", "security": [],
                       "responses": {"200": _answer("The OpenAPI document.")}}},
    }


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once)."""
    paths: dict[str, Any] = {}
    for path, operations in _operations().items():
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        for op in operations.values():
            declared = {p["name"] for p in op.get("parameters", ()) if p["in"] == "path"}
            op["parameters"] = [*(_path_param(n) for n in names if n not in declared),
                                *op.get("parameters", ())]
            if not op["parameters"]:
                del op["parameters"]
        paths[path] = operations
    return {
        "openapi": "3.1.0",
        "info": {"title": "Lobbyline API", "version": "1",
                 "description": "The HTTP API of docs/api.md. Errors share one shape."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "detail"],
                          "properties": {"error": {"type": "string"},
                                         "detail": {"type": "string"},
                                         "field": {"type": "string"}}},
                "Visit": {"type": "object", "required": ["id", "ticket", "queue", "status"],
                          "properties": {"id": {"type": "string"},
                                         "ticket": {"type": "string"},
                                         "queue": {"type": "string"},
                                         "status": {"type": "string"},
                                         "name": {"type": "string"}}},
            },
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(document())


routes = [Route(PATH, openapi)]
