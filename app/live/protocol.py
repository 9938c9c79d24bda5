"""uvicorn's WebSocket protocol as `python -m app serve` runs it: uvicorn's sans-I/O
`websockets-sansio` implementation, made cheaper for a thousand idle screens that all get
the same frames.

Sending. A screen's change goes to every socket of its audience as the same text. Sent the
ASGI way, each socket pays for it again: Starlette's and uvicorn's coroutines, websockets'
framing, the UTF-8 encoding; ~15 µs of Python a socket on top of the ~11 µs the kernel's
write costs (docs/benchmarks.md, round 4). The protocol offers one ASGI extension,
`lobbyline.prepared_send`: a plain function that writes a frame built once by
`encode_text_frame` straight to the socket's transport. It takes the frame only when the
ASGI way would have sent it at once (handshake done, not closing, the write buffer below
its high-water mark) and answers False otherwise; the caller then sends the text the ASGI
way, which waits for room as before (app/live/fanout.py). With compression configured, or
under another server, the extension is absent.

Ground that may move. uvicorn's sans-I/O protocol and the attributes read here are private:
pyproject.toml pins the uvicorn minor version that is tested, `PRIVATE` lists every
attribute this module reads, and tests/test_ws_protocol.py fails by name when one goes.
Where the class cannot be imported, or an instance lacks one of them, nothing breaks: the
server is given uvicorn's own implementation (`protocol()` answers None), or the socket is
served without the extension, and the fan-out sends the ASGI way; `PREPARED_SEND=false`
chooses that path on purpose.

Memory. uvicorn keeps the handshake's request and response for the socket's whole life,
and gives each socket an `asyncio.Queue` and an `asyncio.Event`, whose five deques take
~3.8 KiB before anything is queued. The protocol lets the handshake go once it is done,
and uses `Inbox` and `Flag`, which do what uvicorn asks of those two (one reader, one
flag) and allocate only when someone waits: 28 KiB an idle socket becomes 19.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import State

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # a uvicorn without it: protocol() answers None
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)

EXTENSION = "lobbyline.prepared_send"
# The private attributes of uvicorn's protocol that this module reads or replaces: those
# its constructor sets, then those its handshake sets.
MADE = ("config", "conn", "transport", "queue", "writable", "handshake_complete",
        "close_sent", "disconnected", "initial_response")
CONNECTED = ("scope", "request", "response")
PRIVATE = MADE + CONNECTED


def missing_private(protocol: Any, names: tuple[str, ...] = PRIVATE) -> list[str]:
    """The attributes of `names` that `protocol` (an instance) lacks."""
    return [name for name in names if not hasattr(protocol, name)]


def encode_text_frame(text: str) -> bytes:
    """One final, unmasked, uncompressed text frame carrying `text` (RFC 6455, 5.2): what
    a server writes for it on a connection without extensions."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def prepared_sender(scope: dict[str, Any]) -> Any:
    """The socket's `send_prepared`, or None where the server does not offer it."""
    return scope.get("extensions", {}).get(EXTENSION, {}).get("send")


class Inbox:
    """The socket's received ASGI events, for its one reader: `put_nowait`, `get` and
    `empty`, as uvicorn uses its `asyncio.Queue`."""

    __slots__ = ("items", "waiter")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self.items.append(item)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def get(self) -> Any:
        while not self.items:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.items.pop(0)

    def empty(self) -> bool:
        return not self.items


class Flag:
    """An `asyncio.Event` (`set`, `clear`, `is_set`, `wait`) whose waiters' list exists
    only while someone waits: here, a send waiting for the write buffer to drain."""

    __slots__ = ("value", "waiters")

    def __init__(self) -> None:
        self.value = False
        self.waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self.value

    def set(self) -> None:
        self.value = True
        waiters, self.waiters = self.waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self.value = False

    async def wait(self) -> bool:
        if self.value:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self.waiters is None:
            self.waiters = []
        self.waiters.append(waiter)
        try:
            await waiter
        finally:
            if self.waiters is not None and waiter in self.waiters:
                self.waiters.remove(waiter)
        return True


def protocol(enabled: bool = True) -> Any:
    """The class to give uvicorn as `ws`, or None for uvicorn's own `websockets-sansio`
    (`enabled` false, or this uvicorn has no such class)."""
    if not enabled or WebSocketsSansIOProtocol is None:
        return None
    return WebSocketProtocol


_warned = False


def _warn_once(missing: list[str]) -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning("uvicorn's WebSocket protocol lacks %s: serving sockets without "
                    "prepared sends", ", ".join(missing))


class WebSocketProtocol(WebSocketsSansIOProtocol or object):  # type: ignore[misc]
    """uvicorn's `websockets-sansio` protocol with prepared sends and less memory; an
    instance missing a `PRIVATE` attribute behaves exactly as uvicorn's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        missing = missing_private(self, MADE)
        self.extended = not missing
        if missing:
            _warn_once(missing)
            return
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]
        self.writable.set()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if self.extended and (missing := missing_private(self, CONNECTED)):
            _warn_once(missing)
            self.extended = False
        # A prepared frame is not compressed.
        if self.extended and not self.config.ws_per_message_deflate:
            self.scope["extensions"][EXTENSION] = {"send": self.send_prepared}

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.extended and self.handshake_complete and self.response is not None:
            # The handshake is never read again, but uvicorn keeps its request and
            # response, and websockets' parser the request, for as long as the socket
            # lives: let their headers go (the scope has its own copy).
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]

    def send_prepared(self, frame: bytes) -> bool:
        """Write `frame` now if the socket can take it as the ASGI send would; answers
        whether it did."""
        if (not self.handshake_complete or self.close_sent or self.disconnected
                or self.initial_response is not None or not self.writable.is_set()
                or self.conn.state is not State.OPEN or self.transport.is_closing()):
            return False
        self.transport.write(frame)
        return True
