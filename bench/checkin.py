"""Check-in throughput: C concurrent clients for T seconds, each doing check-ins back to back
over its own keep-alive HTTP connection.

    python -m bench.checkin --url http://127.0.0.1:8000 --clients 32 --duration 10 --procs 2

By default each client sends its next check-in as soon as the answer to the last one
arrives (a closed loop: the figure is the server's ceiling, and the latency is mostly time
spent queueing at that ceiling). With `--rate R` the clients together offer R check-ins per
second, evenly spaced (an open load: the latency at that throughput); sends that could not
start on time are counted as late.

The clients run in `--procs` worker processes (a raw asyncio HTTP/1.1 client by default;
`--client httpx` to compare). On a machine whose cores the server shares, every client cycle
is a cycle the server doesn't get: the report shows what the client processes cost (cores,
and microseconds per request) next to the server's, Redis's and the machine's CPU.

By default it uses its own site, `bench`, created or updated with `python -m app site load`
so the demo is not flooded, and afterwards marks every visit it created as `left` (`--drain`).
`--listeners K` keeps K lobby sockets open during the run, so the site's hub renders and
pushes every change as it would in a clinic with screens.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing as mp
import queue as queue_mod
import sys
import time
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clients import HttpClient, HttpError, Listener, open_listeners, pick_queue
from bench.common import (
    BenchError,
    add_client_arguments,
    cpu_report,
    cpu_sample,
    fmt,
    load_site,
    machine,
    new_parser,
    other_cores,
    parse_target,
    perf,
    raise_nofile,
    run_main,
    self_cpu,
    summary_ms,
    token_option,
    use_uvloop,
    watched_pids,
)

BENCH_SITE_TOML = """\
# Written by bench/checkin.py: a site of its own, so a benchmark never floods the demo.
id = "{site}"
name = "Benchmark clinic"
timezone = "UTC"

[[queues]]
id = "checkin"
name = "Check-in"
prefix = "B"
minutes_per_patient = 5

[[queues]]
id = "provider"
name = "Provider"
prefix = "C"
minutes_per_patient = 15

[[rooms]]
id = "desk-1"
name = "Desk 1"
kind = "desk"

[[rooms]]
id = "room-1"
name = "Room 1"
"""

ID_MARK = b'"id":"'


def _visit_id(body: bytes) -> str | None:
    at = body.find(ID_MARK)
    if at < 0:
        return None
    end = body.find(b'"', at + len(ID_MARK))
    return body[at + len(ID_MARK):end].decode() if end > 0 else None


class Pacer:
    """With `--rate`, spaces one client's requests evenly so that all the clients together
    offer `rate` check-ins per second (an open load, staggered between clients); without
    it, the client sends as soon as its previous answer arrives (a closed loop). A send
    that starts more than 1 ms after its slot is counted as late: then the offered rate
    was not reached and the latencies understate the queueing."""

    def __init__(self, spec: dict[str, Any], n: int, t0: float) -> None:
        rate = spec.get("rate") or 0
        self.interval = spec["clients_total"] / rate if rate else 0.0
        self.next = t0 + self.interval * (spec["first_client"] + n) / spec["clients_total"]

    async def wait(self, t1: float, t2: float, out: dict[str, Any]) -> bool:
        """Wait for this client's next slot; False when that slot is past the run's end."""
        if not self.interval:
            return True
        if self.next >= t2:
            return False
        now = perf()
        if now < self.next:
            await asyncio.sleep(self.next - now)
        elif now - self.next > 0.001 and t1 <= now < t2:
            out["late"] += 1
        self.next += self.interval
        return True


async def _raw_clients(spec: dict[str, Any], t0: float, t1: float, t2: float,
                       out: dict[str, Any]) -> None:
    target = parse_target(spec["url"])
    body = json.dumps({"queue": spec["queue"]}).encode()
    path = f"/api/v1/sites/{spec['site']}/visits"
    lat, statuses, errors, ids = out["lat"], out["status"], out["errors"], out["ids"]

    async def client(n: int) -> None:
        http = HttpClient(target, spec["token"], timeout=spec["timeout"])
        raw = http.request_bytes("POST", path, body)
        pace = Pacer(spec, n, t0)
        now = perf()
        if now < t0:
            await asyncio.sleep(t0 - now)
        try:
            while perf() < t2 and await pace.wait(t1, t2, out):
                try:
                    r = await http.send(raw)
                except (HttpError, OSError) as exc:
                    errors[type(exc).__name__] += 1
                    await asyncio.sleep(0.01)
                    continue
                if r.status == 201:
                    vid = _visit_id(r.body)
                    if vid:
                        ids.append(vid)
                if t1 <= r.sent < t2:
                    lat.append(r.done - r.sent)
                    statuses[r.status] += 1
        finally:
            http.close()

    await asyncio.gather(*(client(n) for n in range(spec["conns"])))


async def _httpx_clients(spec: dict[str, Any], t0: float, t1: float, t2: float,
                         out: dict[str, Any]) -> None:
    import httpx

    body = json.dumps({"queue": spec["queue"]}).encode()
    url = f"{spec['url']}/api/v1/sites/{spec['site']}/visits"
    headers = {"Authorization": f"Bearer {spec['token']}",
               "Content-Type": "application/json"}
    lat, statuses, errors, ids = out["lat"], out["status"], out["errors"], out["ids"]
    limits = httpx.Limits(max_connections=spec["conns"],
                          max_keepalive_connections=spec["conns"])
    async with httpx.AsyncClient(limits=limits, timeout=spec["timeout"]) as http:
        async def client(n: int) -> None:
            pace = Pacer(spec, n, t0)
            now = perf()
            if now < t0:
                await asyncio.sleep(t0 - now)
            while perf() < t2 and await pace.wait(t1, t2, out):
                sent = perf()
                try:
                    r = await http.post(url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    await asyncio.sleep(0.01)
                    continue
                done = perf()
                if r.status_code == 201:
                    vid = _visit_id(r.content)
                    if vid:
                        ids.append(vid)
                if t1 <= sent < t2:
                    lat.append(done - sent)
                    statuses[r.status_code] += 1

        await asyncio.gather(*(client(n) for n in range(spec["conns"])))


def worker(spec: dict[str, Any], results: Any) -> None:
    """One client process: `spec['conns']` connections from wall-clock `start_at`, measured
    after `warmup` seconds for `duration` seconds. Sends its figures back on `results`."""
    use_uvloop(spec["uvloop"])
    out: dict[str, Any] = {"lat": array("d"), "status": Counter(), "errors": Counter(),
                           "ids": [], "cpu": 0.0, "late": 0}

    async def main() -> None:
        # Wall clock -> this process's perf_counter, so all workers share one window.
        offset = perf() - time.time()
        t0 = spec["start_at"] + offset
        t1 = t0 + spec["warmup"]
        t2 = t1 + spec["duration"]
        loop = asyncio.get_running_loop()
        marks: dict[str, float] = {}
        loop.call_at(loop.time() + (t1 - perf()), lambda: marks.__setitem__("a", self_cpu()))
        run = _httpx_clients if spec["client"] == "httpx" else _raw_clients
        await run(spec, t0, t1, t2, out)
        marks["b"] = self_cpu()
        out["cpu"] = marks["b"] - marks.get("a", marks["b"])
        out["tail_s"] = max(0.0, perf() - t2)

    try:
        asyncio.run(main())
    except Exception as exc:  # reported to the parent instead of dying silently
        out["errors"][f"worker: {type(exc).__name__}: {exc}"] += 1
    out["lat"] = out["lat"].tobytes()
    results.put(out)


async def drain(target: Any, token: str, site: str, queue: str, ids: list[str], how: str,
                conns: int) -> dict[str, Any]:
    """Take the benchmark's visits out of the queue: `left` for each, or call-next + done."""
    started = perf()
    counts: Counter[str] = Counter()
    if how == "left":
        todo = list(reversed(ids))

        async def one() -> None:
            http = HttpClient(target, token, timeout=30)
            try:
                while todo:
                    vid = todo.pop()
                    try:
                        r = await http.request("POST",
                                               f"/api/v1/sites/{site}/visits/{vid}/left", {})
                        counts[str(r.status)] += 1
                    except (HttpError, OSError) as exc:
                        counts[type(exc).__name__] += 1
            finally:
                http.close()

        await asyncio.gather(*(one() for _ in range(max(1, conns))))
    elif how == "call":
        http = HttpClient(target, token, timeout=30)
        try:
            for _ in range(len(ids) + 1000):
                r = await http.request("POST",
                                       f"/api/v1/sites/{site}/queues/{queue}/call-next", {})
                counts[f"call-next {r.status}"] += 1
                if r.status != 200:
                    break
                vid = r.json()["id"]
                d = await http.request("POST", f"/api/v1/sites/{site}/visits/{vid}/done", {})
                counts[f"done {d.status}"] += 1
        finally:
            http.close()
    return {"how": how, "visits": len(ids), "answers": dict(counts),
            "seconds": round(perf() - started, 1)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    target = parse_target(args.url)
    raise_nofile(args.clients + args.listeners + 256)
    if args.site.startswith("bench") and not args.no_create_site:
        load_site(BENCH_SITE_TOML.format(site=args.site))
    desk = token_option(args.desk_token, "BENCH_DESK_TOKEN", args.site, "desk",
                        args.tokens_from_cli)
    http = HttpClient(target, desk)
    queue, waiting_before = await pick_queue(http, args.site, args.queue)
    http.close()
    pids = watched_pids(target.port, args.server_pid)
    server_pid = pids["server"]

    listeners: list[Listener] = []
    listener_errors: list[str] = []
    if args.listeners:
        display = token_option(args.display_token, "BENCH_DISPLAY_TOKEN", args.site,
                               "display", args.tokens_from_cli)
        listeners, listener_errors, _ = await open_listeners(
            target, f"/ws/sites/{args.site}/lobby", display, args.listeners)
        await asyncio.sleep(0.5)

    procs = max(1, args.procs)
    per = [args.clients // procs + (1 if i < args.clients % procs else 0) for i in range(procs)]
    start_at = time.time() + 1.0 + 0.4 * procs   # time for the workers to start up
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    workers = []
    first = 0
    for conns in per:
        if conns == 0:
            continue
        spec = {"url": args.url, "site": args.site, "queue": queue, "token": desk,
                "conns": conns, "start_at": start_at, "warmup": args.warmup,
                "duration": args.duration, "client": args.client, "timeout": args.timeout,
                "uvloop": not args.no_uvloop, "rate": args.rate,
                "clients_total": args.clients, "first_client": first}
        first += conns
        p = ctx.Process(target=worker, args=(spec, results), daemon=True)
        p.start()
        workers.append(p)

    loop = asyncio.get_running_loop()
    t1 = perf() + (start_at - time.time()) + args.warmup
    await asyncio.sleep(max(0.0, t1 - perf()))
    cpu_a = cpu_sample(pids)
    await asyncio.sleep(args.duration)
    cpu_b = cpu_sample(pids)
    last_checkin = perf()

    outs = []
    deadline = time.time() + args.timeout + 30
    for _ in workers:
        try:
            outs.append(await loop.run_in_executor(
                None, lambda: results.get(timeout=max(1.0, deadline - time.time()))))
        except queue_mod.Empty:
            break
    for p in workers:
        p.join(timeout=5)
        if p.is_alive():
            p.terminate()
            p.join(timeout=5)
    if len(outs) < len(workers):
        raise BenchError(f"only {len(outs)} of {len(workers)} client processes reported.")

    lobby: dict[str, Any] = {}
    if listeners:
        # Let the lobby catch up, then see how far behind the last check-in it ended.
        clock = listeners[0].clock
        limit = perf() + 30
        while perf() < limit and perf() - clock.last_rx < 1.0:
            await asyncio.sleep(0.1)
        frames = []
        rates = []
        gaps = []
        last_frame = 0.0
        window = (last_checkin - args.duration, last_checkin)
        for lis in listeners:
            data = [m for m in lis.messages()[0] if m.opcode in (1, 2)]
            frames.append(len(data) - 1)
            last_frame = max(last_frame, data[-1].at)
            during = [m.at for m in data[1:] if window[0] <= m.at <= window[1]]
            rates.append(len(during) / args.duration)
            gaps.append(max((b - a for a, b in itertools.pairwise(during)),
                            default=args.duration))
        rates.sort()
        lobby = {"sockets": len(listeners), "failed": len(listener_errors),
                 "frames_per_socket": {"min": min(frames), "max": max(frames)},
                 "frames_per_s_during_run": {"min": round(rates[0], 1),
                                             "p50": round(rates[len(rates) // 2], 1)},
                 "longest_gap_between_frames_ms": round(max(gaps) * 1000, 1),
                 "last_frame_after_last_checkin_s": round(last_frame - last_checkin, 2),
                 "closed_by_server": sum(1 for lis in listeners if lis.closed_at)}
        for lis in listeners:
            lis.close()

    lat = array("d")
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    ids: list[str] = []
    client_cpu = 0.0
    late = 0
    for o in outs:
        late += o["late"]
        chunk = array("d")
        chunk.frombytes(o["lat"])
        lat.extend(chunk)
        statuses.update(o["status"])
        errors.update(o["errors"])
        ids.extend(o["ids"])
        client_cpu += o["cpu"]
    ok = statuses.get(201, 0)
    ok_lat = lat  # every measured answer; errors are listed by status beside it

    drained: dict[str, Any] = {}
    if args.drain != "none" and ids:
        drained = await drain(target, desk, args.site, queue, ids, args.drain,
                              min(args.clients, 16))

    cpu = cpu_report(cpu_a, cpu_b)
    cpu["client_processes_cores"] = round(client_cpu / args.duration, 2)
    cpu["other_cores"] = other_cores(cpu)
    total = sum(statuses.values())
    cpu["client_us_per_request"] = round(client_cpu / total * 1e6, 1) if total else None
    return {
        "benchmark": "checkin",
        "machine": machine(),
        "url": args.url,
        "site": args.site,
        "queue": queue,
        "waiting_before": waiting_before,
        "clients": args.clients,
        "rate": args.rate,
        "late_sends": late,
        "procs": len(workers),
        "client": args.client,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "checkins_per_s": round(ok / args.duration, 1),
        "answers_per_s": round(total / args.duration, 1),
        "latency_ms": summary_ms(ok_lat),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": dict(errors),
        "lobby": lobby,
        "cpu": cpu,
        "server_pid": server_pid,
        "drain": drained,
    }


def report(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    lines = [
        f"checkin: {r['clients']} clients in {r['procs']} process(es) ({r['client']} client), "
        f"{r['duration_s']} s after {r['warmup_s']} s warm-up, site {r['site']} "
        f"queue {r['queue']}",
        (f"  offered {r['rate']:g}/s, late sends {r['late_sends']}" if r["rate"] else
         "  closed loop (each client sends when its answer arrives)"),
        f"  check-ins/s {r['checkins_per_s']}   latency ms p50 {fmt(lat['p50'])} "
        f"p95 {fmt(lat['p95'])} p99 {fmt(lat['p99'])} max {fmt(lat['max'])}",
        f"  answers by status {r['statuses']}; errors {r['errors'] or 'none'}",
        f"  CPU: {r['cpu']}",
    ]
    if r["lobby"]:
        lines.append(f"  lobby sockets: {r['lobby']}")
    if r["drain"]:
        lines.append(f"  drain: {r['drain']}")
    if not r["rate"] or r["rate"] >= 1000:
        met = r["checkins_per_s"] >= 1000 and (lat["p99"] or 1e9) <= 50
        lines.append(f"  target >= 1000/s with p99 <= 50 ms: {'met' if met else 'MISSED'}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = new_parser("python -m bench.checkin", __doc__, "bench",
                   "site id; one starting with 'bench' is created or updated first")
    p.add_argument("--queue", help="queue id (default: the site's first open queue)")
    p.add_argument("--clients", type=int, default=32, help="concurrent connections")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    p.add_argument("--procs", type=int, default=2, help="client processes")
    p.add_argument("--rate", type=float, default=0,
                   help="offer this many check-ins/s in all, evenly spaced (default: as "
                        "fast as the answers come)")
    p.add_argument("--client", choices=("raw", "httpx"), default="raw")
    p.add_argument("--listeners", type=int, default=0,
                   help="lobby sockets kept open during the run (0: none)")
    p.add_argument("--drain", choices=("left", "call", "none"), default="left",
                   help="afterwards: mark the visits left (default), call-next + done, or keep")
    p.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds")
    p.add_argument("--no-create-site", action="store_true",
                   help="do not create/update a bench* site with `python -m app site load`")
    p.add_argument("--server-pid", type=int)
    add_client_arguments(p, ("desk", "display"))
    return p


def check(args: argparse.Namespace) -> None:
    if not 1 <= args.clients <= 2000:
        raise BenchError("--clients must be from 1 to 2000.")
    if not 0.5 <= args.duration <= 600 or not 0 <= args.warmup <= 60:
        raise BenchError("--duration must be 0.5-600 s and --warmup 0-60 s.")
    if not 1 <= args.procs <= 16:
        raise BenchError("--procs must be from 1 to 16.")
    if not 0 <= args.rate <= 100000:
        raise BenchError("--rate must be from 0 (closed loop) to 100000.")
    if not 0 <= args.listeners <= 20000:
        raise BenchError("--listeners must be from 0 to 20000.")


def main(argv: list[str] | None = None) -> int:
    return run_main("checkin", parser(), check, run, report, argv)


if __name__ == "__main__":
    raise SystemExit(main())
