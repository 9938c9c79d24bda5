"""Work under way that a long screen fan-out makes way for: HTTP requests, and a
redraw's read of the state.

A fan-out to a thousand sockets lets the event loop run only every few dozen sockets, and
each Redis round trip of a request resumes only at such a turn: a call-next (four round
trips) made during a fan-out would wait about a slice for each. While any work counted
here is under way the fan-out turns every few sockets instead (app/live/fanout.py); while none
is, it keeps the long slices, which cost fewer turns (docs/architecture.md)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class Counter:
    """How many pieces of work are under way; `with work:` counts one while it runs."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> None:
        self.count += 1

    def __exit__(self, *exc: object) -> None:
        self.count -= 1


work = Counter()


class CountRequests:
    """ASGI middleware: each HTTP request counts in `work` while it runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with work:
            await self.app(scope, receive, send)
