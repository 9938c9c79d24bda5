"""Many sites on one deployment: N sites, K lobby sockets each, Poisson check-ins to random
sites; call -> frame latency, missed frames, and what the server and Redis cost while the
sockets are connected and nothing changes.

The sites are made as an operator's `python -m app site load` makes them (the store's
`save_site`, here in-process: a thousand CLI runs would take a thousand seconds), ids
`PREFIX-0000`…, each with the queue `reg`; a display token and a desk token are minted for
each (in-process too, as `python -m app token` does). Then, in order:

1. connect K lobby sockets per site (cheap raw listeners, `bench.clients`), timed;
2. idle for `--idle` seconds: the server's and Redis's CPU, and Redis's commands per
   second (`INFO stats` total_commands_processed, less this benchmark's two INFO calls);
3. `--rate` check-ins per second in all, Poisson arrivals, each to a site drawn at random,
   for `--duration` seconds; each (check-in, socket of its site) pair is matched to the
   first frame after the request that shows its ticket; a pair with no such frame within
   `--timeout` of the end is missed;
4. the benchmark's visits are marked `left`, so runs do not pile up patients.

REDIS_URL must name the server's Redis. Use a Redis of its own: on a shared one, other
clients' commands count in the idle figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import time
from collections import Counter
from typing import Any

from bench.clients import HttpClient, HttpError, Listener, open_listeners
from bench.common import (
    BenchError,
    Target,
    cpu_report,
    cpu_sample,
    fmt,
    machine,
    new_parser,
    other_cores,
    parse_target,
    perf,
    raise_nofile,
    run_main,
    server_cores,
    summary_ms,
    watched_pids,
)

QUEUE = "reg"
SITE = {
    "name": "Benchmark clinic {n}",
    "timezone": "UTC",
    "queues": [{"id": QUEUE, "name": "Registration", "prefix": "S", "minutes_per_patient": 5}],
    "rooms": [{"id": "room-1", "name": "Room 1"}],
}


def ticket_pattern(ticket: str) -> re.Pattern[bytes]:
    return re.compile(rb"(?<![A-Za-z0-9])" + re.escape(ticket.encode()) + rb"(?![A-Za-z0-9])")


async def make_sites(prefix: str, count: int) -> tuple[list[str], dict[str, tuple[str, str]],
                                                      Any]:
    """The sites (created or updated) and (display, desk) tokens for each, through the
    app's own store, on REDIS_URL."""
    from app.access.auth import create_token
    from app.config import Settings
    from app.sites import site_from_dict
    from app.storage.redis_client import connect
    from app.storage.store import Store

    settings = Settings.from_env()
    if settings.redis_url is None:
        raise BenchError("set REDIS_URL to the server's Redis.")
    redis = await connect(settings.redis_url)
    store = Store(redis, settings)
    ids = [f"{prefix}-{n:04d}" for n in range(count)]
    tokens: dict[str, tuple[str, str]] = {}
    gate = asyncio.Semaphore(16)

    async def one(n: int, site_id: str) -> None:
        async with gate:
            site = site_from_dict({**SITE, "id": site_id, "name": SITE["name"].format(n=n)})
            await store.save_site(site)
            tokens[site_id] = (await create_token(redis, site_id, "display"),
                               await create_token(redis, site_id, "desk"))

    await asyncio.gather(*(one(n, s) for n, s in enumerate(ids)))
    return ids, tokens, redis


async def redis_commands(redis: Any) -> int:
    """Commands Redis has processed: on a Cluster, the sum over its masters."""
    from redis.asyncio.cluster import RedisCluster

    if isinstance(redis, RedisCluster):
        per_node = await redis.info("stats", target_nodes=RedisCluster.PRIMARIES)
        return sum(int(info["total_commands_processed"]) for info in per_node.values())
    return int((await redis.info("stats"))["total_commands_processed"])


async def monitor_commands(url: str, stop: asyncio.Event) -> Counter[str]:
    """Until `stop`, the commands Redis runs on `url`'s database, by name (MONITOR): on a
    Redis shared with other databases' clients, the server's own commands alone. Commands
    run inside Lua scripts are counted apart, as `lua:NAME`. Standalone or Sentinel only."""
    from redis.asyncio import Redis

    # A quiet window may pass without a command: no read timeout.
    client = Redis.from_url(url, decode_responses=True, socket_timeout=3600)
    db = str(client.connection_pool.connection_kwargs.get("db", 0))
    seen: Counter[str] = Counter()
    try:
        async with client.monitor() as m:
            async def listen() -> None:
                async for entry in m.listen():
                    if str(entry.get("db")) == db:
                        name = entry["command"].split(" ", 1)[0].upper()
                        lua = entry.get("client_type") == "lua"
                        seen[("lua:" if lua else "") + name] += 1

            task = asyncio.create_task(listen())
            await stop.wait()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await client.aclose()
    return seen


class Pool:
    """Keep-alive HTTP connections, one per request in flight, reused."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.free: list[HttpClient] = []

    async def post(self, path: str, token: str, body: bytes) -> Any:
        http = self.free.pop() if self.free else HttpClient(self.target, timeout=30)
        raw = (f"POST {path} HTTP/1.1\r\nHost: {self.target.hostport}\r\n"
               f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        try:
            return await http.send(raw)
        finally:
            self.free.append(http)

    def close(self) -> None:
        for http in self.free:
            http.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    target = parse_target(args.url)
    raise_nofile(args.sites * args.sockets + 1000)
    ids, tokens, redis = await make_sites(args.prefix, args.sites)
    pids = watched_pids(target.port, args.server_pid)
    sockets: dict[str, list[Listener]] = {}
    errors: Counter[str] = Counter()
    gate = asyncio.Semaphore(max(1, args.connect_concurrency // max(1, args.sockets)))

    async def connect(site_id: str) -> None:
        async with gate:
            done, failed, _ = await open_listeners(
                target, f"/ws/sites/{site_id}/lobby", tokens[site_id][0], args.sockets,
                concurrency=args.sockets, timeout=60)
        sockets[site_id] = done
        for e in failed:
            errors[e[:120]] += 1

    try:
        started = perf()
        await asyncio.gather(*(connect(s) for s in ids))
        connect_s = perf() - started
        opened = sum(len(v) for v in sockets.values())
        if opened == 0:
            raise BenchError(f"no socket opened: {dict(errors)}")

        await asyncio.sleep(args.settle)
        watch_stop = asyncio.Event()
        watching = (asyncio.create_task(monitor_commands(os.environ["REDIS_URL"], watch_stop))
                    if args.monitor else None)
        cmd0, cpu0 = await redis_commands(redis), cpu_sample(pids)
        await asyncio.sleep(args.idle)
        cpu1, cmd1 = cpu_sample(pids), await redis_commands(redis)
        watch_stop.set()
        seen = await watching if watching is not None else None
        idle_cpu = cpu_report(cpu0, cpu1)
        idle_cpu["other_cores"] = other_cores(idle_cpu)
        idle_cpu["server_cores"] = server_cores(idle_cpu)
        idle_cmds = (cmd1 - cmd0 - 1) / idle_cpu["wall_s"] if idle_cpu["wall_s"] else None

        pool = Pool(target)
        calls: list[dict[str, Any]] = []
        body = b'{"queue": "' + QUEUE.encode() + b'"}'
        rng = random.Random(args.seed)

        async def check_in(site_id: str) -> None:
            call: dict[str, Any] = {"site": site_id}
            calls.append(call)
            try:
                r = await pool.post(f"/api/v1/sites/{site_id}/visits", tokens[site_id][1],
                                    body)
            except (HttpError, OSError) as exc:
                call["error"] = f"{type(exc).__name__}: {exc}"
                return
            call.update(sent=r.sent, done=r.done, status=r.status)
            if r.status == 201:
                visit = r.json()
                call.update(ticket=visit["ticket"], visit=visit["id"])

        tasks = []
        load0 = cpu_sample(pids)
        t0, load_started = perf(), time.time()
        at = 0.0
        while True:
            at += rng.expovariate(args.rate)
            if at >= args.duration:
                break
            delay = t0 + at - perf()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(check_in(rng.choice(ids))))
        await asyncio.gather(*tasks)
        await asyncio.sleep(args.timeout)
        load_cpu = cpu_report(load0, cpu_sample(pids))
        load_cpu["other_cores"] = other_cores(load_cpu)
        load_cpu["server_cores"] = server_cores(load_cpu)

        latencies: list[float] = []
        slowest: list[tuple[float, float]] = []  # (latency, seconds into the load window)
        missed = pairs = 0
        messages = {id(sock): [m for m in sock.messages()[0] if m.opcode == 0x1]
                    for socks in sockets.values() for sock in socks}
        for call in calls:
            if "ticket" not in call:
                continue
            pattern = ticket_pattern(call["ticket"])
            for sock in sockets.get(call["site"], []):
                pairs += 1
                hit = next((m for m in messages[id(sock)]
                            if m.at >= call["sent"] and pattern.search(m.payload)), None)
                if hit is None:
                    missed += 1
                else:
                    latencies.append(hit.at - call["sent"])
                    slowest.append((hit.at - call["sent"], call["sent"] - t0))

        statuses = Counter(str(c.get("status", c.get("error", "?"))) for c in calls)
        drained = Counter()
        visits = [(c["site"], c["visit"]) for c in calls if "visit" in c]
        dgate = asyncio.Semaphore(8)

        async def leave(site_id: str, visit_id: str) -> None:
            async with dgate:
                try:
                    r = await pool.post(f"/api/v1/sites/{site_id}/visits/{visit_id}/left",
                                        tokens[site_id][1], b"{}")
                    drained[str(r.status)] += 1
                except (HttpError, OSError) as exc:
                    drained[type(exc).__name__] += 1

        if args.drain:
            await asyncio.gather(*(leave(s, v) for s, v in visits))
        pool.close()
        return {
            "benchmark": "sites",
            "machine": machine(),
            "loop": args.loop_name,
            "sites": args.sites,
            "sockets": {"per_site": args.sockets, "open": opened, "failed": sum(errors.values()),
                        "errors": dict(errors.most_common(5)), "connect_s": round(connect_s, 1)},
            "idle": {"seconds": args.idle, "cpu": idle_cpu,
                     "redis_commands_per_s": None if idle_cmds is None else round(idle_cmds, 1),
                     "db_commands": None if seen is None else _db_commands(seen, args.idle)},
            "load": {"rate": args.rate, "duration_s": args.duration, "calls": len(calls),
                     "started_unix": round(load_started, 1),
                     "statuses": dict(statuses), "cpu": load_cpu},
            "http_ms": summary_ms(c["done"] - c["sent"] for c in calls if "done" in c),
            "frame_ms": summary_ms(latencies),
            "slowest": [{"ms": round(lat * 1000, 1), "at_s": round(at_s, 1)}
                        for lat, at_s in sorted(slowest, reverse=True)[:8]],
            "missed": {"pairs": missed, "of_pairs": pairs},
            "drained": dict(drained),
        }
    finally:
        for socks in sockets.values():
            for sock in socks:
                sock.close()
        await redis.aclose()


def _db_commands(seen: Counter[str], seconds: float) -> dict[str, Any]:
    """MONITOR's count on the server's database: per second, and the commonest names."""
    sent = sum(n for name, n in seen.items() if not name.startswith("lua:"))
    in_lua = sum(seen.values()) - sent
    return {"per_s": round(sent / seconds, 2), "in_scripts_per_s": round(in_lua / seconds, 2),
            "total": sent, "top": dict(seen.most_common(8))}


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def report(r: dict[str, Any]) -> str:
    s, idle, load, f, h = r["sockets"], r["idle"], r["load"], r["frame_ms"], r["http_ms"]
    ic, lc = idle["cpu"], load["cpu"]
    return "\n".join([
        f"{r['sites']} sites x {s['per_site']} lobby sockets: {s['open']} open, "
        f"{s['failed']} failed, connected in {s['connect_s']} s",
        f"  idle {idle['seconds']} s: server {_cores(ic.get('server_cores'))} cores, "
        f"Redis {_cores(ic.get('redis_cores'))} cores, {fmt(idle['redis_commands_per_s'])} "
        f"Redis commands/s (other load on the machine {_cores(ic.get('other_cores'))} cores)",
        *([] if idle.get("db_commands") is None else [
            f"  idle, on the server's database (MONITOR): {idle['db_commands']['per_s']} "
            f"commands/s (+{idle['db_commands']['in_scripts_per_s']}/s inside scripts), "
            f"{idle['db_commands']['total']} in all; {idle['db_commands']['top']}"]),
        f"  load: {load['calls']} check-ins at {load['rate']}/s for {load['duration_s']} s "
        f"{load['statuses']}; server {_cores(lc.get('server_cores'))} cores, Redis "
        f"{_cores(lc.get('redis_cores'))} (other {_cores(lc.get('other_cores'))})",
        f"  HTTP check-in p50/p99 {fmt(h['p50'])}/{fmt(h['p99'])} ms",
        f"  call -> frame p50/p95/p99/max {fmt(f['p50'])}/{fmt(f['p95'])}/{fmt(f['p99'])}/"
        f"{fmt(f['max'])} ms over {f['count']} (call, socket) pairs",
        f"  missed (call, socket) pairs: {r['missed']['pairs']} of {r['missed']['of_pairs']}",
        f"  slowest pairs (ms @ seconds into the load, which began at unix "
        f"{load.get('started_unix')}): " + ", ".join(
            f"{w['ms']:g} @ {w['at_s']:g}" for w in r.get("slowest", [])),
    ])


def check(args: argparse.Namespace) -> None:
    if args.sites < 1 or args.sockets < 1 or args.rate <= 0 or args.duration <= 0:
        raise BenchError("--sites, --sockets, --rate and --duration must be positive.")


def main(argv: list[str] | None = None) -> int:
    p = new_parser("python -m bench.sites", __doc__, site="", site_help=argparse.SUPPRESS)
    p.add_argument("--prefix", default="bench-sites", help="site ids are PREFIX-0000...")
    p.add_argument("--sites", type=int, default=100)
    p.add_argument("--sockets", type=int, default=3, help="lobby sockets per site")
    p.add_argument("--rate", type=float, default=20.0, help="check-ins per second in all")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of check-ins")
    p.add_argument("--idle", type=float, default=10.0, help="seconds measured idle")
    p.add_argument("--settle", type=float, default=2.0, help="seconds before the idle window")
    p.add_argument("--timeout", type=float, default=3.0,
                   help="seconds after the last check-in for its frames")
    p.add_argument("--connect-concurrency", type=int, default=60,
                   help="sockets connecting at once")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--monitor", action="store_true",
                   help="also count the idle window's commands on REDIS_URL's database "
                        "with MONITOR (a Redis shared with other clients)")
    p.add_argument("--server-pid", type=int, help="the server's pid (found from --url if not)")
    p.add_argument("--no-drain", dest="drain", action="store_false",
                   help="keep the check-ins' visits waiting")
    p.add_argument("--no-uvloop", action="store_true", help="use the plain asyncio loop")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return run_main("bench.sites", p, check, run, report, argv)


if __name__ == "__main__":
    raise SystemExit(main())
