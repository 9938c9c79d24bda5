"""The hub: one tail of each active site's event stream per process, fanned out to the
site's sockets, rendered once per audience.

Every push starts from the stream, so what any process writes reaches the sockets of
every process. After each batch of events the hub reads the site's state once (one
atomic script), renders each audience's fragments, and sends only those whose markup
changed; a socket that connects gets the latest full render first, so it never sees a
change before the state it applies to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.websockets import WebSocket

from app import keys
from app.fanout import Group, Subscriber
from app.sites import Site
from app.state import SiteState
from app.store import Event, Store

log = logging.getLogger(__name__)

Renderer = Callable[[SiteState], dict[str, str]]

BLOCK_MS = 1000  # well under redis-py's socket timeout, per FIELD-NOTES
BATCH = 500
CATCH_UP_TRIES = 200  # x 10 ms
SCREEN_LIMIT = 100  # visits listed per queue on a screen; the rest are counted


class SiteHub:
    """Live state for the sockets of one site in this process."""

    def __init__(self, site: Site, store: Store, tail: Redis,
                 renderers: dict[str, Renderer], limit: int) -> None:
        self.site = site
        self.store = store
        self.tail = tail
        self.renderers = renderers
        self.groups = {name: Group(limit) for name in (*renderers, "json")}
        self.fragments: dict[str, dict[str, str]] = {name: {} for name in renderers}
        self.last_id = "0-0"
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.stopping = False  # see run(): a swallowed cancel must still end the loop

    async def join(self, audience: str, ws: WebSocket) -> Subscriber:
        """Add a socket of `audience` (lobby, board, kiosk); its first frame is the whole
        current state for that audience."""
        await self.ready.wait()
        full = "".join(self.fragments[audience].values())
        return self.groups[audience].add(ws, first=full)

    async def join_events(self, ws: WebSocket, after: str | None) -> Subscriber:
        """Add a JSON client; with `after`, first send every later event the stream
        holds, then live events, none missed and none twice."""
        await self.ready.wait()
        # A client may resume from an id another process has sent it that this hub has
        # not read yet; live events up to it would then come twice. Wait (briefly) for
        # the tail to catch up.
        for _ in range(CATCH_UP_TRIES):
            if after is None or _id_key(self.last_id) >= _id_key(after):
                break
            await asyncio.sleep(0.01)
        upto = self.last_id
        sub = self.groups["json"].add(ws, paused=after is not None)
        if after is not None:
            cursor = after
            while True:
                events = await self.store.events_after(self.site.id, cursor, BATCH)
                events = [e for e in events if _id_key(e.id) <= _id_key(upto)]
                for event in events:
                    await ws.send_text(json.dumps(event.to_json()))
                if len(events) < BATCH:
                    break
                cursor = events[-1].id
            sub.resume()
        return sub

    @property
    def sockets(self) -> int:
        return sum(len(g) for g in self.groups.values())

    async def run(self) -> None:
        """Tail the stream until stopped, surviving Redis restarts with backoff.

        Checks `stopping` as well as being cancelled: on Python 3.11 a cancel that lands as
        a Redis reply arrives can be swallowed, and the tail would block on."""
        delay = 0.1
        while not self.stopping:
            try:
                # After an outage keep the cursor: the tail then reads, and sends to the
                # JSON clients, every event written while it was away.
                await self._refresh(keep_cursor=self.ready.is_set())
                self.ready.set()
                delay = 0.1
                await self._tail()
            except RedisError as exc:
                log.warning("site %s: Redis unavailable (%s); retrying", self.site.id, exc)
            except Exception:
                # A bug must not leave the site's screens dark: log it and start over.
                log.exception("site %s: the hub failed; restarting it", self.site.id)
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 5.0)

    async def _tail(self) -> None:
        stream = keys.events(self.site.id)
        while not self.stopping:
            reply = await self.tail.xread({stream: self.last_id}, count=BATCH, block=BLOCK_MS)
            if not reply:
                continue
            entries = reply[0][1]
            events = [Event.from_stream(i, f) for i, f in entries]
            self.last_id = events[-1].id
            for event in events:
                self.groups["json"].send(json.dumps(event.to_json()))
            if any(e.type == "site.updated" for e in events):
                self.site = await self.store.get_site(self.site.id) or self.site
            await self._refresh(keep_cursor=True)

    async def _refresh(self, keep_cursor: bool = False) -> None:
        """Read the state once, render each audience, send what changed."""
        state = await self.store.snapshot(self.site, limit=SCREEN_LIMIT)
        if not keep_cursor:
            # After a (re)connect: no event before this snapshot needs replaying.
            self.last_id = state.event_id
        for audience, render in self.renderers.items():
            fresh = render(state)
            old = self.fragments[audience]
            changed = [html for fid, html in fresh.items() if old.get(fid) != html]
            self.fragments[audience] = fresh
            if changed and self.ready.is_set():
                self.groups[audience].send("".join(changed))


def _id_key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


class Hub:
    """The process's SiteHubs, each started on its site's first socket."""

    def __init__(self, store: Store, tail: Redis, renderers: dict[str, Renderer],
                 limit: int) -> None:
        self.store = store
        self.tail = tail
        self.renderers = renderers
        self.limit = limit
        self.sites: dict[str, SiteHub] = {}

    def site(self, site: Site) -> SiteHub:
        hub = self.sites.get(site.id)
        if hub is None:
            hub = self.sites[site.id] = SiteHub(site, self.store, self.tail, self.renderers,
                                                self.limit)
            hub.task = asyncio.create_task(hub.run(), name=f"hub:{site.id}")
        return hub

    async def stop(self) -> None:
        for hub in self.sites.values():
            hub.stopping = True
            if hub.task is not None:
                hub.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await hub.task
            for group in hub.groups.values():
                for sub in list(group.subscribers):
                    sub.close(1012)
        self.sites.clear()

    def stats(self) -> dict[str, Any]:
        return {sid: {name: len(g) for name, g in h.groups.items()}
                for sid, h in self.sites.items()}
