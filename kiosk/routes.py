"""The self check-in kiosk page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.lobby import lobby_view
from app.screens import render_screen


async def kiosk(request: Request) -> Response:
    return await render_screen(
        request, ("kiosk", "desk"), "/pair", "kiosk.html",
        lambda state: {"view": lobby_view(state), "site_id": state.site.id})


routes = [Route("/sites/{site}/kiosk", kiosk)]
