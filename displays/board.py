"""The front-desk board: its page, and the fragments its socket receives."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.screens import render_screen
from app.state import SiteState
from app.templating import macro
from app.visits import visit_json


def context(state: SiteState) -> dict[str, Any]:
    """What the board's page and its fragments are rendered from."""
    queues = [(q, state.waiting_json(q)) for q in state.queues]
    active = [visit_json(v) for v in state.active]
    return {"site": state.site, "queues": queues, "active": active, "rooms": state.rooms,
            "room_names": {r.id: r.name for r in state.rooms}}


def fragments(state: SiteState) -> dict[str, str]:
    """Element id -> markup for the board socket."""
    ctx = context(state)
    site_id = state.site.id
    queue = macro("board_macros.html", "queue")
    names = ctx["room_names"]
    out = {f"board-queue-{q.id}": str(queue(site_id, q, visits, names))
           for q, visits in ctx["queues"]}
    out["board-active"] = str(macro("board_macros.html", "active")(site_id, ctx["active"], names))
    out["board-rooms"] = str(macro("board_macros.html", "rooms")(ctx["rooms"]))
    return out


async def page(request: Request) -> Response:
    return await render_screen(request, ("desk",), "/login", "board.html", context)


routes = [Route("/sites/{site}/board", page)]
