"""How large a request body may be, enforced while it is read.

A route that reads its body whole (`await request.body()`) would otherwise hold all of
it in memory before its own size check: an authenticated 60 MB body cost the process
about 65 MB. This middleware refuses a body as soon as its declared length, or the bytes
received so far, pass the limit for its path (413 `too_large`, in the error shape of the
path), and stops reading there.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import ApiError, error_response

DEFAULT_MAX = 64 * 1024  # every JSON body and form of the app
# The schedule import, the one large body (app/appointments/routes.py checks 5 MiB).
LARGE = (re.compile(r"^/api/v1/sites/[^/]+/appointments$"), 5 * 1024 * 1024)


def limit_for(path: str) -> int:
    """The largest body, in bytes, a request to `path` may send."""
    pattern, size = LARGE
    return size if pattern.match(path) else DEFAULT_MAX


class TooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        shown = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else \
            f"{limit // 1024} KiB"
        super().__init__(413, "too_large", f"The request body is larger than {shown}.")


class BodyLimit:
    """ASGI middleware: 413 for a body past `limit_for(path)`, before it is all read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
        declared = Request(scope).headers.get("content-length", "")
        if declared.isdecimal() and int(declared) > limit:
            await error_response(Request(scope), TooLarge(limit))(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise TooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except TooLarge as exc:
            # Raised where no route's handler caught it (the CSRF check reads forms).
            if started:
                raise
            await error_response(Request(scope), exc)(scope, receive, send)
