"""Staff sign-in and device pairing: the two ways a browser gets its cookie; and sign-out.

Failed tries are limited (app/access/throttle.py): a refused try answers 429 with Retry-After
and a sentence saying how long to wait. A name guessed from many addresses is only slowed,
never refused, and the guessing goes on the site's audit trail.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlparse

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.access import auth, devices, throttle
from app.errors import error_page
from app.storage.store import redis_of
from app.templating import templates

CODE_MAX = 32
NAME_MAX = 100


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


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _audit_guessing(request: Request, name: str, failures: int) -> None:
    """Put on the user's site's audit trail that their name is being guessed (once per
    run of failures: when the count first reaches the point where sign-ins slow down)."""
    user = await auth.get_user(redis_of(request), name) if name else None
    site = await request.app.state.store.get_site(user["site"]) if user else None
    if site is not None:
        await auth.audit(redis_of(request), request.app.state.settings, site,
                         "user.signin_failures", "system:sign-in",
                         user=name, failures=failures)


def _form_page(request: Request, template: str, context: dict[str, Any], status: int = 200,
               retry_after: int = 0) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return templates.TemplateResponse(request, template, context, status_code=status,
                                      headers=headers)


async def login_page(request: Request) -> Response:
    minutes = request.app.state.settings.staff_idle_minutes
    locked = (f"The screen was locked after {minutes:g} minutes without activity. "
              "Sign in again to carry on.") if request.query_params.get("locked") else ""
    return _form_page(request, "login.html", {"next": request.query_params.get("next", ""),
                                              "notice": locked})


async def login(request: Request) -> Response:
    form = await request.form()
    name, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    nxt = str(form.get("next", ""))
    if not auth.origin_allowed(request, strict=True):
        return error_page(request, 403, "Sign-in must come from this server's own page.")
    redis = redis_of(request)
    checks = throttle.signin_checks(name, _address(request))
    wait = await throttle.retry_after(redis, checks)
    if wait:
        return _form_page(request, "login.html", {
            "next": nxt, "username": name,
            "error": f"Too many failed sign-ins from this computer. Wait "
                     f"{throttle.minutes(wait)}, then try again."},
            status=429, retry_after=wait)
    failures = (await throttle.name_failures(redis, [name]))[name]
    first = request.app.state.settings.signin_delay_ms / 1000
    await asyncio.sleep(throttle.signin_delay(failures, first))
    session_id = None
    idle = auth.idle_limit(request.app.state.settings.staff_idle_minutes)
    if name and password and len(name) <= NAME_MAX and len(password) <= auth.PASSWORD_MAX:
        session_id = await auth.login(redis, name, password, idle_seconds=idle)
    if session_id is None:
        failures = await throttle.signin_failed(redis, name, _address(request))
        if failures == throttle.SIGNIN_NAME.allowed:
            await _audit_guessing(request, name, failures)
        return _form_page(request, "login.html", {
            "next": nxt, "username": name,
            "error": "That user name and password do not match."}, status=401)
    checks.append((throttle.SIGNIN_NAME, name.lower()))
    await throttle.succeeded(redis, checks)
    principal = await auth.principal_of_session(redis, session_id, idle)
    assert principal is not None
    home = f"/sites/{principal.site}/{'admin' if principal.role == 'admin' else 'board'}"
    response = RedirectResponse(_safe_next(nxt, home), 303)
    _cookie(request, response, auth.SESSION_COOKIE, session_id, auth.SESSION_TTL)
    return response


async def logout(request: Request) -> Response:
    session_id = request.cookies.get(auth.SESSION_COOKIE)
    if session_id:
        await auth.logout(redis_of(request), session_id)
    target = "/login?locked=1" if request.query_params.get("locked") else "/login"
    response = RedirectResponse(target, 303)
    response.delete_cookie(auth.SESSION_COOKIE)
    return response


async def pair_page(request: Request) -> Response:
    revoked = ("An administrator unpaired this screen. Enter a new pairing code to use it "
               "again.") if request.query_params.get("revoked") else ""
    return _form_page(request, "pair.html", {"notice": revoked})


async def pair(request: Request) -> Response:
    form = await request.form()
    if not auth.origin_allowed(request, strict=True):
        return error_page(request, 403, "Pairing must come from this server's own page.")
    redis = redis_of(request)
    checks = [(throttle.PAIR_ADDRESS, _address(request))]
    wait = await throttle.retry_after(redis, checks)
    if wait:
        return _form_page(request, "pair.html", {
            "error": f"Too many wrong pairing codes from this screen. Wait "
                     f"{throttle.minutes(wait)}, then try again."},
            status=429, retry_after=wait)
    pairing = await auth.spend_pairing_code(redis, str(form.get("code", ""))[:CODE_MAX])
    site = await request.app.state.store.get_site(pairing["site"]) if pairing else None
    if pairing is None or site is None:
        await throttle.failed(redis, checks)
        return _form_page(request, "pair.html", {
            "error": "That pairing code is not valid or has expired. Codes work once, "
                     "for 15 minutes; ask for a new one."}, status=400)
    await throttle.succeeded(redis, checks)
    device_id = await devices.pair(redis, request.app.state.settings, site, pairing)
    cookie = request.app.state.signer.dumps({"site": site.id, "device": device_id})
    screen = "lobby" if pairing["role"] == "display" else "kiosk"
    response = RedirectResponse(f"/sites/{site.id}/{screen}", 303)
    _cookie(request, response, auth.DEVICE_COOKIE, cookie, 10 * 365 * 86400)
    return response


routes = [
    Route("/login", login_page),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/pair", pair_page),
    Route("/pair", pair, methods=["POST"]),
]
