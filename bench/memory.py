"""Memory per idle lobby socket: the server's resident set before and after opening N.

    python -m bench.memory --url http://127.0.0.1:8000 --site demo --sockets 1000

Opens one lobby socket first (so the site's hub and its renders exist), reads the server's
`VmRSS`, opens `--sockets` more, waits `--settle` seconds, reads it again, and reports the
difference per socket. Run it against a fresh server: the allocator keeps what an earlier
run freed, and a second run on the same process measures less than a first.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clients import open_listeners
from bench.common import (
    BenchError,
    add_client_arguments,
    machine,
    new_parser,
    parse_target,
    raise_nofile,
    run_main,
    token_option,
)
from bench.serverpid import find_server_pid


def rss_kib(pid: int) -> int:
    """The process's resident set, in KiB (Linux /proc)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for process {pid}.")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    target = parse_target(args.url)
    raise_nofile(args.sockets + 256)
    pid = args.server_pid or find_server_pid(target.port)
    if pid is None:
        raise BenchError(f"no process seen listening on port {target.port}; pass --server-pid.")
    token = token_option(args.display_token, "BENCH_DISPLAY_TOKEN", args.site, "display",
                         args.tokens_from_cli)
    path = f"/ws/sites/{args.site}/lobby"
    first, errors, _ = await open_listeners(target, path, token, 1)
    if not first:
        raise BenchError(f"no lobby socket opened: {errors[0]}")
    await asyncio.sleep(args.settle)
    before = rss_kib(pid)
    listeners, errors, connect_s = await open_listeners(target, path, token, args.sockets)
    await asyncio.sleep(args.settle)
    after = rss_kib(pid)
    for lis in [*first, *listeners]:
        lis.close()
    await asyncio.sleep(0.2)
    opened = len(listeners)
    return {
        "benchmark": "memory",
        "machine": machine(),
        "url": args.url,
        "site": args.site,
        "sockets": {"asked": args.sockets, "open": opened, "failed": len(errors),
                    "connect_s": round(connect_s, 2)},
        "rss_kib": {"before": before, "after": after},
        "kib_per_socket": round((after - before) / opened, 1) if opened else None,
        "server_pid": pid,
    }


def report(r: dict[str, Any]) -> str:
    s, m = r["sockets"], r["rss_kib"]
    return (f"memory: {s['open']}/{s['asked']} idle lobby sockets on site {r['site']} "
            f"({s['failed']} failed)\n"
            f"  server RSS {m['before']} KiB -> {m['after']} KiB: "
            f"{r['kib_per_socket']} KiB per socket")


def parser() -> argparse.ArgumentParser:
    p = new_parser("python -m bench.memory", __doc__, "demo")
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--settle", type=float, default=2.0, help="seconds to wait before reading")
    p.add_argument("--server-pid", type=int, help="default: whoever listens on --url's port")
    add_client_arguments(p, ("display",))
    return p


def check(args: argparse.Namespace) -> None:
    if not 1 <= args.sockets <= 20000:
        raise BenchError("--sockets must be from 1 to 20000.")


def main(argv: list[str] | None = None) -> int:
    return run_main("memory", parser(), check, run, report, argv)


if __name__ == "__main__":
    raise SystemExit(main())
