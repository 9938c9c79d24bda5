"""The measuring clients: a keep-alive HTTP/1.1 client and a WebSocket listener that only
timestamps the bytes it receives.

Only the standard library, and as little Python per request or frame as possible: the
measuring side shares the machine's cores with the server it measures, and a thousand
full WebSocket client objects would add tens of milliseconds of their own to what they
time (docs/benchmarks.md, "Method notes").
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
from dataclasses import dataclass
from typing import Any

from bench.common import BenchError, Target, perf
from bench.frames import Message, parse_frames


class HttpError(Exception):
    pass


@dataclass
class Response:
    status: int
    body: bytes
    sent: float
    done: float

    @property
    def latency(self) -> float:
        return self.done - self.sent

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class _HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive, one request at a time; the reply is timestamped the moment
    its last byte arrives, before any await wakes up."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, float]] | None = None
        self.lost = False
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        now = perf()
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buf[:end]).split(b"\r\n")
        status = int(head[0].split(b" ", 2)[1])
        length = 0
        chunked = False
        for line in head[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.strip().lower() == b"close":
                self.keep_alive = False
        start = end + 4
        if chunked:
            body, used = _dechunk(self.buf, start)
            if body is None:
                return
        else:
            if len(self.buf) < start + length:
                return
            body, used = bytes(self.buf[start:start + length]), start + length
        del self.buf[:used]
        waiter, self.waiter = self.waiter, None
        if not waiter.done():
            waiter.set_result((status, body, now))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection lost: {exc or 'closed by server'}"))


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes | None, int]:
    out = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None, 0
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n", pos)
            return (bytes(out), end + 2) if end >= 0 else (None, 0)
        if len(buf) < pos + size + 2:
            return None, 0
        out += buf[pos:pos + size]
        pos += size + 2


class HttpClient:
    """A minimal keep-alive HTTP/1.1 client (far cheaper per request than httpx), with one
    connection; reconnects when the server closes it."""

    def __init__(self, target: Target, token: str | None = None, timeout: float = 10.0) -> None:
        self.target = target
        self.timeout = timeout
        self.fixed = (f"Host: {target.hostport}\r\nUser-Agent: lobbyline-bench\r\n"
                      "Accept: application/json\r\n"
                      + (f"Authorization: Bearer {token}\r\n" if token else "")).encode()
        self.proto: _HttpProtocol | None = None

    async def _connect(self) -> _HttpProtocol:
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_connection(_HttpProtocol, self.target.host,
                                                        self.target.port)
        # uvloop may call connection_made only after create_connection has returned.
        proto.transport = transport  # type: ignore[assignment]
        return proto

    def request_bytes(self, method: str, path: str, body: bytes | None = None) -> bytes:
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self.fixed
        if body is not None:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        elif method == "POST":
            head += b"Content-Length: 0\r\n"
        return head + b"\r\n" + (body or b"")

    async def send(self, raw: bytes) -> Response:
        """Send a prepared request (see `request_bytes`); the response carries the times
        just before the write and at the arrival of the reply's last byte."""
        if self.proto is None or self.proto.lost or not self.proto.keep_alive:
            if self.proto is not None and self.proto.transport is not None:
                self.proto.transport.close()
            self.proto = await self._connect()
        proto = self.proto
        assert proto.transport is not None
        proto.waiter = asyncio.get_running_loop().create_future()
        sent = perf()
        proto.transport.write(raw)
        try:
            status, body, done = await asyncio.wait_for(proto.waiter, self.timeout)
        except TimeoutError:
            proto.transport.close()
            self.proto = None
            raise HttpError(f"no answer within {self.timeout:g} s") from None
        return Response(status, body, sent, done)

    async def request(self, method: str, path: str, payload: Any = None) -> Response:
        body = None if payload is None else json.dumps(payload).encode()
        return await self.send(self.request_bytes(method, path, body))

    def close(self) -> None:
        if self.proto is not None and self.proto.transport is not None:
            self.proto.transport.close()
        self.proto = None



def _masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (clients must mask)."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + body


CLOSE_1000 = struct.pack("!H", 1000)


class Clock:
    """Shared by all listeners: when the last byte arrived anywhere (to know when the
    traffic has settled), and one copy of each distinct chunk received.

    Every socket of an audience gets the same frames, mostly in identical chunks. Kept as
    received, each chunk took fresh memory, and the kernel's zeroing of those pages was
    over half of this process's CPU at 10,000 sockets: time the sockets still to be read
    waited for. A chunk equal to one already held is dropped for the held copy, and its
    memory is reused at once (docs/benchmarks.md, "Method notes")."""

    __slots__ = ("chunks", "last", "last_rx")

    def __init__(self) -> None:
        self.last_rx = 0.0
        self.chunks: dict[bytes, bytes] = {}
        self.last = b""  # the chunk held last: the next socket's is most often the same

    def shared(self, data: bytes) -> bytes:
        """The held copy of `data`: compared with the last one first (~0.1 µs for 5 KB),
        looked up by its hash (~1 µs) only when that differs."""
        if data != self.last:
            self.last = self.chunks.setdefault(data, data)
        return self.last


class Listener(asyncio.Protocol):
    """One WebSocket client that does the upgrade itself and then only timestamps the bytes
    it receives: (perf_counter(), bytes) per chunk. Frames are parsed after the run.

    Before its first complete message (the snapshot) it parses as it goes, answering pings;
    after that the only work per chunk is an append, plus a pong when a chunk starts with a
    ping (uvicorn pings every 20 s)."""

    def __init__(self, request: bytes, key: bytes, clock: Clock) -> None:
        self.request = request
        self.accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        self.clock = clock
        self.chunks: list[tuple[float, bytes]] = []
        self.state = 0  # 0 handshake, 1 until the snapshot, 2 recording
        self.hbuf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.status: int | None = None
        self.refusal = b""
        self.closed_at: float | None = None
        self.pings = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        t = perf()
        if self.state == 2:
            self.chunks.append((t, self.clock.shared(data)))
            self.clock.last_rx = t
            if data[0] == 0x89:
                self._pong(data)
            return
        if self.state == 0:
            self.hbuf += data
            end = self.hbuf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.hbuf[:end]).split(b"\r\n")
            self.status = int(head[0].split(b" ", 2)[1])
            headers = {k.strip().lower(): v.strip()
                       for k, _, v in (ln.partition(b":") for ln in head[1:])}
            if self.status != 101 or headers.get(b"sec-websocket-accept") != self.accept:
                self.refusal = bytes(self.hbuf[end + 4:end + 400])
                self._fail(f"upgrade refused: HTTP {self.status} {self.refusal[:200]!r}")
                return
            rest = bytes(self.hbuf[end + 4:])
            self.hbuf = bytearray()
            self.state = 1
            if not rest:
                return
            data = rest
        self.chunks.append((t, data))
        messages, _ = parse_frames(self.chunks)
        for m in messages:
            if m.opcode == 0x9:
                self._send(0xA, m.payload)
        if any(m.opcode in (0x1, 0x2) for m in messages):
            self.state = 2
            if not self.ready.done():
                self.ready.set_result(None)
        elif any(m.opcode == 0x8 for m in messages):
            self._fail("closed by the server before the first frame")

    def _pong(self, data: bytes) -> None:
        length = data[1] & 0x7F
        if length < 126 and len(data) >= 2 + length:
            self.pings += 1
            self._send(0xA, data[2:2 + length])

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_masked(opcode, payload))

    def _fail(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(BenchError(why))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed_at = perf()
        if not self.ready.done():
            self.ready.set_exception(BenchError(f"connection lost before the first frame "
                                                f"({exc or 'closed by the server'})"))

    def close(self) -> None:
        """Say goodbye (close 1000), then drop the connection."""
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, CLOSE_1000)
            self.transport.close()

    def messages(self) -> tuple[list[Message], int]:
        return parse_frames(self.chunks)


async def open_listeners(target: Target, path: str, token: str, count: int,
                         concurrency: int = 100, timeout: float = 30.0,
                         ) -> tuple[list[Listener], list[str], float]:
    """Open `count` WebSockets at `path` and wait for each one's first message.
    Answers the listeners that got it, the errors of the others, and the time taken."""
    loop = asyncio.get_running_loop()
    clock = Clock()
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []
    done: list[Listener] = []

    async def one() -> None:
        key = base64.b64encode(os.urandom(16))
        request = (f"GET {path} HTTP/1.1\r\nHost: {target.hostport}\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
                   f"Origin: {target.origin}\r\nAuthorization: Bearer {token}\r\n"
                   "User-Agent: lobbyline-bench\r\n\r\n").encode()
        async with gate:
            try:
                _, proto = await loop.create_connection(
                    lambda: Listener(request, key, clock), target.host, target.port)
                await asyncio.wait_for(proto.ready, timeout)
            except (OSError, BenchError, TimeoutError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return
        done.append(proto)

    started = perf()
    await asyncio.gather(*(one() for _ in range(count)))
    return done, errors, perf() - started


async def pick_queue(http: HttpClient, site: str, wanted: str | None) -> tuple[str, int]:
    """The queue to use (the first open one unless named) and how many wait at the site."""
    r = await http.request("GET", f"/api/v1/sites/{site}/snapshot")
    if r.status != 200:
        raise BenchError(f"GET snapshot of site {site!r} answered {r.status}: "
                         f"{r.body[:200]!r}")
    snap = r.json()
    queues = snap.get("queues", [])
    waiting = sum(len(q.get("waiting", [])) for q in queues)
    if wanted:
        q = next((q for q in queues if q["id"] == wanted), None)
        if q is None:
            raise BenchError(f"site {site!r} has no queue {wanted!r}; it has "
                             f"{', '.join(q['id'] for q in queues)}.")
        if not q.get("open", True):
            raise BenchError(f"queue {wanted!r} is closed.")
        return wanted, waiting
    q = next((q for q in queues if q.get("open", True)), None)
    if q is None:
        raise BenchError(f"site {site!r} has no open queue.")
    return q["id"], waiting
