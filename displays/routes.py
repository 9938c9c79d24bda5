"""The lobby display and the front-desk board pages; their live parts come over the
WebSocket, rendered by displays/fragments.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.lobby import lobby_view
from app.screens import render_screen
from displays.fragments import board_context


async def lobby(request: Request) -> Response:
    return await render_screen(
        request, ("display", "desk"), "/pair", "lobby.html",
        lambda state: {"view": lobby_view(state), "site_id": state.site.id})


async def board(request: Request) -> Response:
    return await render_screen(request, ("desk",), "/login", "board.html", board_context)


routes = [
    Route("/sites/{site}/lobby", lobby),
    Route("/sites/{site}/board", board),
]
