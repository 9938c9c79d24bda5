"""The lobby display and the front-desk board pages; their live parts come over the
WebSocket, rendered by displays/fragments.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.lobby import lobby_view
from app.screens import screen_access
from app.templating import templates
from displays.fragments import board_context


async def lobby(request: Request) -> Response:
    access = await screen_access(request, ("display", "desk"), "/pair")
    if isinstance(access, Response):
        return access
    _, site = access
    state = await request.app.state.store.snapshot(site)
    return templates.TemplateResponse(request, "lobby.html",
                                      {"view": lobby_view(state), "site_id": site.id})


async def board(request: Request) -> Response:
    access = await screen_access(request, ("desk",), "/login")
    if isinstance(access, Response):
        return access
    _, site = access
    state = await request.app.state.store.snapshot(site)
    return templates.TemplateResponse(request, "board.html", board_context(state))


routes = [
    Route("/sites/{site}/lobby", lobby),
    Route("/sites/{site}/board", board),
]
