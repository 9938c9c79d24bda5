"""The API of kiosks' calls for help (docs/api.md): a board answers one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.api import only, read_body
from app.auth import require
from app.help_calls import answer


async def answer_call(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("desk",))
    only(await read_body(request), ())
    kiosk = request.path_params["kiosk"]
    await answer(request.app.state.store, site, kiosk, principal.actor)
    return JSONResponse({"kiosk": kiosk, "answered": True})


routes = [Route("/api/v1/sites/{site}/help/{kiosk}/answer", answer_call, methods=["POST"])]
