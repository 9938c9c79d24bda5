"""Access for the HTML screens: like the API's, but a person gets a page, not JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.auth import Principal, require
from app.errors import ApiError, error_page
from app.sites import Site
from app.state import SiteState
from app.templating import templates


async def screen_access(request: Request, roles: tuple[str, ...],
                        sign_in: str) -> tuple[Principal, Site] | Response:
    """The caller and site, or where to send them: `sign_in` (/login or /pair) when
    unknown, an error page with a way out when known but not allowed here."""
    try:
        return await require(request, request.path_params["site"], roles)
    except ApiError as exc:
        if exc.status_code == 401:
            return RedirectResponse(f"{sign_in}?next={quote(request.url.path)}", 303)
        return error_page(request, exc.status_code, exc.detail)


async def render_screen(request: Request, roles: tuple[str, ...], sign_in: str, template: str,
                        context: Callable[[SiteState], dict[str, Any]]) -> Response:
    """A screen's page: its first paint from the site's state, rendered with the same
    macros its WebSocket fragments use."""
    access = await screen_access(request, roles, sign_in)
    if isinstance(access, Response):
        return access
    _, site = access
    state = await request.app.state.store.snapshot(site)
    return templates.TemplateResponse(request, template, context(state))
