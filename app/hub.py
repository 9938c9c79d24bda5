"""The hub: one tail of each active site's event stream per process, fanned out to the
site's sockets, rendered once per audience.

Every push starts from the stream, so what any process writes reaches the sockets of
every process. JSON clients get each event as it is read. Screens are redrawn at most once
per `SCREEN_REFRESH_MS` per site: the hub reads the site's state once (one atomic script),
renders each audience that has a socket, and sends only the fragments whose markup
changed. A change after a quiet spell is drawn at once; changes that arrive while the
screens were just redrawn share the next frame, so a busy desk never makes the hub redraw
faster than a TV can show, nor take the cores its requests need. A socket that connects
gets the latest full render first, so it never sees a change before the state it applies
to. A site's hub stops once no socket has used it for `HUB_IDLE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.websockets import WebSocket

from app import keys
from app.config import Settings
from app.events import Event
from app.fanout import Group, Subscriber
from app.sites import Site
from app.state import SiteState
from app.store import Store

log = logging.getLogger(__name__)

Renderer = Callable[[SiteState], dict[str, str]]

BLOCK_MS = 1000  # well under redis-py's socket timeout, per FIELD-NOTES
BATCH = 500
CATCH_UP_TRIES = 200  # x 10 ms
SCREEN_LIMIT = 100  # visits listed per queue on a screen; the rest are counted


class SiteHub:
    """Live state for the sockets of one site in this process."""

    def __init__(self, site: Site, store: Store, tail: Redis,
                 renderers: dict[str, Renderer], settings: Settings) -> None:
        self.site = site
        self.store = store
        self.tail = tail
        self.renderers = renderers
        self.groups = {name: Group(settings.socket_backlog) for name in (*renderers, "json")}
        self.fragments: dict[str, dict[str, str]] = {name: {} for name in renderers}
        self.state: SiteState | None = None
        self.stale: set[str] = set()  # audiences not rendered from `state` (no socket)
        self.interval = settings.screen_refresh_ms / 1000
        self.next_refresh = 0.0  # loop time before which the screens are not redrawn
        self.idle_seconds = settings.hub_idle_seconds
        self.users = 0  # sockets connecting or connected; see Hub.use()
        self.idle_since = asyncio.get_running_loop().time()
        self.on_stop: Callable[[SiteHub], None] | None = None
        self.last_id = "0-0"
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.stopping = False  # see run(): a swallowed cancel must still end the loop

    async def join(self, audience: str, ws: WebSocket) -> Subscriber:
        """Add a socket of `audience` (lobby, board, kiosk); its first frame is the whole
        current state for that audience."""
        await self.ready.wait()
        if audience in self.stale:
            self._render(audience)
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
        while not self._idle():
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

    def _idle(self) -> bool:
        """Whether to stop now: stopped, or no socket for `idle_seconds`. Deciding and
        leaving the Hub happen in one step, so a socket arriving meanwhile gets a new hub."""
        if not self.stopping and self.users == 0:
            loop = asyncio.get_running_loop()
            if loop.time() - self.idle_since >= self.idle_seconds:
                self.stopping = True
                if self.on_stop is not None:
                    self.on_stop(self)
                log.info("site %s: no socket for %d s; its hub stopped", self.site.id,
                         self.idle_seconds)
        return self.stopping

    async def _tail(self) -> None:
        stream = keys.events(self.site.id)
        loop = asyncio.get_running_loop()
        dirty = False  # events read that the screens do not show yet
        while not self._idle():
            block = BLOCK_MS
            if dirty:  # wake in time to redraw; 0 would block for ever
                block = max(1, min(BLOCK_MS, int((self.next_refresh - loop.time()) * 1000)))
            reply = await self.tail.xread({stream: self.last_id}, count=BATCH, block=block)
            if reply:
                events = [Event.from_stream(i, f) for i, f in reply[0][1]]
                self.last_id = events[-1].id
                if self.groups["json"]:
                    for event in events:
                        await self.groups["json"].send(json.dumps(event.to_json()))
                if any(e.type == "site.updated" for e in events):
                    self.site = await self.store.get_site(self.site.id) or self.site
                dirty = True
            if dirty and loop.time() >= self.next_refresh:
                started = loop.time()
                await self._refresh(keep_cursor=True)
                dirty = False
                # One redraw per interval, timed from its start so that changes spaced
                # wider than the interval are each drawn at once; and a pause of at
                # least half the redraw, so a fan-out to thousands of screens that
                # outlasts the interval still leaves the requests a third of the time.
                ended = loop.time()
                self.next_refresh = max(started + self.interval,
                                        ended + (ended - started) / 2)

    async def _refresh(self, keep_cursor: bool = False) -> None:
        """Read the state once, render each audience that has a socket, send what
        changed. An audience with none is only marked stale: join() renders it."""
        state = await self.store.snapshot(self.site, limit=SCREEN_LIMIT)
        if not keep_cursor:
            # After a (re)connect: no event before this snapshot needs replaying.
            self.last_id = state.event_id
        self.state = state
        for audience in self.renderers:
            if not self.groups[audience]:
                self.stale.add(audience)
                continue
            changed = self._render(audience)
            if changed and self.ready.is_set():
                await self.groups[audience].send(changed)

    def _render(self, audience: str) -> str:
        """Render `audience` from the last state read; answers the fragments that changed."""
        assert self.state is not None
        fresh = self.renderers[audience](self.state)
        old = self.fragments[audience]
        self.fragments[audience] = fresh
        self.stale.discard(audience)
        return "".join(html for fid, html in fresh.items() if old.get(fid) != html)


def _id_key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


class Hub:
    """The process's SiteHubs, each started on its site's first socket and stopped when
    its sockets have been gone a while."""

    def __init__(self, store: Store, tail: Redis, renderers: dict[str, Renderer],
                 settings: Settings) -> None:
        self.store = store
        self.tail = tail
        self.renderers = renderers
        self.settings = settings
        self.sites: dict[str, SiteHub] = {}

    @contextlib.asynccontextmanager
    async def use(self, site: Site) -> AsyncIterator[SiteHub]:
        """The site's hub, kept running for as long as the caller holds it."""
        hub = self.sites.get(site.id)
        if hub is None:
            hub = self.sites[site.id] = SiteHub(site, self.store, self.tail, self.renderers,
                                                self.settings)
            hub.on_stop = self._forget
            hub.task = asyncio.create_task(hub.run(), name=f"hub:{site.id}")
            log.info("site %s: hub started", site.id)
        hub.users += 1
        try:
            yield hub
        finally:
            hub.users -= 1
            hub.idle_since = asyncio.get_running_loop().time()

    def _forget(self, hub: SiteHub) -> None:
        if self.sites.get(hub.site.id) is hub:
            del self.sites[hub.site.id]

    async def stop(self) -> None:
        for hub in list(self.sites.values()):
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
