"""The machine's floor for a fan-out: what writing one frame to each of N loopback TCP
sockets costs one process, with no HTTP, WebSocket, Starlette or app code at all.

    python -m bench.send_floor --sockets 1000 --sizes 300,5400

A child process opens `--sockets` connections to a bare server in this process and reads
everything sent; this process then writes a payload of each size to every socket in turn,
`--rounds` times, the way the hub's fan-out does (one `transport.write` per socket). The
time one round takes is the least an app can need to reach its last socket on this
machine: if it is above a latency target, no code in one process meets that target here.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BenchError, machine, percentile, raise_nofile, run_main


class _Held(asyncio.Protocol):
    def __init__(self, held: list[asyncio.WriteTransport]) -> None:
        self.held = held

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.held.append(transport)  # type: ignore[arg-type]


class _Drain(asyncio.Protocol):
    def data_received(self, data: bytes) -> None:
        pass


def read_all(port: int, count: int, ready: Any) -> None:
    """The child: `count` connections that read and drop whatever comes, until killed."""

    async def main() -> None:
        raise_nofile(count + 256)
        loop = asyncio.get_running_loop()
        for _ in range(count):
            await loop.create_connection(_Drain, "127.0.0.1", port)
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


async def _written(transports: list[asyncio.WriteTransport], timeout: float = 10.0) -> None:
    """Wait until the reader has taken everything (no write buffer is left holding bytes)."""
    deadline = time.monotonic() + timeout
    while any(t.get_write_buffer_size() for t in transports):
        if time.monotonic() > deadline:
            raise BenchError("the reader did not keep up; fewer --sockets?")
        await asyncio.sleep(0.01)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_nofile(args.sockets + 256)
    loop = asyncio.get_running_loop()
    held: list[asyncio.WriteTransport] = []
    server = await loop.create_server(lambda: _Held(held), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Event()
    child = spawn.Process(target=read_all, args=(port, args.sockets, ready), daemon=True)
    child.start()
    try:
        if not await asyncio.to_thread(ready.wait, 60):
            raise BenchError("the reading process did not connect within 60 s.")
        deadline = time.monotonic() + 5
        while len(held) < args.sockets and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the last accepts may still be under way
        if len(held) < args.sockets:
            raise BenchError(f"only {len(held)} of {args.sockets} connections arrived.")
        results = []
        for size in args.sizes:
            payload = b"x" * size
            wall, cpu = [], []
            for _ in range(args.rounds):
                started, started_cpu = time.perf_counter(), time.thread_time()
                for transport in held:
                    transport.write(payload)
                wall.append((time.perf_counter() - started) * 1000)
                cpu.append((time.thread_time() - started_cpu) * 1000)
                await _written(held)
                await asyncio.sleep(args.pause)
            wall.sort()
            cpu.sort()
            results.append({
                "bytes": size,
                "round_ms": {"p50": round(percentile(wall, 50), 2),
                             "p99": round(percentile(wall, 99), 2), "max": round(wall[-1], 2)},
                "cpu_ms_p50": round(percentile(cpu, 50), 2),
                "us_per_socket_p50": round(percentile(wall, 50) * 1000 / len(held), 1)})
    finally:
        child.kill()
        server.close()
    return {"sockets": len(held), "rounds": args.rounds, "loop": args.loop_name,
            "machine": machine(), "sizes": results}


def report(r: dict[str, Any]) -> str:
    lines = [f"one process writing to {r['sockets']} loopback sockets, {r['rounds']} rounds "
             f"({r['loop']}; {r['machine']})"]
    for s in r["sizes"]:
        t = s["round_ms"]
        lines.append(f"  {s['bytes']:6d} B: a round takes {t['p50']} ms p50, {t['p99']} p99, "
                     f"{t['max']} max (CPU {s['cpu_ms_p50']} ms); "
                     f"{s['us_per_socket_p50']} µs per socket")
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
    p.add_argument("--sizes", type=_sizes, default=[300, 5400],
                   help="payload sizes in bytes, comma-separated (default 300,5400)")
    p.add_argument("--rounds", type=int, default=50)
    p.add_argument("--pause", type=float, default=0.05, help="seconds between rounds")
    p.add_argument("--no-uvloop", action="store_true", help="use the plain asyncio loop")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def check(args: argparse.Namespace) -> None:
    if args.sockets < 1 or args.rounds < 1:
        raise BenchError("--sockets and --rounds must be at least 1.")


def main(argv: list[str] | None = None) -> int:
    return run_main("bench.send_floor", parser(), check, run, report, argv)


if __name__ == "__main__":
    sys.exit(main())
