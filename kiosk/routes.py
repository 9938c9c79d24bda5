"""The self check-in kiosk page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.lobby import lobby_view
from app.screens import screen_access
from app.templating import templates


async def kiosk(request: Request) -> Response:
    access = await screen_access(request, ("kiosk", "desk"), "/pair")
    if isinstance(access, Response):
        return access
    _, site = access
    state = await request.app.state.store.snapshot(site)
    return templates.TemplateResponse(request, "kiosk.html",
                                      {"view": lobby_view(state), "site_id": site.id})


routes = [Route("/sites/{site}/kiosk", kiosk)]
