"""The hub: one tail of each active site's event stream per process, fanned out to the
site's sockets, rendered once per audience.

Every push starts from the stream, so what any process writes reaches the sockets of
every process. JSON clients get each event as it is read. Screens are redrawn as soon as a
change is read and no redraw is under way; changes read during one share the next, which
starts when it ends, so coalescing follows the load, not a clock. A redraw reads the
site's state once (one atomic script), renders each audience that has a socket, and hands
the fragments that changed to the audience's fan-out, which merges them with any that a
socket has not been sent yet (app/fanout.py). Under sustained load a site's screens take
at most `SCREEN_SHARE` of the process (`Budget`), so the requests keep the rest. A socket
that connects gets the latest full render first, so it never sees a change before the
state it applies to. A site's hub stops once no socket has used it for `HUB_IDLE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.websockets import WebSocket

from app import in_flight, keys, metrics
from app.backoff import Backoff
from app.config import Settings
from app.events import Event
from app.fanout import EventGroup, EventSubscriber, ScreenGroup, ScreenSubscriber
from app.sites import Site
from app.state import SiteState
from app.store import Store

log = logging.getLogger(__name__)

Renderer = Callable[[SiteState], dict[str, str]]

BLOCK_MS = 1000  # well under redis-py's socket timeout (docs/architecture.md)
BATCH = 500
CATCH_UP_TRIES = 200  # x 10 ms
REVOKED = 4401  # close code for a revoked device's socket: it must pair again
SCREEN_LIMIT = 100  # visits listed per queue on a screen; the rest are counted
SCREEN_SHARE = 0.3  # of the process's CPU a site's screens may take while requests wait
SCREEN_BURST = 0.1  # seconds of CPU the screens may spend at once before that applies


class Budget:
    """The time a site's screens may take from the requests: the CPU time of rendering,
    and of fanning out while other work was waiting (app/fanout.py), is charged here; it
    refills at `share` of wall time, up to `burst`. A redraw waits while it is overspent,
    so under sustained request load a site's screens update as often as the share allows
    and no more often, while bursts of changes on an otherwise quiet process are drawn at
    once however much they cost."""

    def __init__(self, share: float = SCREEN_SHARE, burst: float = SCREEN_BURST) -> None:
        self.share = share
        self.burst = burst
        self.level = burst
        self.at = time.perf_counter()

    def _refill(self) -> None:
        now = time.perf_counter()
        self.level = min(self.burst, self.level + (now - self.at) * self.share)
        self.at = now

    def spend(self, seconds: float) -> None:
        self._refill()
        self.level -= seconds

    def wait(self) -> float:
        """Seconds until the budget is no longer overspent."""
        self._refill()
        return max(0.0, -self.level / self.share)


class SiteHub:
    """Live state for the sockets of one site in this process."""

    def __init__(self, site: Site, store: Store, tail: Redis,
                 renderers: dict[str, Renderer], settings: Settings) -> None:
        self.site = site
        self.store = store
        self.tail = tail
        self.renderers = renderers
        self.budget = Budget()
        self.screens = {name: ScreenGroup(settings.socket_backlog, self.budget.spend)
                        for name in renderers}
        self.events = EventGroup(settings.socket_backlog)
        self.fragments: dict[str, dict[str, str]] = {name: {} for name in renderers}
        self.state: SiteState | None = None
        self.stale: set[str] = set()  # audiences not rendered from `state` (no socket)
        self.dirty = False  # events read that the screens do not show yet
        self.drawing: asyncio.Task[None] | None = None
        self.idle_seconds = settings.hub_idle_seconds
        self.users = 0  # sockets connecting or connected; see Hub.use()
        self.idle_since = asyncio.get_running_loop().time()
        self.on_stop: Callable[[SiteHub], None] | None = None
        self.last_id = "0-0"
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.stopping = False  # see run(): a swallowed cancel must still end the loop

    async def join(self, audience: str, ws: WebSocket) -> ScreenSubscriber:
        """Add a socket of `audience` (lobby, board, kiosk); its first frame is the whole
        current state for that audience, then each change after it."""
        await self.ready.wait()
        if audience in self.stale:
            self._render(audience)
        full = "".join(self.fragments[audience].values())
        return self.screens[audience].add(ws, first=full)

    async def join_events(self, ws: WebSocket, after: str | None) -> EventSubscriber:
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
        sub = self.events.add(ws, paused=after is not None)
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

    async def run(self) -> None:
        """Tail the stream until stopped, surviving Redis restarts with backoff.

        Checks `stopping` as well as being cancelled: on Python 3.11 a cancel that lands as
        a Redis reply arrives can be swallowed, and the tail would block on."""
        backoff = Backoff(first=0.1, cap=5.0)
        while not self._idle():
            try:
                # After an outage keep the cursor: the tail then reads, and sends to the
                # JSON clients, every event written while it was away.
                await self._refresh(keep_cursor=self.ready.is_set())
                self.ready.set()
                backoff.reset()
                await self._tail()
                continue
            except RedisError as exc:
                metrics.redis_error("tail")
                log.warning("site %s: Redis unavailable (%s); retrying", self.site.id, exc)
            except Exception:
                # A bug must not leave the site's screens dark: log it and start over.
                log.exception("site %s: the hub failed; restarting it", self.site.id)
            await asyncio.sleep(backoff.next())

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
        while not self._idle():
            reply = await self.tail.xread({stream: self.last_id}, count=BATCH, block=BLOCK_MS)
            if not reply:
                continue
            events = [Event.from_stream(i, f) for i, f in reply[0][1]]
            metrics.events_read(len(events))
            self.last_id = events[-1].id
            self._close_revoked([f for _, f in reply[0][1] if f.get("type") == "device.revoked"])
            if self.events:
                await self.events.send([json.dumps(e.to_json()) for e in events])
            if any(e.type == "site.updated" for e in events):
                self.site = await self.store.get_site(self.site.id) or self.site
            self.dirty = True
            if self.drawing is None:
                self.drawing = asyncio.create_task(self._draw(), name=f"draw:{self.site.id}")

    def _close_revoked(self, revocations: list[dict[str, str]]) -> None:
        """Close the sockets of the devices these `device.revoked` events name, with code
        REVOKED: the screen's page then goes back to /pair (static/js/revoked.js)."""
        if not revocations:
            return
        gone = {json.loads(fields["device"])["id"] for fields in revocations}
        for group in (*self.screens.values(), self.events):
            for sub in [s for s in group.subscribers if s.device_id in gone]:
                sub.close(REVOKED)

    async def _draw(self) -> None:
        """Redraw until no change is left undrawn: changes read during a redraw share the
        next one, which starts when this one ends (or, under sustained load, once the
        site's `Budget` allows)."""
        backoff = Backoff(first=0.05, cap=2.0)
        try:
            while self.dirty and not self.stopping:
                if (wait := self.budget.wait()) > 0:
                    await asyncio.sleep(wait)
                self.dirty = False
                try:
                    await self._refresh(keep_cursor=True)
                except RedisError as exc:
                    metrics.redis_error("redraw")
                    # The change is still undrawn and the tail may already be past it (a
                    # pooled connection can fail once after Redis restarts): try again.
                    log.warning("site %s: redraw failed (%s); retrying", self.site.id, exc)
                    self.dirty = True
                    await asyncio.sleep(backoff.next())
                else:
                    backoff.reset()
        except Exception:
            log.exception("site %s: redraw failed", self.site.id)
        finally:
            self.drawing = None

    async def _refresh(self, keep_cursor: bool = False) -> None:
        """Read the state once, render each audience that has a socket, hand on what
        changed. An audience with none is only marked stale: join() renders it."""
        with in_flight.work:
            state = await self.store.snapshot(self.site, limit=SCREEN_LIMIT)
        if not keep_cursor:
            # After a (re)connect: no event before this snapshot needs replaying.
            self.last_id = state.event_id
        self.state = state
        for audience, group in self.screens.items():
            if not group:
                self.stale.add(audience)
                continue
            started = time.thread_time()
            changed = self._render(audience)
            self.budget.spend(time.thread_time() - started)
            if self.ready.is_set():
                group.publish(changed)

    def _render(self, audience: str) -> dict[str, str]:
        """Render `audience` from the last state read; answers the fragments that changed,
        by element id."""
        assert self.state is not None
        fresh = self.renderers[audience](self.state)
        old = self.fragments[audience]
        self.fragments[audience] = fresh
        self.stale.discard(audience)
        return {fid: html for fid, html in fresh.items() if old.get(fid) != html}


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
        # This frame lives as long as the socket: keep no copy of the site in it.
        del site
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
            tasks = [hub.task, hub.drawing, *(g.task for g in hub.screens.values())]
            for task in tasks:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            for group in (*hub.screens.values(), hub.events):
                for sub in list(group.subscribers):
                    sub.close(1012)
        self.sites.clear()
