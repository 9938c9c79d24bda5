"""The hub: per active site, the stream read on each wake-up, fanned out to the site's
sockets, rendered once per audience.

Every push starts from the stream, so what any process writes reaches the sockets of
every process. A site's hub does not hold a connection or a blocking read of its own: the
process's reader (app/live/reader.py) hands it each new event as the script that wrote it
published it, with the id of the event before; while those ids follow on from the hub's
last id, the events are taken from the messages as they are, and at a gap (a message
lost, or a wake-up with none) the hub reads what is new with XRANGE from its last id
through the request client. JSON clients
get each event as it is read. Screens are redrawn as soon as a change is read and no
redraw is under way; changes read during one share the next, which starts when it ends,
so coalescing follows the load, not a clock. A redraw reads the site's state once (one
atomic script), renders each audience that has a socket, and hands the fragments that
changed to the audience's fan-out, which merges them with any that a socket has not been
sent yet (app/live/fanout.py). Under sustained load a site's screens take at most
`SCREEN_SHARE` of the process (`Budget`), so the requests keep the rest. A socket that
connects gets the latest full render first, so it never sees a change before the state it
applies to. A site's hub stops once no socket has used it for `HUB_IDLE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from redis.exceptions import RedisError
from starlette.websockets import WebSocket

from app import clock, metrics
from app.config import Settings
from app.live import in_flight
from app.live.fanout import EventGroup, EventSubscriber, ScreenGroup, ScreenSubscriber
from app.live.reader import Reader
from app.sites import Site
from app.storage import keys
from app.storage.backoff import Backoff
from app.storage.store import Store
from app.visits.events import Event
from app.visits.state import SiteState

log = logging.getLogger(__name__)

Renderer = Callable[[SiteState], dict[str, str]]
Entry = tuple[str, dict[str, str]]  # a stream entry: the event's id and its fields

BATCH = 500
CATCH_UP_TRIES = 200  # x 10 ms
REVOKED = 4401  # close code for a revoked device's socket: it must pair again
SCREEN_LIMIT = 100  # visits listed per queue on a screen; the rest are counted
SCREEN_SHARE = 0.3  # of the process's CPU a site's screens may take while requests wait
SCREEN_BURST = 0.1  # seconds of CPU the screens may spend at once before that applies
# The audiences that show today's appointments: a redraw reads them only while one of
# these has a socket (two round trips and a fifth of a redraw's CPU otherwise).
SHOW_APPOINTMENTS = ("board",)
# Stream reads and snapshots the process's hubs make at once. A reconnect wakes every
# followed site together; unbounded, their reads would take as many pooled connections.
READS_AT_ONCE = 8


class Budget:
    """The time a site's screens may take from the requests: the CPU time of rendering,
    and of fanning out while other work was waiting (app/live/fanout.py), is charged here; it
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

    def __init__(self, site: Site, store: Store, renderers: dict[str, Renderer],
                 settings: Settings, reads: asyncio.Semaphore | None = None) -> None:
        self.site = site
        self.store = store
        self.reads = reads or asyncio.Semaphore(READS_AT_ONCE)
        self.renderers = renderers
        self.budget = Budget()
        self.screens = {name: ScreenGroup(settings.socket_backlog, self.budget.spend)
                        for name in renderers}
        self.events = EventGroup(settings.socket_backlog)
        self.fragments: dict[str, dict[str, str]] = {name: {} for name in renderers}
        self.state: SiteState | None = None
        self.with_appointments = False  # whether `state` holds today's appointments
        self.stale: set[str] = set()  # audiences not rendered from `state` (no socket)
        self.dirty = False  # events read that the screens do not show yet
        self.arrived: set[str] = set()  # visits of the events read since the last snapshot
        self.drawing: asyncio.Task[None] | None = None
        self.idle_seconds = settings.hub_idle_seconds
        self.users = 0  # sockets connecting or connected; see Hub.use()
        self.idle_since = asyncio.get_running_loop().time()
        self.on_stop: Callable[[SiteHub], None] | None = None
        self.last_id = "0-0"
        self.unread = False  # the stream may hold events after last_id (see wake())
        # Events handed over by wake() and not taken yet, each after the previous event's id
        self.pushed: list[tuple[str, Entry]] = []
        self.woken = asyncio.Event()
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.stopping = False  # see run(): a swallowed cancel must still end the loop

    async def join(self, audience: str, ws: WebSocket) -> ScreenSubscriber:
        """Add a socket of `audience` (lobby, board, kiosk); its first frame is the whole
        current state for that audience, then each change after it."""
        await self.ready.wait()
        if audience in SHOW_APPOINTMENTS and not self.with_appointments:
            await self._read_appointments()
        if audience in self.stale:
            self._render(audience)
        full = "".join(self.fragments[audience].values())
        return self.screens[audience].add(ws, first=full)

    async def join_events(self, ws: WebSocket, after: str | None) -> EventSubscriber:
        """Add a JSON client; with `after`, first send every later event the stream
        holds, then live events, none missed and none twice."""
        await self.ready.wait()
        # A client may resume from an id another process has sent it that this hub has
        # not read yet; live events up to it would then come twice. Read now, and wait
        # (briefly) for the read to get there.
        if after is not None and _id_key(self.last_id) < _id_key(after):
            self.wake()
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

    def wake(self, message: str | None = None) -> None:
        """The reader's call: the site's stream has grown by the event `message` carries
        (emit() in app/storage/scripts/lib.lua), or, with none, may hold events after
        `last_id`: read it."""
        carried = _carried(message) if message is not None else None
        if carried is None or len(self.pushed) >= BATCH:
            # The read takes everything published so far, these included.
            self.unread = True
            self.pushed.clear()
        else:
            self.pushed.append(carried)
        self.woken.set()

    async def run(self) -> None:
        """Read the stream on each wake-up until stopped, surviving Redis restarts with
        backoff. A failed read is tried again after the wait, and only a read that found
        events leads to a redraw.

        Checks `stopping` as well as being cancelled: on Python 3.11 a cancel that lands as
        a Redis reply arrives can be swallowed, and the loop would wait on."""
        backoff = Backoff(first=0.1, cap=5.0)
        while not self._idle():
            try:
                if not self.ready.is_set():
                    # The first snapshot sets the cursor: no event before it needs
                    # replaying. Events after it arrive with the reader's wake-ups,
                    # the first of which confirms the subscription.
                    await self._refresh()
                    self.ready.set()
                    backoff.reset()
                if self.unread or self.pushed:
                    await self._read()
                    backoff.reset()
                else:
                    await self._sleep()
                continue
            except RedisError as exc:
                metrics.redis_error("tail")
                self.unread = self.ready.is_set()
                log.warning("site %s: Redis unavailable (%s); retrying", self.site.id, exc)
            except Exception:
                # A bug must not leave the site's screens dark: log it and start over.
                self.unread = self.ready.is_set()
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

    async def _sleep(self) -> None:
        """Wait for a wake-up; with no socket left, at most until it is time to stop.
        A hub with sockets and no change costs no timer at all."""
        self.woken.clear()
        if self.unread or self.pushed or self.stopping:
            return
        if self.users:
            await self.woken.wait()
            return
        left = self.idle_since + self.idle_seconds - asyncio.get_running_loop().time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.woken.wait(), max(left, 0.0))

    async def _read(self) -> None:
        """Everything the stream holds after `last_id`, to the JSON clients in order, and
        one redraw for all of it: the events handed over, when they follow on from
        `last_id`, else read from the stream."""
        if not self.unread and (entries := self._following()) is not None:
            if entries:
                await self._take(entries)
            return
        self.unread = False
        self.pushed.clear()  # published before the read: it gets them too
        stream = keys.events(self.site.id)
        while True:
            async with self.reads:
                with in_flight.work:
                    entries = await self.store.redis.xrange(stream, f"({self.last_id}", "+",
                                                            count=BATCH)
            if entries:
                await self._take(entries)
            if len(entries) < BATCH:
                return

    def _following(self) -> list[Entry] | None:
        """The handed-over events after `last_id`, oldest first, or None if one between
        is missing (a message lost while the reader reconnected): then read the stream."""
        last, entries = self.last_id, []
        for prev, entry in self.pushed:
            if _id_key(entry[0]) <= _id_key(last):
                continue  # read from the stream already
            if prev != last:
                return None
            entries.append(entry)
            last = entry[0]
        self.pushed.clear()
        return entries

    async def _take(self, entries: list[Entry]) -> None:
        """Events new to this hub, oldest first: to the JSON clients, and a redraw."""
        events = [Event.from_stream(i, f) for i, f in entries]
        metrics.events_read(len(events))
        self.last_id = events[-1].id
        self._close_revoked([f for _, f in entries if f.get("type") == "device.revoked"])
        if self.events:
            await self.events.send([json.dumps(e.to_json()) for e in events])
        if any(e.type == "site.updated" for e in events):
            self.site = await self.store.get_site(self.site.id) or self.site
        self.arrived.update(e.visit["id"] for e in events if e.visit and "id" in e.visit)
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
                    # The change is still undrawn and the reads may already be past it (a
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
        with_appointments = self._shows_appointments()
        arrived, self.arrived = self.arrived, set()
        async with self.reads:
            with in_flight.work:
                state = await self.store.snapshot(self.site, limit=SCREEN_LIMIT,
                                                  appointments=with_appointments,
                                                  expect=arrived)
        if not keep_cursor:
            # After a (re)connect: no event before this snapshot needs replaying.
            self.last_id = state.event_id
        self.state = state
        self.with_appointments = with_appointments
        if not with_appointments and self._shows_appointments():
            # A board joined during the read: it must not see an empty Expected list.
            await self._read_appointments()
        for audience, group in self.screens.items():
            if not group:
                self.stale.add(audience)
                continue
            started = time.thread_time()
            changed = self._render(audience)
            self.budget.spend(time.thread_time() - started)
            if self.ready.is_set():
                group.publish(changed)

    def _shows_appointments(self) -> bool:
        return any(self.screens[a] for a in SHOW_APPOINTMENTS if a in self.screens)

    async def _read_appointments(self) -> None:
        """Add today's appointments to the state held (read without them while no board
        listened), and have the audiences that show them rendered again."""
        async with self.reads:
            with in_flight.work:
                appointments = await self.store.appointments(self.site, clock.now())
        assert self.state is not None
        self.state = replace(self.state, appointments=appointments)
        self.with_appointments = True
        self.stale.update(a for a in SHOW_APPOINTMENTS if a in self.screens)

    def _render(self, audience: str) -> dict[str, str]:
        """Render `audience` from the last state read; answers the fragments that changed,
        by element id."""
        assert self.state is not None
        fresh = self.renderers[audience](self.state)
        old = self.fragments[audience]
        self.fragments[audience] = fresh
        self.stale.discard(audience)
        return {fid: html for fid, html in fresh.items() if old.get(fid) != html}


def _carried(message: str) -> tuple[str, Entry] | None:
    """(the previous event's id, (id, fields)) of the event a wake-up carries; None for a
    message that carries none (a bare id, as an older version publishes)."""
    try:
        data = json.loads(message)
        prev, event_id, fields = data["prev"], data["id"], data["fields"]
    except (ValueError, TypeError, KeyError):
        return None
    if not (isinstance(prev, str) and isinstance(event_id, str) and isinstance(fields, dict)):
        return None
    return prev, (event_id, fields)


def _id_key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


class Hub:
    """The process's SiteHubs, each started on its site's first socket and stopped when
    its sockets have been gone a while."""

    def __init__(self, store: Store, renderers: dict[str, Renderer],
                 settings: Settings) -> None:
        self.store = store
        self.reader = Reader(store.redis)
        self.reads = asyncio.Semaphore(READS_AT_ONCE)
        self.renderers = renderers
        self.settings = settings
        self.sites: dict[str, SiteHub] = {}

    @contextlib.asynccontextmanager
    async def use(self, site: Site) -> AsyncIterator[SiteHub]:
        """The site's hub, kept running for as long as the caller holds it."""
        hub = self.sites.get(site.id)
        if hub is None:
            hub = self.sites[site.id] = SiteHub(site, self.store, self.renderers,
                                                self.settings, self.reads)
            hub.on_stop = self._forget
            hub.task = asyncio.create_task(hub.run(), name=f"hub:{site.id}")
            await self.reader.follow(site.id, hub.wake)
            log.info("site %s: hub started", site.id)
        # This frame lives as long as the socket: keep no copy of the site in it.
        del site
        hub.users += 1
        try:
            yield hub
        finally:
            hub.users -= 1
            hub.idle_since = asyncio.get_running_loop().time()
            if hub.users == 0:
                hub.woken.set()  # its loop starts counting down to stopping

    def _forget(self, hub: SiteHub) -> None:
        if self.sites.get(hub.site.id) is hub:
            del self.sites[hub.site.id]
            self.reader.unfollow(hub.site.id, hub.wake)

    async def stop(self) -> None:
        await self.reader.stop()
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
