"""Staff sign-in and device pairing: the two ways a browser gets its cookie."""

from __future__ import annotations

from urllib.parse import urlparse

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import auth
from app.errors import ApiError, error_page
from app.templating import templates


def _safe_next(target: str | None, default: str) -> str:
    """Only a local path may follow sign-in, so a link can't bounce staff elsewhere."""
    if not target:
        return default
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=request.app.state.settings.secure_cookies)


async def login_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "login.html",
                                      {"next": request.query_params.get("next", "")})


async def login(request: Request) -> Response:
    form = await request.form()
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    nxt = str(form.get("next", ""))
    if not auth.origin_allowed(request, strict=True):
        return error_page(request, 403, "Sign-in must come from this server's own page.")
    session_id = None
    if name and password and len(name) <= 100 and len(password) <= 1000:
        session_id = await auth.login(request.app.state.redis, name, password)
    if session_id is None:
        return templates.TemplateResponse(
            request, "login.html",
            {"next": nxt, "error": "That user name and password do not match."},
            status_code=401)
    principal = await auth.principal_of_session(request.app.state.redis, session_id)
    response = RedirectResponse(_safe_next(nxt, f"/sites/{principal.site}/board"), 303)
    _cookie(request, response, auth.SESSION_COOKIE, session_id, auth.SESSION_TTL)
    return response


async def logout(request: Request) -> Response:
    session_id = request.cookies.get(auth.SESSION_COOKIE)
    if session_id:
        await auth.logout(request.app.state.redis, session_id)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(auth.SESSION_COOKIE)
    return response


async def pair_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "pair.html", {})


async def pair(request: Request) -> Response:
    form = await request.form()
    if not auth.origin_allowed(request, strict=True):
        return error_page(request, 403, "Pairing must come from this server's own page.")
    try:
        cookie, site, role = await auth.pair_device(
            request.app.state.redis, request.app.state.signer, str(form.get("code", ""))[:32])
    except ApiError as exc:
        return templates.TemplateResponse(request, "pair.html", {"error": exc.detail},
                                          status_code=400)
    screen = "lobby" if role == "display" else "kiosk"
    response = RedirectResponse(f"/sites/{site}/{screen}", 303)
    _cookie(request, response, auth.DEVICE_COOKIE, cookie, 10 * 365 * 86400)
    return response


routes = [
    Route("/login", login_page),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/pair", pair_page),
    Route("/pair", pair, methods=["POST"]),
]
