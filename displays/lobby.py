"""The lobby display: its page, and the fragments its socket receives.

Rendered from the lobby-safe view only (app/lobby.py), so nothing personal can reach a
waiting-room screen. The page and the pushed fragments use the same macros, so they agree
to the byte.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.lobby import LobbyView, lobby_view
from app.screens import render_screen
from app.state import SiteState
from app.templating import macro


def fragments(state: SiteState) -> dict[str, str]:
    """Element id -> markup for the lobby socket."""
    return fragments_from_view(lobby_view(state))


def fragments_from_view(view: LobbyView) -> dict[str, str]:
    calling, queue = macro("lobby_macros.html", "calling"), macro("lobby_macros.html", "queue")
    out = {"calling": str(calling(view))}
    for q in view.queues:
        out[f"queue-{q.id}"] = str(queue(q))
    return out


async def page(request: Request) -> Response:
    return await render_screen(
        request, ("display", "desk"), "/pair", "lobby.html",
        lambda state: {"view": lobby_view(state), "site_id": state.site.id})


routes = [Route("/sites/{site}/lobby", page)]
