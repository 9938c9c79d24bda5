"""Where an idle lobby socket's memory goes: the Python heap it adds, by source file.

    python -m bench.memory_profile --site demo --sockets 1000

Serves the app in this process under `tracemalloc` (on `--port`, with the WebSocket
implementation `--ws`), opens one lobby socket and then `--sockets` more from a child
process, and reports what the heap grew by per socket, the files that allocated it first.
`bench.memory` measures the resident set of a real server; this says which layer holds
it (uvicorn's protocol, websockets' handshake, Starlette's routing, the app). Tracing
slows the server: its timings mean nothing. Uses REDIS_URL, like the server.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import sys
import tracemalloc
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.cli import WS_IMPLEMENTATIONS, ws_protocol
from bench.clients import open_listeners
from bench.common import (
    BenchError,
    add_client_arguments,
    parse_target,
    raise_nofile,
    run_main,
    token_option,
)


def listen(url: str, path: str, token: str, count: int, pipe: Connection) -> None:
    """The child: one socket, then `count` more, telling the parent after each step and
    holding them until it says stop."""

    async def main() -> None:
        target = parse_target(url)
        raise_nofile(count + 256)
        first, errors, _ = await open_listeners(target, path, token, 1)
        pipe.send((len(first), errors[:1]))
        await asyncio.to_thread(pipe.recv)
        more, errors, _ = await open_listeners(target, path, token, count)
        pipe.send((len(more), errors[:1]))
        await asyncio.to_thread(pipe.recv)

    asyncio.run(main())


def _snapshot() -> tracemalloc.Snapshot:
    gc.collect()
    return tracemalloc.take_snapshot()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import uvicorn

    from app.config import ConfigError, Settings
    from app.main import create_app

    token = token_option(args.display_token, "BENCH_DISPLAY_TOKEN", args.site, "display",
                         args.tokens_from_cli)
    try:
        app = create_app(Settings.from_env())
    except ConfigError as exc:
        raise BenchError(str(exc)) from None
    tracemalloc.start()
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=args.port, ws=ws_protocol(args.ws),
        ws_per_message_deflate=False, log_level="warning", access_log=False))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            raise BenchError(f"the server did not start on port {args.port}.")
        await asyncio.sleep(0.05)

    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    child = multiprocessing.get_context("spawn").Process(target=listen, args=(
        f"http://127.0.0.1:{args.port}", f"/ws/sites/{args.site}/lobby", token,
        args.sockets, theirs))
    child.start()
    try:
        opened, errors = await asyncio.to_thread(ours.recv)
        if not opened:
            raise BenchError(f"no lobby socket opened: {errors}")
        await asyncio.sleep(args.settle)
        before = _snapshot()
        ours.send("go")
        opened, errors = await asyncio.to_thread(ours.recv)
        await asyncio.sleep(args.settle)
        after = _snapshot()
        ours.send("stop")
    finally:
        child.join(30)
        server.should_exit = True
        await serving
    stats = after.compare_to(before, "lineno" if args.by_line else "filename")
    per_socket = sum(s.size_diff for s in stats) / max(opened, 1)
    return {"ws": args.ws, "sockets": opened, "errors": errors,
            "bytes_per_socket": round(per_socket),
            "files": [{"file": _short(s.traceback[0].filename)
                       + (f":{s.traceback[0].lineno}" if args.by_line else ""),
                       "bytes_per_socket": round(s.size_diff / max(opened, 1))}
                      for s in stats[:args.top]]}


def _short(filename: str) -> str:
    """A path from the package on: `uvicorn/protocols/...`, `app/live/ws.py`, `asyncio/...`."""
    parts = Path(filename).parts
    for marker in ("site-packages", "python3.11", "python3.12", "python3.13"):
        if marker in parts:
            return "/".join(parts[parts.index(marker) + 1:])
    root = Path(__file__).resolve().parent.parent
    try:
        return str(Path(filename).resolve().relative_to(root))
    except ValueError:
        return filename


def report(r: dict[str, Any]) -> str:
    lines = [f"{r['sockets']} lobby sockets ({r['ws']}): the Python heap grew "
             f"{r['bytes_per_socket'] / 1024:.1f} KiB per socket"]
    lines += [f"  {f['bytes_per_socket']:6d} B  {f['file']}" for f in r["files"]]
    if r["errors"]:
        lines.append(f"  errors: {r['errors']}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench.memory_profile",
                                description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--site", default="demo")
    p.add_argument("--port", type=int, default=8019, help="port of the in-process server")
    p.add_argument("--ws", default="websockets-sansio",
                   choices=WS_IMPLEMENTATIONS,
                   help="as `python -m app serve --ws`")
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--settle", type=float, default=2.0, help="seconds before each snapshot")
    p.add_argument("--top", type=int, default=20, help="files (or lines) to list")
    p.add_argument("--by-line", action="store_true", help="list source lines, not files")
    add_client_arguments(p, ["display"])
    return p


def check(args: argparse.Namespace) -> None:
    if args.sockets < 1:
        raise BenchError("--sockets must be at least 1.")


def main(argv: list[str] | None = None) -> int:
    return run_main("bench.memory_profile", parser(), check, run, report, argv)


if __name__ == "__main__":
    sys.exit(main())
