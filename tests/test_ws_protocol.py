"""The WebSocket protocol `python -m app serve` runs (app/live/protocol.py): a frame encoded
once is the same bytes websockets would write, taken only while the socket could take an
ASGI send and refused (so the caller sends the ASGI way) once it could not; its slimmer
queue and flag behave as the asyncio ones they replace."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any, ClassVar

import pytest
import uvicorn
from helpers import free_port, wait_for
from websockets.asyncio.client import connect
from websockets.protocol import State
from websockets.server import ServerProtocol

from app.live.protocol import (
    PRIVATE,
    Flag,
    Inbox,
    WebSocketProtocol,
    encode_text_frame,
    missing_private,
    prepared_sender,
)


@pytest.mark.parametrize("text", ["", "x" * 125, "\u2013" * 42, "x" * 65535, "x" * 65536,
                                  "Now calling A042 → Room 3 · Llamando"])
def test_a_prepared_frame_is_the_frame_websockets_writes(text: str) -> None:
    """Lengths on each side of the 7-bit, 16-bit and 64-bit length fields; UTF-8 text."""
    server = ServerProtocol()
    server.state = State.OPEN
    server.send_text(text.encode())
    assert encode_text_frame(text) == b"".join(server.data_to_send())


class _Served:
    """uvicorn with WebSocketProtocol in this process, and an app that hands each
    socket's prepared sender to the test."""

    def __init__(self, deflate: bool = False, protocol: Any = WebSocketProtocol) -> None:
        self.senders: asyncio.Queue[Any] = asyncio.Queue()
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, ws=protocol,
            ws_per_message_deflate=deflate, log_level="warning", lifespan="off",
            interface="asgi3"))

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        await receive()
        await send({"type": "websocket.accept"})
        await self.senders.put(prepared_sender(scope))
        while (await receive())["type"] != "websocket.disconnect":
            pass

    async def __aenter__(self) -> _Served:
        self.task = asyncio.create_task(self.server.serve())
        await wait_for(lambda: self.server.started)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        await self.task


async def test_a_socket_gets_the_prepared_frame_and_it_is_refused_once_closed() -> None:
    async with _Served() as served, connect(f"ws://127.0.0.1:{served.port}/") as client:
        send = await asyncio.wait_for(served.senders.get(), 5)
        assert send is not None
        assert send(encode_text_frame("A042 → Room 3")) is True
        assert await asyncio.wait_for(client.recv(), 5) == "A042 → Room 3"
        await client.close()
        await wait_for(lambda: send(encode_text_frame("late")) is False)


async def test_a_socket_that_cannot_take_more_now_refuses_it() -> None:
    """Past the write buffer's high-water mark the ASGI send would wait for room: the
    prepared send says no, and the caller falls back to that send."""
    async with _Served() as served, connect(f"ws://127.0.0.1:{served.port}/",
                                            max_size=None):
        send = await asyncio.wait_for(served.senders.get(), 5)
        big = encode_text_frame("x" * 1_000_000)
        results = [send(big) for _ in range(64)]  # 64 MB the client is not reading yet
        assert results[0] is True and results[-1] is False


async def test_with_compression_configured_the_server_offers_no_prepared_send() -> None:
    async with _Served(deflate=True) as served, connect(f"ws://127.0.0.1:{served.port}/"):
        assert await asyncio.wait_for(served.senders.get(), 5) is None


async def test_the_inbox_hands_its_reader_each_event_in_order_and_a_cancel_loses_none():
    inbox = Inbox()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("connect")
    inbox.put_nowait("receive")
    assert await reader == "connect"
    assert not inbox.empty()
    assert await inbox.get() == "receive"
    assert inbox.empty()
    waiting = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    inbox.put_nowait("disconnect")
    assert await asyncio.wait_for(inbox.get(), 1) == "disconnect"


async def test_the_flag_holds_waiters_until_set_and_lets_them_through_once_set():
    flag = Flag()
    assert not flag.is_set()
    first, second = (asyncio.create_task(flag.wait()) for _ in range(2))
    await asyncio.sleep(0.01)
    assert not first.done() and not second.done()
    flag.set()
    assert await asyncio.wait_for(asyncio.gather(first, second), 1) == [True, True]
    assert await flag.wait() is True  # set: no wait at all
    flag.clear()
    late = asyncio.create_task(flag.wait())
    await asyncio.sleep(0.01)
    assert not late.done()
    late.cancel()
    with pytest.raises(asyncio.CancelledError):
        await late
    assert flag.waiters == []


class _Recorded(WebSocketProtocol):
    """The protocol, keeping each instance for the test to inspect."""

    made: ClassVar[list[WebSocketProtocol]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.made.append(self)


async def test_uvicorns_protocol_still_has_every_private_attribute_this_one_reads() -> None:
    """uvicorn's sans-I/O protocol is private: an upgrade that renames what
    app/live/protocol.py reads must fail here, by name, not in production."""
    async with _Served(protocol=_Recorded) as served, connect(
            f"ws://127.0.0.1:{served.port}/"):
        assert await asyncio.wait_for(served.senders.get(), 5) is not None
        protocol = _Recorded.made[-1]
        assert missing_private(protocol) == [], (
            f"uvicorn {uvicorn.__version__} changed its WebSocket protocol: "
            f"{missing_private(protocol)} of {PRIVATE} are gone; update app/live/protocol.py "
            "and the uvicorn pin in pyproject.toml")
        assert protocol.extended


def test_a_uvicorn_without_the_sans_io_protocol_is_served_the_standard_way() -> None:
    """With the class app/live/protocol.py extends missing, `serve` hands uvicorn its own
    choice ("auto") and the app still imports; run in a fresh interpreter in which that
    module cannot be imported."""
    code = ("import sys\n"
            "sys.modules['uvicorn.protocols.websockets.websockets_sansio_impl'] = None\n"
            "from app.cli import ws_protocol\n"
            "import app.main\n"
            "print(ws_protocol('websockets-sansio'), ws_protocol('websockets-sansio', False))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out == ["auto", "auto"]


def test_prepared_send_false_serves_uvicorns_own_protocol() -> None:
    from app.cli import ws_protocol

    assert ws_protocol("websockets-sansio") is WebSocketProtocol
    assert ws_protocol("websockets-sansio", prepared=False) == "websockets-sansio"
    assert ws_protocol("wsproto") == "wsproto"
