"""Log the garbage collector's pauses in a server, and sum them over a time window.

A bench-side attach, nothing in the app: run the server with
`PYTHONPATH=bench/gc_hook GC_LOG=var/gc.jsonl`, and `bench/gc_hook/sitecustomize.py` calls
`install()` in every process (uvicorn's supervisor and each worker). Each process appends
one JSON line per collection of generation 1 or 2, and per generation-0 collection of
`GC_LOG_MIN_MS` (default 1) or more: wall time, pid, generation, milliseconds (wall, and the
process's CPU: on a shared machine a pause can be mostly waiting for a core), objects
collected, and the process's running count and milliseconds per generation (all
collections, logged or not), so a window's totals are the difference of two lines.

    python -m bench.gclog var/gc.jsonl --since 1765010000.0 --until 1765010060.0

prints, per process, the collections and their time per generation in the window, and
the longest pauses.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections import defaultdict
from typing import Any, TextIO


def install(path: str, min_ms: float = 1.0) -> None:
    """Append a line to `path` for each collection worth seeing (see the module's doc)."""
    out: TextIO = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    counts = [0, 0, 0]
    total_ms = [0.0, 0.0, 0.0]
    started = [0.0, 0.0]

    def hook(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[:] = time.perf_counter(), time.process_time()
            return
        ms = (time.perf_counter() - started[0]) * 1000
        cpu_ms = (time.process_time() - started[1]) * 1000
        gen = info["generation"]
        counts[gen] += 1
        total_ms[gen] += ms
        if gen or ms >= min_ms:
            out.write(json.dumps({
                "t": round(time.time(), 4), "pid": os.getpid(), "gen": gen,
                "ms": round(ms, 2), "cpu_ms": round(cpu_ms, 2), "collected": info["collected"],
                "counts": counts, "total_ms": [round(x, 1) for x in total_ms],
            }) + "\n")

    gc.callbacks.append(hook)


def summarise(lines: list[dict[str, Any]], since: float, until: float) -> dict[int, Any]:
    """Per pid: collections and milliseconds per generation in [since, until), the
    longest pauses, from the running totals of the last line before each end."""
    by_pid: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        by_pid[line["pid"]].append(line)
    result: dict[int, Any] = {}
    for pid, rows in by_pid.items():
        before = [r for r in rows if r["t"] < since]
        inside = [r for r in rows if since <= r["t"] < until]
        if not inside:
            continue
        first = before[-1] if before else {"counts": [0, 0, 0], "total_ms": [0.0] * 3}
        last = inside[-1]
        result[pid] = {
            "counts": [last["counts"][g] - first["counts"][g] for g in range(3)],
            "ms": [round(last["total_ms"][g] - first["total_ms"][g], 1) for g in range(3)],
            "longest": sorted(((r["ms"], r.get("cpu_ms"), r["gen"], round(r["t"] - since, 1))
                               for r in inside), reverse=True)[:5],
        }
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gclog", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log")
    p.add_argument("--since", type=float, default=0.0, help="wall time (s since epoch)")
    p.add_argument("--until", type=float, default=float("inf"))
    args = p.parse_args(argv)
    with open(args.log) as f:
        lines = [json.loads(x) for x in f if x.strip()]
    summary = summarise(lines, args.since, args.until)
    for pid, s in sorted(summary.items()):
        gens = ", ".join(f"gen{g} {s['counts'][g]} in {s['ms'][g]} ms" for g in range(3))
        worst = ", ".join(f"{ms} ms (CPU {cpu} ms, gen{g}, +{at} s)"
                          for ms, cpu, g, at in s["longest"])
        print(f"pid {pid}: {gens}; longest {worst}")
    if not summary:
        print("no collection logged in the window", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
