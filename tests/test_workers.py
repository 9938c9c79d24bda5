"""`python -m app serve --workers 2`: two processes share the port, each a whole app with no
state of its own. One is killed (SIGKILL, as a crash): the lobby displays whose sockets it
held reconnect to the other on their own and show the next check-in, and a JSON consumer
that resumes with `after` gets every event once.

The listening socket is shared, so the kernel hands each new connection to a live worker:
it stands in for the load balancer that would stop sending to a dead process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path

import httpx
from helpers import Desk
from playwright.async_api import expect
from test_browser_lobby import pair_display, queue_column
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from app.access.auth import create_token

# uvicorn closes an idle HTTP keep-alive connection after 5 s: past that, the connections
# a worker holds are the screens' and the consumers' sockets.
KEEP_ALIVE_S = 5.5
SHORT = 5_000  # ms: a reconnect and a change on screen should take well under this
# s: how long the pages' kept-alive HTTP connections may take to close; on a loaded
# machine some close late, and the count of screens per worker waits for them.
SETTLE_S = 20.0


def workers_of(pid: int) -> list[int]:
    """The worker processes of uvicorn's supervisor `pid` (not multiprocessing's helpers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children
            if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def peers(pid: int, port: int) -> set[int]:
    """The client ports of the established connections to `port` that process `pid` holds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port and inode in inodes:
                found.add(int(remote.rsplit(":", 1)[1], 16))
    return found


class Consumer:
    """A JSON events client that resumes with `after` whenever its socket closes."""

    def __init__(self, url: str, token: str, after: str) -> None:
        self.url, self.token, self.after = url, token, after
        self.events: list[dict] = []
        self.port: int | None = None
        self.connected = asyncio.Event()
        self.resumed = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                async with connect(f"{self.url}?after={self.after}", open_timeout=5,
                                   additional_headers={"Authorization":
                                                       f"Bearer {self.token}"}) as ws:
                    self.port = ws.local_address[1]
                    self.connected.set()
                    async for frame in ws:
                        event = json.loads(frame)
                        self.events.append(event)
                        self.after = event["id"]
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                pass
            self.resumed += 1
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_killing_one_of_two_workers_loses_no_screen_and_no_event(
        live_server, store, site, browser) -> None:
    server = live_server(args=["--workers", "2"])
    token = await create_token(store.redis, site.id, "desk")
    # A new connection per request, as through a load balancer: none is left on the
    # worker that dies (a kept-alive one would fail the next request).
    async with httpx.AsyncClient(
        base_url=f"{server.url}/api/v1/sites/{site.id}", trust_env=False, timeout=10,
        headers={"Authorization": f"Bearer {token}"},
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:
        desk = Desk(client)
        await desk.check_in(name="Before 0")
        start = (await desk.events())[-1]["id"]
        events_url = f"{server.ws_url}/ws/sites/{site.id}/events"

        # Consumers until each worker holds one (the kernel picks the worker).
        consumers: list[Consumer] = []
        workers = workers_of(server.pid)
        assert len(workers) == 2, workers
        while len(consumers) < 12:
            consumer = Consumer(events_url, token, start)
            consumers.append(consumer)
            await asyncio.wait_for(consumer.connected.wait(), 5)
            held = {w for w in workers for c in consumers if c.port in peers(w, server.port)}
            if held == set(workers):
                break
        pages = []
        for _ in range(6):
            page = await (await browser.new_context()).new_page()
            pages.append((page, await pair_display(page, server, site, store)))
        # Past uvicorn's keep-alive the pages' HTTP connections close, leaving one socket
        # per page; on a busy machine that close can come late, so wait for it.
        await asyncio.sleep(KEEP_ALIVE_S)
        consumer_ports = {c.port for c in consumers}
        deadline = time.monotonic() + SETTLE_S
        while True:
            screens = {w: peers(w, server.port) - consumer_ports for w in workers}
            if sum(map(len, screens.values())) <= len(pages) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        # A connection Chromium opened and never used may outlive the wait: it is counted
        # with the screens, so the victim's screens are known to within those extras.
        extras = sum(map(len, screens.values())) - len(pages)
        victim = max(workers, key=lambda w: len(screens[w]))
        held = range(max(len(screens[victim]) - extras, 0), len(screens[victim]) + 1)
        assert held.start, f"no lobby socket on the worker to kill: {screens}"
        on_victim = [c for c in consumers if c.port in peers(victim, server.port)]
        assert on_victim, "no consumer on the worker to kill"

        await desk.check_in(name="Before 1")
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        during = [await desk.check_in(name=f"After {n}") for n in range(5)]

        # Every screen shows the check-ins made after the kill: those whose socket the
        # dead worker held have reconnected to the other by themselves, without a reload.
        for page, _ in pages:
            await expect(queue_column(page, "Registration")).to_contain_text(
                during[-1]["ticket"], timeout=SHORT)
        back_after = time.monotonic() - killed_at
        reconnected = sum(sockets.opened > 1 for _, sockets in pages)
        assert reconnected in held, (reconnected, screens)

        expected = [e["id"] for e in await desk.events(start)]
        deadline = time.monotonic() + SHORT / 1000
        while (any(len(c.events) < len(expected) for c in consumers)
               and time.monotonic() < deadline):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # anything sent twice would have arrived by now
        for consumer in consumers:
            await consumer.stop()
    # Each consumer got every event once, in order, whether its worker died or not.
    for consumer in consumers:
        assert [e["id"] for e in consumer.events] == expected
    assert all(c.resumed for c in on_victim)
    print(f"{reconnected} lobby screens back and showing the next check-in "
          f"{back_after:.2f} s after the kill")
