"""Access for the HTML screens: like the API's, but a person gets a page, not JSON."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.access.auth import Principal, require
from app.errors import ApiError, error_page
from app.sites import Site


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

