"""Sending frames to many WebSockets without letting a slow one hold up the rest.

A send that the server can complete at once (the socket's write buffer has room) runs to
completion right here, in turn, with no task per socket: the cheapest fan-out on two
cores (docs/architecture.md, "Facts the code relies on"). A send that would wait is
handed to a background task for that socket alone, and a socket that falls more than
`limit` frames behind is closed with 1013 so that its client reconnects to a fresh
snapshot.

Two kinds of group. An `EventGroup` (JSON clients) sends every frame to every socket, in
order. A `ScreenGroup` (lobby, board, kiosk) sends changed fragments, which htmx swaps by
element id: fragments merge, the newest for an id winning, so a socket that has not been
sent the previous change yet (the fan-out has not reached it, or its last send is still
waiting) gets both as one frame, and a newer change never waits for an older fan-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from starlette.websockets import WebSocket

from app import metrics
from app.live import in_flight
from app.live.protocol import encode_text_frame, prepared_sender

log = logging.getLogger(__name__)

TRY_AGAIN_LATER = 1013
SLICE = 48  # sockets written between two turns of the event loop (~0.6 ms)...
FINE_SLICE = 4  # ...and while a request or a redraw's read is under way (app/live/in_flight.py)
OTHERS_RAN = 0.0002  # s: a turn of the event loop this long ran someone else's work


def _slice() -> int:
    """How many sockets to write before the next turn of the event loop: few while other
    work waits on those turns, so that its Redis round trips are not held up."""
    return FINE_SLICE if in_flight.work.count else SLICE


class Prepared:
    """A frame's text, and the same frame as bytes on the wire, encoded once."""

    __slots__ = ("text", "wire")

    def __init__(self, text: str) -> None:
        self.text = text
        self.wire = encode_text_frame(text)


class _Resume:
    """Awaitable that carries on a coroutine already run up to its first suspension."""

    def __init__(self, coro: Coroutine[Any, Any, Any], suspended_on: Any) -> None:
        self.coro = coro
        self.suspended_on = suspended_on

    def __await__(self) -> Generator[Any, Any, Any]:
        value = self.suspended_on
        while True:
            try:
                sent = yield value
            except BaseException as exc:  # delivered into the coroutine, as a task would
                try:
                    value = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = self.coro.send(sent)
                except StopIteration as stop:
                    return stop.value


class Subscriber:
    """One socket of a group. `send` either finishes at once or leaves a task draining
    what the socket has yet to get (`_pending`, by kind of group)."""

    __slots__ = ("closed", "closing", "device_id", "group", "holder", "task", "ws")

    def __init__(self, ws: WebSocket, group: Any) -> None:
        self.ws = ws
        self.group = group
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self.closing: asyncio.Future[None] | None = None
        self.holder: asyncio.Task[Any] | None = None  # the endpoint's task, while it reads
        self.device_id: str | None = None  # a paired device's: revoking it closes the socket

    def _send(self, frame: str) -> None:
        """Send now; if the socket cannot take it at once, finish in a task that then
        sends whatever `_pending` answers, until nothing is left."""
        coro = self.ws.send_text(frame)
        try:
            suspended_on = coro.send(None)
        except StopIteration:
            return
        except Exception:
            coro.close()
            self.close()
            return
        self.task = asyncio.ensure_future(self._drain(_Resume(coro, suspended_on)))

    def _pending(self) -> str | None:
        raise NotImplementedError

    async def _drain(self, first: _Resume | None) -> None:
        try:
            if first is not None:
                await first
            while (frame := self._pending()) is not None:
                await self.ws.send_text(frame)
        except Exception:
            self.close()
        finally:
            self.task = None

    def close(self, code: int = 1000) -> None:
        """Drop the socket from its group and close it; safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        self.group.subscribers.pop(self, None)
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        if code == 1013:
            log.info("closing a WebSocket that fell behind (code %s)", code)
        self.closing = asyncio.ensure_future(self._close(code))

    async def _close(self, code: int) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.ws.close(code)
        if self.holder is not None:
            # Its client may never answer the close: stop waiting for it to.
            self.holder.cancel()


class EventSubscriber(Subscriber):
    """A JSON client: every frame, in order; past `limit` queued frames it is closed."""

    __slots__ = ("backlog", "paused")

    def __init__(self, ws: WebSocket, group: EventGroup, paused: bool) -> None:
        super().__init__(ws, group)
        self.backlog: deque[str] = deque()
        self.paused = paused

    def push(self, frame: str) -> None:
        if self.closed:
            return
        if self.task is not None or self.paused:
            self.backlog.append(frame)
            if len(self.backlog) > self.group.limit:
                self.close(TRY_AGAIN_LATER)
            return
        self._send(frame)

    def resume(self) -> None:
        """Start sending what queued while paused (see EventGroup.add)."""
        self.paused = False
        if self.backlog and self.task is None:
            self.task = asyncio.ensure_future(self._drain(None))

    def _pending(self) -> str | None:
        return self.backlog.popleft() if self.backlog else None


class EventGroup:
    """The JSON clients of one site; every frame goes to all of them, in order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.subscribers: dict[Subscriber, None] = {}

    def add(self, ws: WebSocket, paused: bool = False) -> EventSubscriber:
        """Join `ws`. A paused subscriber queues frames until `resume()`, for a client
        still being backfilled."""
        sub = EventSubscriber(ws, self, paused)
        self.subscribers[sub] = None
        return sub

    async def send(self, frames: list[str]) -> None:
        """Hand `frames` to every socket. Never waits on a socket (slow ones queue, then
        drop), but lets the event loop run every slice of sockets (`_slice`), so that a
        request arriving during a fan-out to thousands waits for one slice, not all of it."""
        for i, sub in enumerate(list(self.subscribers), 1):
            for frame in frames:
                sub.push(frame)  # type: ignore[attr-defined]
            if i % _slice() == 0:
                await asyncio.sleep(0)

    def __len__(self) -> int:
        return len(self.subscribers)


class ScreenSubscriber(Subscriber):
    """A screen: `seen` is the last change of its group that it has been handed;
    `prepared`, the server's way to write a frame encoded once (app/live/protocol.py)."""

    __slots__ = ("prepared", "seen")

    def __init__(self, ws: WebSocket, group: ScreenGroup) -> None:
        super().__init__(ws, group)
        self.seen = group.version
        self.prepared = prepared_sender(ws.scope)

    def catch_up(self) -> None:
        """Send what changed since `seen`, unless a send is still in flight (its task
        sends the rest, merged, when it ends) or the socket is too far behind. The frame
        encoded once for every socket is written straight away where the server allows
        it; otherwise its text is sent the ASGI way."""
        if self.closed or self.task is not None:
            if self.group.version - self.seen > self.group.limit:
                self.close(TRY_AGAIN_LATER)
            return
        frame = self._next()
        if frame is not None and (self.prepared is None or not self.prepared(frame.wire)):
            self._send(frame.text)

    def _pending(self) -> str | None:
        frame = self._next()
        return None if frame is None else frame.text

    def _next(self) -> Prepared | None:
        group = self.group
        if self.seen >= group.version:
            return None
        frame = group.since(self.seen)
        self.seen = group.version
        return frame


class ScreenGroup:
    """The sockets of one screen audience of one site. `publish` hands each change to a
    fan-out task and returns at once; the task walks the sockets until every one has
    been handed the latest change, merged with any it had not been sent yet."""

    def __init__(self, limit: int, spend: Callable[[float], None] = lambda s: None) -> None:
        self.limit = limit
        self.spend = spend  # told the CPU time each slice of fan-out took (see hub.Budget)
        self.subscribers: dict[Subscriber, None] = {}
        self.version = 0
        self.changes: dict[int, dict[str, str]] = {}  # version -> fragment id -> html
        self.frames: dict[int, Prepared] = {}  # seen -> frame, for the current version
        self.task: asyncio.Task[None] | None = None

    def add(self, ws: WebSocket, first: str) -> ScreenSubscriber:
        """Join `ws` with `first`, the whole render of the current version, sent before
        any later change."""
        sub = ScreenSubscriber(ws, self)
        self.subscribers[sub] = None
        sub._send(first)
        return sub

    def publish(self, changed: dict[str, str]) -> None:
        """Make `changed` (fragment id -> html) the next version and start handing it out."""
        if not changed:
            return
        self.version += 1
        self.changes[self.version] = changed
        self.frames.clear()
        if self.task is None:
            self.task = asyncio.ensure_future(self._fan_out())

    def since(self, seen: int) -> Prepared:
        """One frame that takes a socket from version `seen` to the current one, built
        once for all the sockets that need it."""
        frame = self.frames.get(seen)
        if frame is None:
            merged: dict[str, str] = {}
            for version in range(seen + 1, self.version + 1):
                merged.update(self.changes[version])
            frame = self.frames[seen] = Prepared("".join(merged.values()))
        return frame

    async def _fan_out(self) -> None:
        handed_from = metrics.fanout_started()
        try:
            shared = False  # whether other work ran in the last turn this task gave away
            while True:
                behind = [s for s in self.subscribers
                          if s.seen < self.version]  # type: ignore[attr-defined]
                if not behind:
                    break
                idle = any(s.task is None for s in behind)
                started = time.thread_time()
                for i, sub in enumerate(behind, 1):
                    sub.catch_up()  # type: ignore[attr-defined]
                    if i % _slice() == 0:
                        shared = await self._turn(started, shared)
                        started = time.thread_time()
                shared = await self._turn(started, shared)
                if not idle:
                    break  # each one's own task sends it the rest
            self._forget_sent()
        finally:
            metrics.fanout_done(handed_from)
            self.task = None

    async def _turn(self, started: float, shared: bool) -> bool:
        """Charge the slice that began at CPU time `started` if the process had other work
        waiting (a fan-out that competes with nothing takes nobody's time), then let the
        event loop run; answers whether other work ran meanwhile."""
        if shared:
            self.spend(time.thread_time() - started)
        before = time.perf_counter()
        await asyncio.sleep(0)
        return time.perf_counter() - before > OTHERS_RAN

    def _forget_sent(self) -> None:
        oldest = min((s.seen for s in self.subscribers),  # type: ignore[attr-defined]
                     default=self.version)
        for version in [v for v in self.changes if v <= oldest]:
            del self.changes[version]

    def __len__(self) -> int:
        return len(self.subscribers)
