"""The desk's broadcast message on the lobby screens: its rules, its store and its API.

One short line ("The lab reopens at 2 pm") per site, shown until it expires. Redis drops
the key at its expiry and each screen hides the line at the same moment from the time it
was given, so nothing needs to be pushed when it runs out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import clock
from app.access.auth import require
from app.api import only, read_body
from app.errors import invalid
from app.sites import Site
from app.storage import keys, scripts
from app.storage.store import Store
from app.text import refused_character

TEXT_MAX = 90  # what a TV band shows in one line at a readable size
MINUTES_MAX = 12 * 60


def parse_message(body: dict[str, Any]) -> tuple[str, int]:
    """(text, minutes) from a request body holding only those two fields; 422 naming the
    field for a bad value."""
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise invalid("Type the message to show on the lobby screens.", field="text")
    text = text.strip()
    if len(text) > TEXT_MAX:
        raise invalid(f"The message is longer than {TEXT_MAX} characters: shorten it.",
                      field="text")
    if refused_character(text):
        raise invalid("The message contains control characters, which cannot be shown.",
                      field="text")
    minutes = body.get("minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, int) \
            or not 1 <= minutes <= MINUTES_MAX:
        raise invalid(f"The message can stay from 1 to {MINUTES_MAX} minutes "
                      f"({MINUTES_MAX // 60} hours).", field="minutes")
    return text, minutes


async def set_message(store: Store, site: Site, text: str, minutes: int, actor: str,
                      now: datetime | None = None) -> dict[str, Any]:
    """Show `text` on the site's lobby screens for `minutes`; answers {text, expires_at}."""
    now = now or clock.now()
    expires = now + timedelta(minutes=minutes)
    await _run(store, site, now, actor, {
        "text": text, "expires_at": clock.iso(expires), "expires_ms": str(clock.ms(expires)),
        "ttl_ms": minutes * 60000})
    return {"text": text, "expires_at": clock.iso(expires)}


async def clear_message(store: Store, site: Site, actor: str) -> None:
    """Take the site's message off the lobby screens (harmless when there is none)."""
    await _run(store, site, clock.now(), actor,
               {"text": "", "expires_at": "", "expires_ms": "", "ttl_ms": 0})


async def _run(store: Store, site: Site, now: datetime, actor: str,
               args: dict[str, Any]) -> None:
    await store.run("message", {
        "message": keys.message(site.id), "events": keys.events(site.id),
        "audit": keys.audit(site.id, clock.local_date(now, site.tz))},
        {**scripts.common(store.settings, now, actor), **args})


# The API (docs/api.md): set the message for some minutes, or clear it.

FIELDS = ("text", "minutes")


async def post_message(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("desk",))
    text, minutes = parse_message(only(await read_body(request), FIELDS))
    return JSONResponse(await set_message(request.app.state.store, site, text, minutes,
                                          principal.actor))


async def delete_message(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("desk",))
    only(await read_body(request), ())
    await clear_message(request.app.state.store, site, principal.actor)
    return JSONResponse({"text": None})


routes = [
    Route("/api/v1/sites/{site}/message", post_message, methods=["POST"]),
    Route("/api/v1/sites/{site}/message", delete_message, methods=["DELETE"]),
]
