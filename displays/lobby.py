"""The lobby display: its page, and the fragments its socket receives.

Rendered from the lobby-safe view only (app/visits/lobby.py), so nothing personal can reach a
waiting-room screen. The page and the pushed fragments use the same macros, so they agree
to the byte. A display may be limited to some queues (one screen per department): its
page draws only those, and its script leaves aside the pushed calls and queues of others,
since every display of a site shares one rendering.
"""

from __future__ import annotations

from collections.abc import Hashable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.access.screens import screen_access
from app.errors import error_page
from app.kept import Kept
from app.sites import Site
from app.templating import macro, templates
from app.visits.lobby import LobbyView, lobby_view
from app.visits.state import SiteState


def fragments(state: SiteState) -> dict[str, str]:
    """Element id -> markup for the lobby socket."""
    return fragments_from_view(lobby_view(state))


def fragments_from_view(view: LobbyView) -> dict[str, str]:
    return {"calling": _render("calling", (view.calling, view.recent), view),
            "broadcast": _render("broadcast", (view.message, view.message_expires_ms), view),
            **{f"queue-{q.id}": _render("queue", q, q) for q in view.queues}}


# Fragments rendered lately, by macro and what the macro reads of its argument: a change
# touches one queue or the calls, and a redraw renders only the fragments whose data
# changed (the rest were two thirds of a lobby's render). The macros read nothing else.
_rendered: Kept[tuple[str, Hashable], str] = Kept(1024)


def _render(name: str, key: Hashable, arg: object) -> str:
    return _rendered.get((name, key)) or _rendered.put(
        (name, key), str(macro("lobby_macros.html", name)(arg)))


def queue_filter(site: Site, paired: tuple[str, ...], asked: str | None) -> tuple[str, ...]:
    """The queues a display shows: those chosen when it was paired, else `?queues=a,b`,
    else all. Raises ValueError naming a queue the site does not have."""
    chosen = tuple(paired) or tuple(q for q in (asked or "").split(",") if q.strip())
    chosen = tuple(dict.fromkeys(q.strip() for q in chosen))
    for q in chosen:
        if site.queue(q) is None:
            raise ValueError(f"There is no queue '{q[:32]}' at this site; "
                             f"its queues are {', '.join(x.id for x in site.queues)}.")
    return chosen


async def page(request: Request) -> Response:
    access = await screen_access(request, ("display", "desk"), "/pair")
    if isinstance(access, Response):
        return access
    principal, site = access
    try:
        only = queue_filter(site, tuple(getattr(principal, "queues", ()) or ()),
                            request.query_params.get("queues"))
    except ValueError as exc:
        return error_page(request, 404, str(exc))
    state = await request.app.state.store.snapshot(site)
    view = lobby_view(state, only)
    return templates.TemplateResponse(request, "lobby.html", {
        "view": view, "site_id": site.id, "queues": only})


routes = [Route("/sites/{site}/lobby", page)]
