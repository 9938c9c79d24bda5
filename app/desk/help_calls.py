"""A kiosk's call for help: the patient taps *Help* and every front-desk board of the site
shows it, red and with a sound, until a PSR answers it (docs/kiosk.md, docs/board.md).

One open call per kiosk: tapping again while it is open changes nothing. A call nobody
answers is dropped after `OPEN_HOURS`, so a forgotten one does not greet the next morning.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import clock
from app.access.auth import require
from app.api import only, read_body
from app.errors import ApiError
from app.sites import Site
from app.storage import keys, scripts
from app.storage.store import Store
from app.visits.state import HELP_OPEN_HOURS as OPEN_HOURS


async def ask(store: Store, site: Site, kiosk: str, name: str, actor: str,
              now: datetime | None = None) -> None:
    """Open a call for help from the kiosk `kiosk` (shown as `name`)."""
    await _run(store, site, now or clock.now(), actor,
               {"op": "ask", "kiosk": kiosk, "name": name})


async def answer(store: Store, site: Site, kiosk: str, actor: str) -> None:
    """Close the kiosk's open call; 404 when there is none (answered already)."""
    args = {"op": "answer", "kiosk": kiosk, "name": ""}
    if not await _run(store, site, clock.now(), actor, args):
        raise ApiError(404, "not_found", "That call for help is not open: someone has "
                       "answered it already.")


async def _run(store: Store, site: Site, now: datetime, actor: str, args: dict[str, Any]) -> Any:
    return await store.run("help", {
        "help": keys.help_requests(site.id), "events": keys.events(site.id),
        "audit": keys.audit(site.id, clock.local_date(now, site.tz))},
        {**scripts.common(store.settings, now, actor), **args,
         "ttl_ms": OPEN_HOURS * 3600_000})


# The API (docs/api.md): a board answers a call.


async def answer_call(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("desk",))
    only(await read_body(request), ())
    kiosk = request.path_params["kiosk"]
    await answer(request.app.state.store, site, kiosk, principal.actor)
    return JSONResponse({"kiosk": kiosk, "answered": True})


routes = [Route("/api/v1/sites/{site}/help/{kiosk}/answer", answer_call, methods=["POST"])]
