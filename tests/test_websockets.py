"""The WebSockets of docs/api.md, end to end: a real server process, real clients, real Redis.

Each socket's first frame is the whole state for its audience, then changes follow; the
JSON stream resumes after an id; a lobby socket never carries a name; refusals are HTTP
answers to the handshake; a slow socket is dropped without holding back the others; and a
restart leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import socket
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from helpers import TEST_SITE, Desk
from redis import asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app import clock
from app.access.auth import create_token
from app.sites import site_from_dict
from app.storage import keys
from app.storage.store import Store
from bench.frames import fragment_texts, parse_frames, top_level_ids

LOBBY_IDS = {"calling", "broadcast", "queue-reg", "queue-nurse", "queue-lab"}
BOARD_IDS = {"board-queue-reg", "board-queue-nurse", "board-queue-lab", "board-active",
             "board-rooms", "board-expected", "board-alerts", "board-message"}
KIOSK_IDS = {"kiosk-queues", "kiosk-services"}


class Listener:
    """A WebSocket client that keeps every frame it receives, in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[str] = []
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in self.ws:
                assert isinstance(frame, str), "every frame of these sockets is text"
                self.frames.append(frame)
                self._arrived.set()
        self._arrived.set()

    @property
    def closed(self) -> bool:
        return self._task.done()

    async def wait_for(self, matches: Callable[[str], bool], since: int = 0,
                       timeout: float = 5.0) -> int:
        """Index of the first frame from `since` on that `matches`; fails after `timeout`."""
        async def scan() -> int:
            seen = since
            while True:
                for i in range(seen, len(self.frames)):
                    if matches(self.frames[i]):
                        return i
                seen = len(self.frames)
                if self.closed:
                    raise AssertionError(f"socket closed ({self.ws.close_code}) first")
                self._arrived.clear()
                await self._arrived.wait()

        try:
            return await asyncio.wait_for(scan(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"no matching frame within {timeout:g} s; got {len(self.frames)} frames, "
                f"the last: {self.frames[-1][:500] if self.frames else None!r}") from None

    async def wait_containing(self, text: str, since: int = 0, timeout: float = 5.0) -> int:
        return await self.wait_for(lambda f: text in f, since, timeout)

    async def ended(self, timeout: float = 10.0) -> int | None:
        """Wait for the server to close the socket; its close code."""
        await asyncio.wait_for(asyncio.shield(self._task), timeout)
        return self.ws.close_code


@pytest.fixture
async def tokens(store, site) -> dict[str, str]:
    return {role: await create_token(store.redis, site.id, role)
            for role in ("desk", "display", "kiosk")}


@pytest.fixture
def server(live_server, request):
    """The server under test; `@pytest.mark.server_env({...})` adds to its environment."""
    marker = request.node.get_closest_marker("server_env")
    return live_server(marker.args[0] if marker else None)


@pytest.fixture
async def desk(server, site, tokens) -> AsyncIterator[Desk]:
    async with httpx.AsyncClient(
        base_url=f"{server.url}/api/v1/sites/{site.id}", trust_env=False, timeout=10,
        headers={"Authorization": f"Bearer {tokens['desk']}"},
    ) as client:
        yield Desk(client)


def ws_path(site_id: str, audience: str, query: str = "") -> str:
    return f"/ws/sites/{site_id}/{audience}{query}"


@contextlib.asynccontextmanager
async def opened(server, path: str, token: str | None, **kw: Any) -> AsyncIterator[
        ClientConnection]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with connect(server.ws_url + path, additional_headers=headers, open_timeout=5,
                       max_size=None, **kw) as ws:
        yield ws


@contextlib.asynccontextmanager
async def listening(server, path: str, token: str, **kw: Any) -> AsyncIterator[Listener]:
    async with opened(server, path, token, **kw) as ws:
        listener = Listener(ws)
        try:
            yield listener
        finally:
            await ws.close()
            await listener._task


# Snapshot first, then the change


async def test_lobby_socket_sends_the_whole_lobby_then_the_new_ticket(server, site, tokens,
                                                                      desk):
    async with listening(server, ws_path(site.id, "lobby"), tokens["display"]) as lobby:
        await lobby.wait_for(bool)
        assert set(top_level_ids(lobby.frames[0])) == LOBBY_IDS
        assert "Now calling" in lobby.frames[0]

        visit = await desk.check_in("reg", name="Ada Quist")
        i = await lobby.wait_containing(visit["ticket"], since=1)
        assert i == 1, "the check-in is the first change after the snapshot"
        assert "queue-reg" in top_level_ids(lobby.frames[i])
        assert set(top_level_ids(lobby.frames[i])) <= LOBBY_IDS


@pytest.mark.server_env({"PREPARED_SEND": "false"})
async def test_with_prepared_sends_off_a_lobby_socket_still_gets_every_change(server, site,
                                                                             tokens, desk):
    """The standard ASGI send, as a uvicorn without the extended protocol would run it."""
    async with listening(server, ws_path(site.id, "lobby"), tokens["display"]) as lobby:
        await lobby.wait_for(bool)
        for name in ("Ada Quist", "Bo Rand"):
            visit = await desk.check_in("reg", name=name)
            await lobby.wait_containing(visit["ticket"], since=1)
    assert "WebSockets: the standard ASGI send (PREPARED_SEND=false)" in server.log()


async def test_board_socket_sends_the_whole_board_then_the_patient_by_name(server, site,
                                                                          tokens, desk):
    async with listening(server, ws_path(site.id, "board"), tokens["desk"]) as board:
        await board.wait_for(bool)
        assert set(top_level_ids(board.frames[0])) == BOARD_IDS
        assert "Room 1" in board.frames[0]

        visit = await desk.check_in("nurse", name="Beatrix Quist")
        i = await board.wait_containing("Beatrix Quist", since=1)
        assert visit["ticket"] in board.frames[i]
        assert "board-queue-nurse" in top_level_ids(board.frames[i])
        assert set(top_level_ids(board.frames[i])) <= BOARD_IDS


async def test_kiosk_socket_sends_the_queues_waits_then_the_change(server, site, tokens,
                                                                   desk):
    async with listening(server, ws_path(site.id, "kiosk"), tokens["kiosk"]) as kiosk:
        await kiosk.wait_for(bool)
        assert set(top_level_ids(kiosk.frames[0])) == KIOSK_IDS
        before = fragment_texts(kiosk.frames[0])["kiosk-queues"]
        assert "Registration" in before

        await desk.check_in("reg", name="Cyril Quist")
        i = await kiosk.wait_for(lambda f: "kiosk-queues" in top_level_ids(f), since=1)
        assert fragment_texts(kiosk.frames[i])["kiosk-queues"] != before, "a longer wait"
        assert set(top_level_ids(kiosk.frames[i])) <= KIOSK_IDS
        assert "Cyril" not in kiosk.frames[i]


# The JSON event stream


async def test_events_socket_without_after_sends_only_live_events(server, site, tokens, desk):
    before = await desk.check_in("reg", name="Old News")
    async with listening(server, ws_path(site.id, "events"), tokens["desk"]) as events:
        fresh = await desk.check_in("lab", name="Fresh News")
        await events.wait_for(bool)
        first = json.loads(events.frames[0])
        assert first["type"] == "visit.checked_in"
        assert first["visit"]["id"] == fresh["id"] != before["id"]
        assert first["visit"]["name"] == "Fresh News"
        assert set(first) >= {"id", "type", "at", "actor", "visit"}


async def test_events_socket_is_live_from_its_handshake_even_as_a_sites_first_socket(
        live_server, redis_factory, settings):
    # The first socket of a site starts that site's stream tail in the server process; an
    # event written once the handshake has answered must still reach it. Several fresh
    # sites, because a miss depends on timing.
    redis_server = redis_factory()
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        own = Store(client, settings)
        server = live_server(redis_url=redis_server.url)
        missed = []
        for n in range(8):
            site = site_from_dict({"id": f"cold-{n}", **TEST_SITE})
            await own.save_site(site)
            token = await create_token(client, site.id, "desk")
            async with listening(server, ws_path(site.id, "events"), token) as events:
                await own.check_in(site, "reg", actor="test", name=f"First Patient {n}")
                with contextlib.suppress(AssertionError):
                    await events.wait_for(bool, timeout=1)
                if not events.frames:
                    missed.append(site.id)
        assert missed == [], "events written after the handshake never arrived"
    finally:
        await client.aclose()


async def test_events_socket_resumes_after_an_id_with_none_missed_and_none_twice(
        server, site, tokens, desk):
    for n in range(5):
        await desk.check_in("reg", name=f"Before {n}")
    earlier = await desk.events()
    after = next(e["id"] for e in earlier if e.get("visit", {}).get("name") == "Before 1")

    async def keep_checking_in() -> None:
        for n in range(30):
            await desk.check_in("lab", name=f"During {n}")

    path = ws_path(site.id, "events", f"?after={after}")
    writer = asyncio.create_task(keep_checking_in())
    async with listening(server, path, tokens["desk"]) as events:
        await writer
        for n in range(5):
            await desk.check_in("nurse", name=f"After {n}")
        expected = [e["id"] for e in await desk.events(after)]
        assert len(expected) == 3 + 30 + 5
        await events.wait_for(lambda f: json.loads(f)["id"] == expected[-1])
        await asyncio.sleep(0.3)  # anything sent twice would have arrived by now
        got = [json.loads(f) for f in events.frames]

    assert [e["id"] for e in got] == expected
    assert [e["visit"]["name"] for e in got[:3]] == ["Before 2", "Before 3", "Before 4"]
    assert got[-1]["visit"]["name"] == "After 4"


async def test_an_event_its_wake_up_carries_reaches_the_socket_with_no_stream_read(
        server, site, tokens, desk, store):
    # The message a script publishes carries the event and the id before it: a process
    # that has read up to that id sends the event on as it is. This one is published by
    # hand and never written to the stream, so only the message can bring it.
    async with listening(server, ws_path(site.id, "events"), tokens["desk"]) as events:
        visit = await desk.check_in("reg", name="Read Up To Here")
        await events.wait_containing(visit["id"])
        last = json.loads(events.frames[-1])["id"]
        carried = f"{int(last.split('-')[0]) + 1}-0"
        await store.redis.publish(keys.events(site.id), json.dumps({
            "prev": last, "id": carried, "fields": {
                "type": "queue.updated", "at": clock.now().isoformat(), "actor": "test",
                "queue": json.dumps({"id": "lab", "open": False})}}))
        await events.wait_for(lambda f: json.loads(f)["id"] == carried)
        assert json.loads(events.frames[-1])["queue"] == {"id": "lab", "open": False}


async def test_after_a_lost_wake_up_the_next_one_has_the_stream_read_and_none_missed(
        server, site, tokens, desk, store):
    async with listening(server, ws_path(site.id, "events"), tokens["desk"]) as events:
        first = await desk.check_in("reg", name="Before The Gap")
        await events.wait_containing(first["id"])
        # An event whose wake-up never arrived (as while the reader reconnects): the next
        # wake-up names it as the one before, so the hub reads the stream.
        lost = await store.redis.xadd(keys.events(site.id), {
            "type": "queue.updated", "at": clock.now().isoformat(), "actor": "test",
            "queue": json.dumps({"id": "lab", "open": True})})
        after = await desk.check_in("reg", name="After The Gap")
        await events.wait_containing(after["id"])
        got = [json.loads(f) for f in events.frames]
    assert [e["id"] for e in got] == [e["id"] for e in await desk.events()][-3:]
    assert got[1]["id"] == lost and got[1]["queue"] == {"id": "lab", "open": True}


# The lobby never sees a name


NAMES = ["Zebulon Quixote-Marchetti", "Philippa Worthington-Ngata",
         "Octavius Brannigan", "Esmeralda Featherstonehaugh", "Xiomara Kowalczyk"]


async def test_lobby_socket_never_receives_a_name_or_a_visit_id(server, site, tokens, desk):
    async with (
        listening(server, ws_path(site.id, "lobby"), tokens["display"]) as lobby,
        listening(server, ws_path(site.id, "kiosk"), tokens["kiosk"]) as kiosk,
        listening(server, ws_path(site.id, "board"), tokens["desk"]) as board,
    ):
        visits = [await desk.check_in(q, name=n, flags=["interpreter"], priority=p)
                  for q, n, p in zip(["reg", "reg", "nurse", "lab", "reg"], NAMES,
                                     [0, 2, 0, 1, 0], strict=True)]
        zeb, phil, octa, esme, xio = visits
        # Changes that arrive during a redraw share the next one, so a patient who comes
        # and goes within one redraw is never drawn: let every name be drawn first.
        await board.wait_for(lambda _: all(n in "".join(board.frames) for n in NAMES),
                             timeout=10)
        await lobby.wait_containing(xio["ticket"], timeout=10)
        await desk.move(zeb, "call", room="room-1")
        await desk.move(zeb, "room", room="room-1")
        await desk.move(zeb, "transfer", queue="lab")
        await desk.move(phil, "call", room="desk-1")
        await desk.move(phil, "return")
        await desk.move(phil, "call")
        await desk.move(phil, "no-show")
        await desk.move(octa, "room", room="room-2")
        await desk.move(octa, "checkout")
        await desk.move(esme, "call", room="room-3")
        await desk.move(xio, "left")
        r = await desk.client.post("/queues/lab/call-next", json={})
        assert r.status_code == 200, r.text
        # Frames arrive in stream order: once this ticket shows, every earlier change has.
        kiosk_seen = len(kiosk.frames)
        marker = await desk.check_in("nurse")
        await lobby.wait_containing(marker["ticket"], timeout=10)
        await board.wait_containing(marker["ticket"], timeout=10)
        await kiosk.wait_for(lambda f: "kiosk-queues" in top_level_ids(f), since=kiosk_seen,
                             timeout=10)

    board_text = "".join(board.frames)
    assert all(name in board_text for name in NAMES), "the board does get the names"
    lobby_text = "".join(lobby.frames)
    assert zeb["ticket"] in lobby_text and esme["ticket"] in lobby_text
    assert "Room 3" in lobby_text
    words = {w for name in NAMES for w in name.replace("-", " ").split()}
    leaked = sorted(w for w in words if w.lower() in lobby_text.lower())
    assert leaked == [], f"names reached a lobby socket: {leaked}"
    assert not [v["id"] for v in [*visits, marker] if v["id"] in lobby_text]
    assert "interpreter" not in lobby_text
    kiosk_text = "".join(kiosk.frames).lower()
    assert [w for w in words if w.lower() in kiosk_text] == []


# Refusals are answers to the handshake


async def test_socket_without_credentials_is_refused_with_401(server, site):
    with pytest.raises(InvalidStatus) as refused:
        async with opened(server, ws_path(site.id, "lobby"), None):
            pass
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"] == "unauthorized"


@pytest.mark.parametrize(("audience", "role"), [
    ("board", "kiosk"), ("board", "display"), ("events", "display"), ("lobby", "kiosk"),
    ("kiosk", "display"),
])
async def test_socket_for_the_wrong_role_is_refused_with_403(server, site, tokens, audience,
                                                            role):
    with pytest.raises(InvalidStatus) as refused:
        async with opened(server, ws_path(site.id, audience), tokens[role]):
            pass
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body)["error"] == "forbidden"


async def test_socket_with_another_sites_token_is_refused_with_403(server, site, store,
                                                                  site_id):
    other_site = f"{site_id}-other"
    other = await create_token(store.redis, other_site, "desk")
    try:
        with pytest.raises(InvalidStatus) as refused:
            async with opened(server, ws_path(site_id, "board"), other):
                pass
        assert refused.value.response.status_code == 403
    finally:
        digests = await store.redis.smembers(keys.site_tokens(other_site))
        await store.redis.hdel(keys.token_index(), *digests)
        await store.redis.delete(keys.site_tokens(other_site))


async def test_socket_for_an_unknown_site_is_refused_with_404(server, site, tokens):
    with pytest.raises(InvalidStatus) as refused:
        async with opened(server, ws_path("no-such-site", "lobby"), tokens["display"]):
            pass
    assert refused.value.response.status_code == 404


async def test_socket_from_another_origin_is_refused_with_403(server, site, tokens):
    path = ws_path(site.id, "lobby")
    with pytest.raises(InvalidStatus) as refused:
        async with opened(server, path, tokens["display"], origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body)["error"] == "bad_origin"

    async with opened(server, path, tokens["display"], origin=server.url) as ws:
        assert "Now calling" in await asyncio.wait_for(ws.recv(), 5)


@pytest.mark.parametrize("origin", [
    "https://127.0.0.1:{port}",  # same host and port, another scheme
    "http://127.0.0.1:{other}",  # same scheme and host, another port
    "http://127.0.0.1",  # the default port is not this server's
    "http://127.0.0.1:{port}.evil.example",
])
async def test_socket_origin_must_match_scheme_host_and_port(server, site, tokens, origin):
    origin = origin.format(port=server.port, other=server.port + 1)
    with pytest.raises(InvalidStatus) as refused:
        async with opened(server, ws_path(site.id, "lobby"), tokens["display"], origin=origin):
            pass
    assert refused.value.response.status_code == 403


async def test_events_socket_with_a_malformed_after_is_refused_with_422(server, site, tokens):
    with pytest.raises(InvalidStatus) as refused:
        async with opened(server, ws_path(site.id, "events", "?after=yesterday"),
                          tokens["desk"]):
            pass
    assert refused.value.response.status_code == 422


# One render, the same bytes for everyone


@pytest.mark.parametrize(("audience", "role"), [("lobby", "display"), ("board", "desk")])
async def test_sockets_of_one_audience_receive_identical_bytes(server, site, tokens, desk,
                                                              audience, role):
    path = ws_path(site.id, audience)
    async with opened(server, path, tokens[role]) as one, opened(server, path,
                                                                   tokens[role]) as two:
        snapshots = [await asyncio.wait_for(ws.recv(decode=False), 5) for ws in (one, two)]
        assert snapshots[0] == snapshots[1]
        visit = await desk.check_in("reg", name="Dmitri Quist")
        a, b = [await asyncio.wait_for(ws.recv(decode=False), 5) for ws in (one, two)]
        assert visit["ticket"].encode() in a and a == b
        await desk.move(visit, "call", room="room-2")
        a, b = [await asyncio.wait_for(ws.recv(decode=False), 5) for ws in (one, two)]
        assert b"Room 2" in a and a == b


# A slow socket is dropped; the others carry on


def _open_raw_socket(port: int, path: str, token: str) -> socket.socket:
    """A WebSocket handshake on a plain socket with a tiny receive buffer, read only up to
    the end of the 101 answer: from then on, nobody reads it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(5)
        sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            byte = sock.recv(1)
            assert byte, f"closed during the handshake: {head!r}"
            head += byte
        assert head.startswith(b"HTTP/1.1 101"), head
        return sock
    except BaseException:
        sock.close()
        raise


def _read_until_closed(sock: socket.socket, timeout: float) -> list[tuple[int, bytes]]:
    """The server's frames, (opcode, payload), up to its close frame or the end of the
    connection; fails if it sends neither within `timeout` of the last byte."""
    sock.settimeout(timeout)
    data = bytearray()
    while True:
        frames = _server_frames(bytes(data))
        if any(opcode == 0x8 for opcode, _ in frames):
            return frames
        try:
            chunk = sock.recv(1 << 16)
        except ConnectionResetError:
            return frames
        except TimeoutError:
            raise AssertionError("the server never closed the slow socket") from None
        if not chunk:
            return frames
        data += chunk


def _server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each server message; a truncated tail is dropped."""
    return [(m.opcode, m.payload) for m in parse_frames([(0.0, data)])[0]]


async def grow_the_board(desk: Desk, healthy: Listener, count: int,
                         until: Callable[[], bool] = lambda: False) -> int:
    """Check in up to `count` patients with long names, each seen by `healthy` before the
    next, stopping early once `until()`; answers how many. The board's frames get big fast
    (up to the 100 rows a screen lists), so a socket nobody reads soon has a send waiting."""
    padding = " ".join(["Quist"] * 15)
    for n in range(1, count + 1):
        await desk.check_in("reg", name=f"P{n:03d} {padding}")
        await healthy.wait_containing(f">{n} waiting<", timeout=5)
        if until():
            return n
    return count


@pytest.mark.server_env({"SOCKET_BACKLOG": "8"})
async def test_slow_socket_is_closed_and_never_holds_back_the_others(server, site, tokens,
                                                                    desk):
    path = ws_path(site.id, "board")
    async with listening(server, path, tokens["desk"]) as healthy:
        await healthy.wait_for(bool)
        slow = _open_raw_socket(server.port, path, tokens["desk"])
        try:
            # The healthy socket sees every change, each in turn, while the slow one is
            # closed once it is 8 changes behind. Its close frame waits behind the frames
            # it has not read, for at most 5 s: read them as soon as the server says so.
            checked_in = await grow_the_board(
                desk, healthy, 300, until=lambda: "fell behind" in server.log())
            frames = await asyncio.to_thread(_read_until_closed, slow, 10)
        finally:
            slow.close()
        assert not healthy.closed

    assert checked_in < 300, "the slow socket was never closed"
    texts = b"".join(payload for opcode, payload in frames if opcode == 0x1)
    assert f">{checked_in} waiting<".encode() not in texts, "the slow socket was kept"
    closes = [payload for opcode, payload in frames if opcode == 0x8]
    assert closes, "the server hung up on the slow socket without a close frame (1006)"
    assert struct.unpack("!H", closes[0][:2])[0] == 1013


# Redraws: changes are drawn at once, merged when a socket has not been sent the last one


def screen_state(frames: list[str]) -> dict[str, str]:
    """What a screen shows after applying `frames` in order, as htmx swaps them: each
    top-level element replaces the one with its id. Answers the text of each, by id."""
    state: dict[str, str] = {}
    for frame in frames:
        state.update(fragment_texts(frame))
    return state


async def test_two_changes_moments_apart_both_reach_the_screens_in_order(server, site,
                                                                        tokens, desk):
    async with (
        listening(server, ws_path(site.id, "lobby"), tokens["display"]) as lobby,
        listening(server, ws_path(site.id, "events"), tokens["desk"]) as events,
    ):
        await lobby.wait_for(bool)
        # A check-in and, 5 ms after it was sent, the call that takes that patient.
        arrival = asyncio.create_task(desk.check_in("reg", priority=2))
        await asyncio.sleep(0.005)
        r = await desk.client.post("/queues/reg/call-next", json={"room": "room-3"})
        visit = await arrival
        if r.status_code == 204:
            # On a loaded machine the call can reach the server before the check-in it
            # takes, and find nobody waiting: then it follows the check-in's answer.
            r = await desk.client.post("/queues/reg/call-next", json={"room": "room-3"})
        assert r.status_code == 200 and r.json()["id"] == visit["id"], r.text
        ticket = visit["ticket"]
        await lobby.wait_for(lambda f: ticket in fragment_texts(f).get("calling", ""))
        shown = [screen_state(lobby.frames[:n]) for n in range(1, len(lobby.frames) + 1)]
        called_from = next(i for i, s in enumerate(shown) if ticket in s["calling"])
        assert all(ticket in s["calling"] and ticket not in s["queue-reg"]
                   for s in shown[called_from:]), "the screen never goes back to 'waiting'"
        # JSON clients get every event, one a frame, in order.
        await events.wait_for(lambda f: json.loads(f)["type"] == "visit.called")
        got = [json.loads(f) for f in events.frames]
        assert [(e["type"], e["visit"]["id"]) for e in got if "visit" in e] == [
            ("visit.checked_in", visit["id"]), ("visit.called", visit["id"])]


def _read_until(sock: socket.socket, done: Callable[[str], bool],
                timeout: float) -> list[tuple[int, bytes]]:
    """The server's messages, read until their text satisfies `done`."""
    sock.settimeout(timeout)
    data = bytearray()
    while True:
        frames = _server_frames(bytes(data))
        if done("".join(p.decode() for op, p in frames if op == 0x1)):
            return frames
        chunk = sock.recv(1 << 16)
        assert chunk, "the server closed the connection"
        data += chunk


@pytest.mark.server_env({"SOCKET_BACKLOG": "500"})
async def test_changes_a_busy_socket_was_not_sent_yet_reach_it_merged(server, site, tokens,
                                                                      desk):
    path = ws_path(site.id, "board")
    checked_in = 200
    async with listening(server, path, tokens["desk"]) as healthy:
        await healthy.wait_for(bool)
        busy = _open_raw_socket(server.port, path, tokens["desk"])
        try:
            # Nobody reads `busy` while the board grows, so a send to it soon waits; the
            # changes made meanwhile must not queue up as frames of their own.
            await grow_the_board(desk, healthy, checked_in)
            frames = await asyncio.to_thread(
                _read_until, busy, lambda text: f">{checked_in} waiting<" in text, 10)
        finally:
            busy.close()
    texts = [p.decode() for op, p in frames if op == 0x1]
    assert not any(op == 0x8 for op, _ in frames), "a socket within its backlog is kept"
    print(f"{len(texts) - 1} frames carried {checked_in} changes")
    assert len(texts) - 1 < checked_in, "every change came as a frame of its own"
    board = screen_state(texts)["board-queue-reg"]
    assert all(f"P{n:03d}" in board for n in range(1, 101)), "the first 100, as listed"
    assert len(healthy.frames) == checked_in + 1, "a socket that keeps up gets each change"


async def test_a_screen_joining_while_changes_flow_gets_the_whole_state_first(server, site,
                                                                             tokens, desk):
    async def arrivals(n: int) -> list[dict[str, Any]]:
        return [await desk.check_in("reg") for _ in range(n)]

    flowing = asyncio.create_task(arrivals(20))
    await asyncio.sleep(0.05)
    async with listening(server, ws_path(site.id, "lobby"), tokens["display"]) as lobby:
        visits = await flowing
        await lobby.wait_containing(visits[-1]["ticket"])
        assert set(top_level_ids(lobby.frames[0])) == LOBBY_IDS
        shown = [screen_state(lobby.frames[:n])["queue-reg"]
                 for n in range(1, len(lobby.frames) + 1)]
        for earlier, later in itertools.pairwise(shown):
            assert all(v["ticket"] in later for v in visits if v["ticket"] in earlier), (
                "a frame took the screen back to a state before the one it had")
        assert all(v["ticket"] in shown[-1] for v in visits)


async def test_a_board_joining_a_site_drawn_only_for_its_lobby_gets_what_it_missed(
        server, site, tokens, desk):
    """Only the lobby is open while the patient arrives: the board is not drawn then, and
    the redraws leave today's appointments unread (the lobby never shows them). The board
    that opens afterwards must be drawn with the patient and with who is expected."""
    start = clock.now().astimezone(site.tz).replace(second=0, microsecond=0)
    r = await desk.client.post("/appointments", json=[{
        "id": "ws-exp-1", "start": start.isoformat(), "first_name": "Philippa",
        "last_name": "Quist", "birth_date": "1970-01-02"}])
    assert r.status_code == 200 and r.json()["imported"] == 1, r.text
    async with listening(server, ws_path(site.id, "lobby"), tokens["display"]) as lobby:
        await lobby.wait_for(bool)
        visit = await desk.check_in("nurse", name="Cornelius Quist")
        await lobby.wait_containing(visit["ticket"])
        async with listening(server, ws_path(site.id, "board"), tokens["desk"]) as board:
            await board.wait_for(bool)
            assert "Cornelius Quist" in board.frames[0]
            expected = fragment_texts(board.frames[0])["board-expected"]
            assert "Philippa Quist" in expected


def _hub_stops(server, site_id: str) -> int:
    return server.log().count(f"site {site_id}: no socket for 1 s; its hub stopped")


@pytest.mark.server_env({"HUB_IDLE_SECONDS": "1"})
async def test_a_site_left_without_screens_stops_its_hub_and_starts_again_on_the_next(
        server, site, tokens, desk):
    path = ws_path(site.id, "lobby")
    async with listening(server, path, tokens["display"]) as lobby:
        await asyncio.sleep(2.5)  # a connected screen keeps the hub going
        assert _hub_stops(server, site.id) == 0
        visit = await desk.check_in("reg")
        await lobby.wait_containing(visit["ticket"])

    async def stopped() -> None:
        while _hub_stops(server, site.id) == 0:
            await asyncio.sleep(0.1)

    await asyncio.wait_for(stopped(), 10)
    later = await desk.check_in("reg")
    async with listening(server, path, tokens["display"]) as lobby:
        i = await lobby.wait_containing(later["ticket"])
        assert i == 0, "the snapshot of a restarted hub has what happened meanwhile"
        last = await desk.check_in("reg")
        await lobby.wait_containing(last["ticket"], since=1)


# A restart leaves nothing behind


async def test_reconnecting_after_a_restart_gives_a_fresh_snapshot(server, site, tokens,
                                                                   desk, store):
    first = await desk.check_in("reg", name="Before Restart")
    path = ws_path(site.id, "lobby")
    async with listening(server, path, tokens["display"]) as lobby:
        await lobby.wait_containing(first["ticket"])
        await server.astop()
        assert await lobby.ended() == 1012, "uvicorn says 'service restart'"

    away, _ = await store.check_in(site, "nurse", actor="test", name="While Away")
    await asyncio.to_thread(server.start)

    async with listening(server, path, tokens["display"]) as lobby:
        await lobby.wait_for(bool)
        snapshot = lobby.frames[0]
        assert set(top_level_ids(snapshot)) == LOBBY_IDS
        assert first["ticket"] in snapshot and away["ticket"] in snapshot
        after = await desk.check_in("lab")
        await lobby.wait_containing(after["ticket"], since=1)


async def test_events_socket_misses_nothing_across_a_redis_restart(live_server, redis_factory,
                                                                   settings):
    redis_server = redis_factory()
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        own = Store(client, settings)
        site = site_from_dict({"id": "redis-restart", **TEST_SITE})
        await own.save_site(site)
        token = await create_token(client, site.id, "desk")
        server = live_server(redis_url=redis_server.url)
        async with listening(server, ws_path(site.id, "events"), token) as events:
            await own.check_in(site, "reg", actor="test", name="Before The Outage")
            await events.wait_containing("Before The Outage")
            await asyncio.to_thread(redis_server.stop)
            await asyncio.sleep(1)  # the hub's stream tail notices and backs off
            await asyncio.to_thread(redis_server.start)
            await client.connection_pool.disconnect()  # the test's own stale connections
            names = [f"After The Outage {n}" for n in range(3)]
            for name in names:
                await own.check_in(site, "reg", actor="test", name=name)
            await events.wait_containing(names[-1], timeout=10)
            got = [json.loads(f)["visit"]["name"] for f in events.frames]
        assert got == ["Before The Outage", *names]
    finally:
        await client.aclose()
