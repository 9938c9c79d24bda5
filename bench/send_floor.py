"""The machine's floor for a fan-out: from the instant a change is ready to the moment a
reader has it on every one of N loopback TCP sockets, written by `--writers` processes as
the app's `serve --workers N`, with no HTTP, WebSocket, Starlette, Redis or app code at all.

    python -m bench.send_floor --sockets 1000 --writers 2 --sizes 1400,5400 --rounds 100

Each writer process listens on a port of its own and holds its share of the `--sockets`
connections (as even as possible); one reading child process opens them all. Per round,
every writer writes one payload to each of its sockets in turn (one `transport.write` per
socket, as the hub's fan-out does), all starting at one agreed instant: this process picks
a `time.monotonic()` instant a few ms ahead (system-wide on Linux) and sends it to every
writer, which sleeps until half a millisecond before it and spins the rest, so each starts
within microseconds of it (the report gives the latest start). The reader counts each
socket's bytes and timestamps the moment a round's payload has fully arrived on it.

Reported per size, over every (round, socket) pair: "start -> every socket" p50/p95/p99/max,
and per round the first and the last socket: the same measures as `bench.fanout`'s "call ->
every socket", and the least any server with that many processes can reach on this machine.
Also the writers' own wall time per round (start to their last write) and their CPU per
socket.

With `--gap S` a round is two changes S apart, as `bench.fanout --mode pairs` makes them,
and the writers merge as the app's fan-out does: a socket not yet written when the second
change is due gets both in one write, and those written before get the second in a walk
after the first. Each change is timed from its own instant, both counted in "every socket".
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from itertools import accumulate
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BenchError,
    machine,
    percentile,
    raise_nofile,
    run_main,
    summary_ms,
    use_uvloop,
)

LEAD_S = 0.005  # how far ahead the start instant is picked: time to reach every writer
SPIN_S = 0.0005  # the last stretch before it, spun rather than slept (a sleep overshoots)
TIMEOUT_S = 10.0  # for a round to reach every socket (far more than 1,000 sockets need)
WARMUP = 1  # rounds first, not counted: the first writes of a process are slower


def connect_seconds(sockets: int) -> float:
    """How long the reader may take to open its sockets: a minute, and 10 ms more a
    socket (10,000 loopback connects took over a minute beside 11,000 sockets in
    TIME_WAIT, which slow the kernel's search for a free port)."""
    return 60 + sockets / 100


def shares(sockets: int, writers: int) -> list[int]:
    """How many sockets each writer holds: as even as possible, the first ones one more."""
    return [sockets // writers + (i < sockets % writers) for i in range(writers)]


class _Held(asyncio.Protocol):
    def __init__(self, held: list[asyncio.WriteTransport]) -> None:
        self.held = held

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.held.append(transport)  # type: ignore[arg-type]


async def _next(conn: Connection) -> Any:
    """The next message on `conn`, awaited in the event loop: no thread to wake first."""
    loop = asyncio.get_running_loop()
    readable = loop.create_future()
    loop.add_reader(conn.fileno(), lambda: readable.done() or readable.set_result(None))
    try:
        await readable
    finally:
        loop.remove_reader(conn.fileno())
    return conn.recv()


def write_share(conn: Connection, count: int, loop_name: str) -> None:
    """A writer: listen, send the port, wait for `count` connections and send how many came;
    then per `(start, size)` received, write `size` bytes to each socket from `start` on
    and answer `(late_s, done, cpu_s)`: how late it began, when it finished (monotonic)
    and the CPU the writes took. `None` ends it."""

    async def main() -> None:
        raise_nofile(count + 256)
        loop = asyncio.get_running_loop()
        held: list[asyncio.WriteTransport] = []
        server = await loop.create_server(lambda: _Held(held), "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        deadline = time.monotonic() + connect_seconds(count)
        while len(held) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        conn.send(len(held))
        while (order := await _next(conn)) is not None:
            start, size, gap = order
            payload = b"x" * size
            # Nothing is pending between rounds (the reader had the last one whole), so
            # blocking this loop until the start costs nothing.
            _wait_until(start)
            now = time.monotonic()
            cpu = time.thread_time()
            if gap is None:
                for transport in held:
                    transport.write(payload)
            else:
                _write_pair(held, payload, start + gap)
            conn.send((now - start, time.monotonic(), time.thread_time() - cpu))
        server.close()

    use_uvloop(loop_name == "uvloop")
    asyncio.run(main())


def _wait_until(instant: float) -> None:
    time.sleep(max(0.0, instant - SPIN_S - time.monotonic()))
    while time.monotonic() < instant:
        pass


def _write_pair(held: list[asyncio.WriteTransport], payload: bytes, second: float) -> None:
    """Write `payload` to every socket, and again from the instant `second` on: the sockets
    not reached by then get both in one write, then those reached before get the second."""
    reached = 0
    for transport in held:
        if time.monotonic() >= second:
            break
        transport.write(payload)
        reached += 1
    both = payload + payload
    for transport in held[reached:]:
        transport.write(both)
    _wait_until(second)
    for transport in held[:reached]:
        transport.write(payload)


class _Counted(asyncio.Protocol):
    """One reading socket: counts its bytes and notes when each round's payload is whole."""

    def __init__(self, tally: _Tally) -> None:
        self.tally = tally
        self.received = 0
        self.times: list[float] = []

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.received += len(data)
        marks = self.tally.marks
        while len(self.times) < len(marks) and self.received >= marks[len(self.times)]:
            self.times.append(now)
            self.tally.arrived(len(self.times) - 1)


class _Tally:
    """What the reader shares between its sockets: the byte count at which each round is
    whole, and how many sockets have it; a round on every socket is told to the parent."""

    def __init__(self, marks: list[int], sockets: int, conn: Connection) -> None:
        self.marks = marks
        self.sockets = sockets
        self.conn = conn
        self.counts = [0] * len(marks)
        self.done = asyncio.Event()

    def arrived(self, index: int) -> None:
        self.counts[index] += 1
        if self.counts[index] == self.sockets:
            self.conn.send(index)
            if index == len(self.marks) - 1:
                self.done.set()


def read_all(conn: Connection, ports: list[tuple[int, int]], sizes: list[int],
             loop_name: str) -> None:
    """The reader: `count` connections to each `(port, count)`, then "ready"; the index of
    each round once every socket has it whole (`sizes` is every round's payload, in order);
    finally each socket's arrival times, one per round."""

    async def main() -> None:
        sockets = sum(count for _, count in ports)
        raise_nofile(sockets + 256)
        loop = asyncio.get_running_loop()
        tally = _Tally(list(accumulate(sizes)), sockets, conn)
        readers: list[_Counted] = []
        for port, count in ports:
            for _ in range(count):
                _, protocol = await loop.create_connection(
                    lambda: _Counted(tally), "127.0.0.1", port)
                readers.append(protocol)
        conn.send("ready")
        await tally.done.wait()
        conn.send([r.times for r in readers])

    use_uvloop(loop_name == "uvloop")
    asyncio.run(main())


def _recv(conn: Connection, timeout: float, what: str) -> Any:
    if not conn.poll(timeout):
        raise BenchError(f"{what} within {timeout:g} s.")
    return conn.recv()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Start the writers and the reader, run every round, and sum them up."""
    spawn = multiprocessing.get_context("spawn")
    counts = shares(args.sockets, args.writers)
    rounds = args.sizes[:1] * WARMUP + [size for size in args.sizes
                                        for _ in range(args.rounds)]
    changes = 1 if args.gap is None else 2  # a round's payloads, as the reader counts them
    schedule = [size for size in rounds for _ in range(changes)]
    writers: list[Connection] = []
    procs = []
    try:
        for count in counts:
            mine, theirs = spawn.Pipe()
            procs.append(spawn.Process(target=write_share, daemon=True,
                                       args=(theirs, count, args.loop_name)))
            procs[-1].start()
            writers.append(mine)
        ports = [_recv(c, 60, "a writer did not listen") for c in writers]
        reader, theirs = spawn.Pipe()
        procs.append(spawn.Process(target=read_all, daemon=True, args=(
            theirs, list(zip(ports, counts, strict=True)), schedule, args.loop_name)))
        procs[-1].start()
        _recv(reader, connect_seconds(args.sockets), "the reader did not connect")
        held = [_recv(c, 5, "a writer did not see its connections") for c in writers]
        if held != counts:
            raise BenchError(f"the writers hold {held} connections, not {counts}.")
        starts, answers = [], []
        for index, size in enumerate(rounds):
            start = time.monotonic() + LEAD_S
            for c in writers:
                c.send((start, size, args.gap))
            for change in range(changes):
                if (_recv(reader, TIMEOUT_S, "a round did not reach every socket")
                        != index * changes + change):
                    raise BenchError("the reader saw the rounds out of order.")
                starts.append(start + change * (args.gap or 0.0))
            answers.append([_recv(c, TIMEOUT_S, "a writer did not answer") for c in writers])
            time.sleep(args.pause)
        per_socket = _recv(reader, 60, "the reader did not report")
    finally:
        for proc in procs:
            proc.kill()
    results = []
    for n, size in enumerate(args.sizes):
        mine = range(WARMUP + n * args.rounds, WARMUP + (n + 1) * args.rounds)
        timed = range(mine.start * changes, mine.stop * changes)
        results.append(_size_result(size, [starts[i] for i in timed], [answers[i] for i in mine],
                                    [[t[i] for t in per_socket] for i in timed]))
    return {"sockets": args.sockets, "writers": args.writers, "shares": counts,
            "rounds": args.rounds, "gap_ms": None if args.gap is None else args.gap * 1000,
            "loop": args.loop_name, "machine": machine(), "sizes": results}


def _size_result(size: int, starts: list[float], answers: list[list[tuple[float, float, float]]],
                 arrivals: list[list[float]]) -> dict[str, Any]:
    """One size's figures from its changes' start instants (one a round, or two with
    `--gap`), the writers' answers per round and each change's arrival times per socket."""
    sockets = len(arrivals[0])
    after = [[t - start for t in round_] for start, round_ in zip(starts, arrivals, strict=True)]
    per_round = len(starts) // len(answers)
    writes = [max(done for _, done, _ in a) - start
              for start, a in zip(starts[::per_round], answers, strict=True)]
    cpu = sorted(sum(c for _, _, c in a) * 1000 for a in answers)
    cpu_p50 = percentile(cpu, 50) or 0.0
    late = sorted(began * 1e6 for a in answers for began, _, _ in a)
    return {
        "bytes": size,
        "every_socket_ms": summary_ms(t for round_ in after for t in round_),
        "first_socket_ms": summary_ms(min(change) for change in after),
        "last_socket_ms": summary_ms(max(change) for change in after),
        "writes_ms": summary_ms(writes),
        "cpu_ms_p50": round(cpu_p50, 2),
        "cpu_us_per_socket_p50": round(cpu_p50 * 1000 / sockets, 1),
        "late_start_us": {"p50": round(percentile(late, 50) or 0.0, 1),
                          "max": round(late[-1], 1)},
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    # The measuring is all in the child processes; this one only waits on pipes.
    return measure(args)


def report(r: dict[str, Any]) -> str:
    procs = "1 writer process" if r["writers"] == 1 else f"{r['writers']} writer processes"
    pairs = "" if r["gap_ms"] is None else f" of two changes {r['gap_ms']:g} ms apart"
    lines = [f"{procs} holding {r['sockets']} loopback sockets "
             f"({'+'.join(map(str, r['shares']))}), one reading process, {r['rounds']} rounds"
             f"{pairs} a size ({r['loop']}; {r['machine']})"]
    for s in r["sizes"]:
        head = f"{s['bytes']} B a socket"
        lines += ["", f"  {head:28}{'n':>8}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}   (ms)"]
        for label, key in (("start -> every socket", "every_socket_ms"),
                           ("start -> first socket", "first_socket_ms"),
                           ("start -> last socket", "last_socket_ms")):
            v = s[key]
            lines.append(f"  {label:28}{v['count']:>8}{v['p50']:>9}{v['p95']:>9}"
                         f"{v['p99']:>9}{v['max']:>9}")
        w = s["writes_ms"]
        lines += [f"  writers' own writes, start -> their last: {w['p50']} ms p50, {w['p99']} p99, "
                  f"{w['max']} max; their CPU {s['cpu_ms_p50']} ms a round, "
                  f"{s['cpu_us_per_socket_p50']} µs a socket (p50)",
                  f"  writers began {s['late_start_us']['p50']} µs after the agreed instant "
                  f"p50, {s['late_start_us']['max']} µs max"]
    return "\n".join(lines)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("sizes are bytes, comma-separated: 300,5400") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("give at least one size of 1 byte or more")
    return sizes


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench.send_floor",
                                description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--writers", type=int, default=1,
                   help="writer processes sharing the sockets, as `serve --workers N`")
    p.add_argument("--sizes", type=_sizes, default=[300, 5400],
                   help="payload sizes in bytes, comma-separated (default 300,5400)")
    p.add_argument("--rounds", type=int, default=50, help="rounds per size")
    p.add_argument("--pause", type=float, default=0.05, help="seconds between rounds")
    p.add_argument("--gap", type=float, default=None,
                   help="seconds between two changes a round, merged as the app merges them "
                        "(bench.fanout --mode pairs sends them 0.005 apart)")
    p.add_argument("--no-uvloop", action="store_true", help="use the plain asyncio loop")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def check(args: argparse.Namespace) -> None:
    if args.sockets < 1 or args.rounds < 1 or args.writers < 1:
        raise BenchError("--sockets, --writers and --rounds must be at least 1.")
    if args.writers > args.sockets:
        raise BenchError("--writers cannot be more than --sockets.")
    if args.gap is not None and not 0 < args.gap < 1:
        raise BenchError("--gap is seconds between a round's two changes: more than 0, under 1.")


def main(argv: list[str] | None = None) -> int:
    return run_main("bench.send_floor", parser(), check, run, report, argv)


if __name__ == "__main__":
    sys.exit(main())
