"""The broadcast message's API (docs/api.md): set it for some minutes, or clear it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.api import only, read_body
from app.auth import require
from app.messages import clear_message, parse_message, set_message

FIELDS = ("text", "minutes")


async def post_message(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("desk",))
    text, minutes = parse_message(only(await read_body(request), FIELDS))
    return JSONResponse(await set_message(request.app.state.store, site, text, minutes,
                                          principal.actor))


async def delete_message(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("desk",))
    only(await read_body(request), ())
    await clear_message(request.app.state.store, site, principal.actor)
    return JSONResponse({"text": None})


routes = [
    Route("/api/v1/sites/{site}/message", post_message, methods=["POST"]),
    Route("/api/v1/sites/{site}/message", delete_message, methods=["DELETE"]),
]
