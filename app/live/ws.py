"""The WebSocket endpoints of API.md: one per audience, all fed by the site's hub."""

from __future__ import annotations

import asyncio

from redis.exceptions import RedisError
from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from app.access.auth import Principal, origin_allowed, require, session_alive, session_of
from app.api import parse_after
from app.errors import ApiError
from app.live.fanout import Subscriber
from app.sites import Site
from app.storage.store import redis_of

SESSION_ENDED = 4403  # close code: the staff session behind the socket ended
SESSION_CHECK_SECONDS = 5.0

ROLES = {
    "lobby": ("display", "desk"),
    "board": ("desk",),
    "kiosk": ("kiosk", "desk"),
    "events": ("desk",),
}


async def _admit(ws: WebSocket, audience: str) -> tuple[Site, Principal] | None:
    """The socket's site and caller, if its caller may listen; else the HTTP refusal is
    sent."""
    try:
        if not origin_allowed(ws):
            raise ApiError(403, "bad_origin", "WebSockets are only for this server's pages.")
        principal, site = await require(ws, ws.path_params["site"], ROLES[audience])
        after = ws.query_params.get("after") if audience == "events" else None
        if after is not None:
            parse_after(after)
    except ApiError as exc:
        await ws.send_denial_response(JSONResponse(exc.body(), status_code=exc.status_code))
        return None
    return site, principal


async def _hold(ws: WebSocket, sub: Subscriber) -> None:
    """Keep the socket until the client leaves or the hub drops it as too slow. It waits
    in the endpoint's own task, with no task of its own: a thousand idle screens cost a
    thousand tasks fewer (docs/benchmarks.md)."""
    sub.holder = asyncio.current_task()
    try:
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass
    except asyncio.CancelledError:
        if not sub.closed:
            raise
        sub.holder.uncancel()  # the hub closed the socket: see Subscriber._close
    finally:
        sub.holder = None
        sub.close()
        if sub.closing is not None:
            # Returning now would let the server drop the connection before the close
            # frame (1013 for a socket that fell behind) leaves a full write buffer, and
            # the client would see 1006; the close is bounded by Subscriber's timeout.
            await sub.closing


async def _watch_session(ws: WebSocket, sub: Subscriber, session_id: str) -> None:
    """Close a staff socket soon after its session ends (signed out, locked when idle, the
    user disabled): a board left open must not go on showing patients' names. Its page
    then goes to sign-in (static/js/revoked.js)."""
    while not sub.closed:
        await asyncio.sleep(SESSION_CHECK_SECONDS)
        try:
            alive = await session_alive(redis_of(ws), session_id)
        except RedisError:
            continue  # Redis away: the screens carry on, as they do for everyone
        if not alive:
            sub.close(SESSION_ENDED)
            return


def _endpoint(audience: str):
    async def endpoint(ws: WebSocket) -> None:
        admitted = await _admit(ws, audience)
        if admitted is None:
            return
        site, principal = admitted
        del admitted
        device_id, session_id = principal.device_id, session_of(ws, principal)
        del principal
        async with ws.app.state.hub.use(site) as hub:
            del site  # the hub has the site; this frame lasts as long as the socket
            # Accept only once the site's hub has its first snapshot: joining then follows the
            # handshake with no pause, so every event written after the client saw it is
            # delivered.
            await hub.ready.wait()
            await ws.accept()
            if audience == "events":
                after = ws.query_params.get("after")
                sub = await hub.join_events(ws, parse_after(after) if after else None)
            else:
                sub = await hub.join(audience, ws)
            sub.device_id = device_id  # the hub closes it if the device is revoked
            watch = None
            if session_id is not None:
                watch = asyncio.create_task(_watch_session(ws, sub, session_id))
            try:
                await _hold(ws, sub)
            finally:
                if watch is not None:
                    watch.cancel()

    endpoint.__name__ = f"ws_{audience}"
    return endpoint


routes = [
    WebSocketRoute(f"/ws/sites/{{site}}/{audience}", _endpoint(audience))
    for audience in ROLES
]
