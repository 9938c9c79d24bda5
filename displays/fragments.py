"""What the lobby and the board sockets receive: element id -> markup, per audience.

The hub calls these once per change and sends only the fragments whose markup changed;
the pages render the same macros, so a pushed fragment and the page agree to the byte.
"""

from __future__ import annotations

from typing import Any

from app.lobby import LobbyView, lobby_view
from app.state import SiteState
from app.templating import macro
from app.visits import visit_json


def lobby(state: SiteState) -> dict[str, str]:
    """Lobby fragments, rendered from the lobby-safe view only."""
    return lobby_from_view(lobby_view(state))


def lobby_from_view(view: LobbyView) -> dict[str, str]:
    calling, queue = macro("lobby_macros.html", "calling"), macro("lobby_macros.html", "queue")
    out = {"calling": str(calling(view))}
    for q in view.queues:
        out[f"queue-{q.id}"] = str(queue(q))
    return out


def board_context(state: SiteState) -> dict[str, Any]:
    queues = [(q, state.waiting_json(q)) for q in state.queues]
    active = [visit_json(v) for v in state.active]
    return {"site": state.site, "queues": queues, "active": active, "rooms": state.rooms,
            "room_names": {r.id: r.name for r in state.rooms}}


def board(state: SiteState) -> dict[str, str]:
    ctx = board_context(state)
    site_id = state.site.id
    queue = macro("board_macros.html", "queue")
    names = ctx["room_names"]
    out = {f"board-queue-{q.id}": str(queue(site_id, q, visits, names))
           for q, visits in ctx["queues"]}
    out["board-active"] = str(macro("board_macros.html", "active")(site_id, ctx["active"], names))
    out["board-rooms"] = str(macro("board_macros.html", "rooms")(ctx["rooms"]))
    return out
