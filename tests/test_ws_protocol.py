"""The WebSocket protocol `python -m app serve` runs (app/ws_protocol.py): a frame encoded
once is the same bytes websockets would write, taken only while the socket could take an
ASGI send and refused (so the caller sends the ASGI way) once it could not; its slimmer
queue and flag behave as the asyncio ones they replace."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn
from helpers import free_port, wait_for
from websockets.asyncio.client import connect
from websockets.protocol import State
from websockets.server import ServerProtocol

from app.ws_protocol import Flag, Inbox, WebSocketProtocol, encode_text_frame, prepared_sender


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

    def __init__(self, deflate: bool = False) -> None:
        self.senders: asyncio.Queue[Any] = asyncio.Queue()
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, ws=WebSocketProtocol,
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
