"""The admin pages of a site: staff users (add, disable, enable, reset a password) and
paired devices (make a pairing code, see when each was last seen, revoke).

Each form posts to its own address and gets the page back with a sentence saying what
happened, or, for bad input, what to change (status 4xx, nothing changed). Only the
site's admins may open them; a desk user gets a 403 page saying so.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.access import auth, devices, throttle
from app.access.auth import Principal
from app.access.screens import screen_access
from app.errors import ApiError, error_page
from app.sites import Site
from app.storage.store import redis_of
from app.templating import templates
from app.timefmt import site_clock, site_day

FORM_MAX = 1000


def local_time(iso: str, site: Site) -> str:
    """An ISO time as the site writes a day and a time ("Nov 27, 2:05 PM", in Spanish
    "27 nov, 14:05"); "" for none."""
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso).astimezone(site.tz)
    return f"{site_day(moment, site)}, {site_clock(moment, site)}"


async def _admin(request: Request) -> tuple[Principal, Site] | Response:
    access = await screen_access(request, ("desk",), "/login")
    if isinstance(access, Response):
        return access
    principal, _ = access
    if principal.role != "admin":
        return error_page(request, 403, "Only the site's administrators can open the admin "
                          f"pages; you are signed in as {principal.name or 'a desk user'}, "
                          "who works at the front desk.")
    return access


def _for_admins(handler: Callable[[Request, Principal, Site], Awaitable[Response]]
                ) -> Callable[[Request], Awaitable[Response]]:
    """A route for the site's admins only: `handler` gets the caller and the site."""

    @functools.wraps(handler)
    async def route(request: Request) -> Response:
        access = await _admin(request)
        if isinstance(access, Response):
            return access
        return await handler(request, *access)

    return route


def _page(request: Request, template: str, principal: Principal, site: Site,
          status: int = 200, **context: Any) -> Response:
    return templates.TemplateResponse(request, template, {
        "site": site, "me": principal, **context}, status_code=status)


def _field(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value[:FORM_MAX] if isinstance(value, str) else ""


@_for_admins
async def home(request: Request, principal: Principal, site: Site) -> Response:
    return _page(request, "admin.html", principal, site)


# Users

async def _users_page(request: Request, principal: Principal, site: Site, status: int = 200,
                      **context: Any) -> Response:
    redis = redis_of(request)
    users = await auth.site_users(redis, site.id)
    failures = await throttle.name_failures(redis, [u["name"] for u in users])
    for user in users:
        user["created_local"] = local_time(user["created"], site)
        user["failures"] = failures[user["name"]]
        user["guessed"] = user["failures"] >= throttle.SIGNIN_NAME.allowed
    return _page(request, "admin_users.html", principal, site, status, users=users, **context)


@_for_admins
async def add_user(request: Request, principal: Principal, site: Site) -> Response:
    form = await request.form()
    name, role = _field(form, "username").strip(), _field(form, "role")
    try:
        await auth.add_user(redis_of(request), site.id, role, name,
                            _field(form, "password"), replace=False)
    except ValueError as exc:
        return await _users_page(request, principal, site, 422, error=_sentence(exc),
                                 form={"username": name, "role": role})
    return await _users_page(request, principal, site,
                             notice=f"{name} can now sign in as {_role_name(role)}.")


@_for_admins
async def change_user(request: Request, principal: Principal, site: Site) -> Response:
    name, action = request.path_params["name"], request.path_params["action"]
    redis = redis_of(request)
    try:
        if action in ("disable", "enable"):
            if action == "disable" and name == principal.name:
                raise ValueError("you cannot disable yourself; ask another administrator.")
            await auth.set_disabled(redis, site.id, name, action == "disable")
            notice = (f"{name} is disabled and signed out everywhere." if action == "disable"
                      else f"{name} can sign in again.")
        elif action == "password":
            await auth.reset_password(redis, site.id, name, _field(await request.form(),
                                                                   "password"))
            notice = f"{name} has a new password and was signed out everywhere."
        else:
            raise ApiError(404, "not_found", "There is no such change.")
    except ValueError as exc:
        return await _users_page(request, principal, site, 422, error=_sentence(exc))
    except ApiError as exc:
        return await _users_page(request, principal, site, exc.status_code, error=exc.detail)
    return await _users_page(request, principal, site, notice=notice)


# Devices

async def _devices_page(request: Request, principal: Principal, site: Site,
                        status: int = 200, **context: Any) -> Response:
    paired = await devices.site_devices(redis_of(request), site.id)
    queue_names = {q.id: q.name for q in site.queues}
    for device in paired:
        device["seen_local"] = local_time(device["seen_at"], site)
        device["paired_local"] = local_time(device.get("paired_at", ""), site)
        device["queue_names"] = [queue_names.get(q, q) for q in device.get("queues") or ()]
    return _page(request, "admin_devices.html", principal, site, status, devices=paired,
                 **context)


@_for_admins
async def make_code(request: Request, principal: Principal, site: Site) -> Response:
    form = await request.form()
    role, name = _field(form, "role"), _field(form, "name").strip()
    queues = [q for q in form.getlist("queues") if isinstance(q, str)]
    try:
        chosen = auth.check_queue_filter(queues, [q.id for q in site.queues])
        code = await auth.create_pairing_code(redis_of(request), site.id, role, name,
                                              chosen)
    except ValueError as exc:
        return await _devices_page(request, principal, site, 422, error=_sentence(exc),
                                   form={"role": role, "name": name, "queues": queues})
    return await _devices_page(request, principal, site, code=code,
                               code_for=name or role.capitalize())


@_for_admins
async def revoke(request: Request, principal: Principal, site: Site) -> Response:
    device_id = request.path_params["device"]
    known = await devices.get(redis_of(request), site.id, device_id)
    try:
        await devices.revoke(redis_of(request), request.app.state.settings, site,
                             device_id, principal.actor)
    except ApiError as exc:
        return await _devices_page(request, principal, site, exc.status_code, error=exc.detail)
    name = (known or {}).get("name") or "The device"
    return await _devices_page(request, principal, site,
                               notice=f"{name} is unpaired; its screen goes back to pairing.")


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:]


def _role_name(role: str) -> str:
    return "an administrator" if role == "admin" else "a front-desk user"


routes = [
    Route("/sites/{site}/admin", home),
    Route("/sites/{site}/admin/users", _for_admins(_users_page)),
    Route("/sites/{site}/admin/users", add_user, methods=["POST"]),
    Route("/sites/{site}/admin/users/{name}/{action}", change_user, methods=["POST"]),
    Route("/sites/{site}/admin/devices", _for_admins(_devices_page)),
    Route("/sites/{site}/admin/devices", make_code, methods=["POST"]),
    Route("/sites/{site}/admin/devices/{device}/revoke", revoke, methods=["POST"]),
]
