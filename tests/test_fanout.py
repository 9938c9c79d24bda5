"""A screen fan-out makes way for requests (app/live/fanout.py and in_flight.py): while an HTTP
request or a redraw's read is under way it lets the event loop run every few sockets, so
that the request's Redis round trips are not held up by a pass over a thousand screens;
while none is, it writes longer slices, which cost fewer turns of the loop."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

from helpers import Api
from starlette.websockets import WebSocket

from app.live import in_flight
from app.live.fanout import FINE_SLICE, SLICE, ScreenGroup


async def _screen(received: list[str]) -> WebSocket:
    """A Starlette WebSocket over an in-memory ASGI channel that records the text sent."""
    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            received.append(message["text"])

    ws = WebSocket({"type": "websocket", "path": "/ws", "headers": []}, receive, send)
    await ws.accept()
    return ws


async def _sockets_per_turn(sockets: int, busy: bool) -> list[int]:
    """Publish one change to `sockets` screens and answer how many were handed it between
    each two turns of the event loop, with a request under way or not."""
    received: list[str] = []
    group = ScreenGroup(limit=10)
    for _ in range(sockets):
        group.add(await _screen(received), first="")
    received.clear()
    counts = []
    with in_flight.work if busy else contextlib.nullcontext():
        group.publish({"calling": '<div id="calling">A042</div>'})
        while group.task is not None:
            counts.append(len(received))
            await asyncio.sleep(0)
    assert received == ['<div id="calling">A042</div>'] * sockets
    return [b - a for a, b in itertools.pairwise(counts) if b > a]


async def test_a_fan_out_turns_every_few_sockets_while_a_request_is_under_way() -> None:
    assert max(await _sockets_per_turn(200, busy=True)) == FINE_SLICE


async def test_a_fan_out_with_nothing_else_under_way_writes_long_slices() -> None:
    assert max(await _sockets_per_turn(200, busy=False)) == SLICE


async def test_an_api_request_counts_as_work_under_way_while_it_runs(api: Api) -> None:
    seen: list[int] = []
    request = asyncio.ensure_future(api.check_in())
    while not request.done():
        seen.append(in_flight.work.count)
        await asyncio.sleep(0)
    await request
    assert max(seen) == 1
    assert in_flight.work.count == 0
