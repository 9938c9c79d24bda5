"""A kiosk's call for help: the patient taps *Help* and every front-desk board of the site
shows it, red and with a sound, until a PSR answers it (docs/kiosk.md, docs/board.md).

One open call per kiosk: tapping again while it is open changes nothing. A call nobody
answers is dropped after `OPEN_HOURS`, so a forgotten one does not greet the next morning.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app import clock, keys, scripts
from app.errors import ApiError

if TYPE_CHECKING:  # the store reads calls through app.state, which imports this
    from app.sites import Site
    from app.store import Store

OPEN_HOURS = 12


def open_calls(raw: Mapping[str, str] | None, now_ms: int) -> tuple[dict[str, Any], ...]:
    """The open calls from the help hash as the snapshot read it, the oldest first, less
    those older than `OPEN_HOURS`."""
    since = now_ms - OPEN_HOURS * 3600_000
    calls = [c for c in (json.loads(body) for body in (raw or {}).values())
             if c["at_ms"] >= since]
    return tuple(sorted(calls, key=lambda c: c["at_ms"]))


def public(call: Mapping[str, Any]) -> dict[str, Any]:
    """A call as the API shows it (docs/api.md): which kiosk, its name, since when."""
    return {"kiosk": call.get("kiosk"), "name": call.get("name"), "at": call.get("at")}


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
