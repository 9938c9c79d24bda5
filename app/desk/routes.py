"""The desk's records on a visit, as JSON routes (docs/api.md, "Desk records").

Mounted before the API's `/visits/{id}/{action}` so these names are not read as moves."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.access.auth import require
from app.api import only, priority_field, read_body, text_field
from app.desk.records import NOTE_MAX, DeskStore, parse_amount
from app.errors import invalid

PREFIX = "/api/v1/sites/{site}/visits/{visit_id}"


def _desk(request: Request) -> DeskStore:
    return request.app.state.desk


async def clear_flag(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("desk",))
    flag = text_field(only(await read_body(request), ("flag",)), "flag", 32, required=True)
    return JSONResponse(await _desk(request).clear_flag(
        site, request.path_params["visit_id"], flag, principal.actor))


async def copay(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("desk",))
    body = only(await read_body(request), ("amount", "method"))
    if body.get("amount") in (None, ""):
        raise invalid("Type the amount of the copay, such as 25 or 25.50.", field="amount")
    cents = parse_amount(body["amount"])
    method = text_field(body, "method", 8, required=True)
    return JSONResponse(await _desk(request).record_copay(
        site, request.path_params["visit_id"], cents, method, principal.actor))


async def note(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("desk",))
    text = text_field(only(await read_body(request), ("note",)), "note", NOTE_MAX)
    return JSONResponse(await _desk(request).set_note(
        site, request.path_params["visit_id"], text, principal.actor))


async def priority(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("desk",))
    value = priority_field(only(await read_body(request), ("priority",)).get("priority"))
    return JSONResponse(await _desk(request).set_priority(
        site, request.path_params["visit_id"], value, principal.actor))


routes = [
    Route(PREFIX + "/clear-flag", clear_flag, methods=["POST"]),
    Route(PREFIX + "/copay", copay, methods=["POST"]),
    Route(PREFIX + "/note", note, methods=["POST"]),
    Route(PREFIX + "/priority", priority, methods=["POST"]),
]
