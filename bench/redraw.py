"""`python -m bench.redraw`: what one lobby redraw costs, in process.

    python -m bench.redraw --redis-url redis://127.0.0.1:6379/14 --runs 300

A redraw is the hub's read of a site's state (`Store.snapshot`, one `snapshot.lua`) and
the lobby's render of it (`displays.lobby.fragments`). This builds a site of three queues,
each with a full service record (`estimates.RECORD_ENTRIES` entries of services ending
over the last hours at four rooms), a full history by hour of day (60 durations and four
rooms every hour), a dozen patients waiting and `--active` patients called (as a run of
`bench.fanout` leaves them: 200 calls leave ~100), then times `--runs`
redraws in a row and prints the median and the 90th percentile in milliseconds. Nothing
changes between redraws, as between two ticks of a lobby whose queues only wait; `--churn`
adds a service's end to one queue's record before every redraw instead (every redraw then
reads a changed record). The site is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time

from app import clock
from app.config import Settings
from app.sites import site_from_toml
from app.storage import keys, redis_client
from app.storage.store import Store
from app.visits import estimates
from displays import lobby

QUEUES = ("registration", "provider", "lab")


def site_toml(site_id: str) -> str:
    queues = "".join(f'\n[[queues]]\nid = "{q}"\nname = "{q.title()}"\nprefix = "{q[0].upper()}"'
                     f"\nminutes_per_patient = 10\n" for q in QUEUES)
    rooms = "".join(f'\n[[rooms]]\nid = "room-{i}"\nname = "Room {i}"\n' for i in range(1, 5))
    return f'id = "{site_id}"\nname = "Redraw bench"\ntimezone = "America/Chicago"\n' \
           f"{queues}{rooms}"


def record(now_ms: int, n: int, minutes: float = 9.0) -> list[str]:
    """`n` record entries, newest first: services at four rooms, back to back."""
    out: list[str] = []
    i = 0
    while len(out) < n:
        end = now_ms - int(i * minutes / 4 * 60_000)
        start = end - int(minutes * 60_000)
        out += [f"e|{start}|{end}|room-{i % 4 + 1}|v{i}", f"s|{start}|room-{i % 4 + 1}|v{i}"]
        i += 1
    return out[:n]


async def fill(store: Store, site_id: str, waiting: int, entries: int, active: int) -> None:
    site = site_from_toml(site_toml(site_id))
    await store.save_site(site)
    now_ms = clock.ms(clock.now())
    for q in QUEUES:
        if entries:
            await store.redis.rpush(keys.service(site_id, q), *record(now_ms, entries))
        if entries:  # the history by hour of day: four rooms every hour of every day
            for hour in range(24):
                await store.redis.rpush(keys.durations(site_id, q, hour),
                                        *[str(8 * 60 + i % 7 * 30) for i in range(60)])
            await store.redis.hset(keys.staffing(site_id, q), mapping={
                f"{hour:02d}|room-{r}": "2026-12-01,2026-11-30"
                for hour in range(24) for r in range(1, 5)})
        for _ in range(waiting):
            await store.check_in(site, q, actor="bench")
    for i in range(active):  # called to the desk and left there, spread over the queues
        visit, _ = await store.check_in(site, QUEUES[i % 3], actor="bench")
        await store.move(site, visit["id"], "call", actor="bench")


async def measure(url: str, runs: int, waiting: int, churn: bool,
                  entries: int, active: int) -> list[float]:
    settings = Settings.from_env({**os.environ, "REDIS_URL": url})
    client = await redis_client.connect(url, blocking=False)
    store = Store(client, settings)
    site_id = "redraw-" + secrets.token_hex(4)
    try:
        await fill(store, site_id, waiting, entries, active)
        site = await store.get_site(site_id)
        assert site is not None
        times = []
        for i in range(runs + 20):
            if churn:
                now_ms = clock.ms(clock.now())
                await client.lpush(keys.service(site_id, QUEUES[i % 3]),
                                   f"e|{now_ms - 540_000}|{now_ms}|room-1|c{i}")
            began = time.perf_counter()
            lobby.fragments(await store.snapshot(site, limit=30))
            times.append((time.perf_counter() - began) * 1000)
        return times[20:]  # the first ones warm the caches and the script cache
    finally:
        async for key in client.scan_iter(match=f"lq:{{{site_id}}}:*", count=500):
            await client.delete(key)
        await client.srem(keys.sites(), site_id)
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.redraw",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL")
                   or "redis://127.0.0.1:6379/14")
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--waiting", type=int, default=12, help="patients waiting per queue")
    p.add_argument("--entries", type=int, default=estimates.RECORD_ENTRIES,
                   help="entries in each queue's record (0: a site that has served nobody)")
    p.add_argument("--active", type=int, default=0,
                   help="patients called and not yet done (the active set every redraw lists)")
    p.add_argument("--churn", action="store_true",
                   help="a service ends before every redraw (the record always changed)")
    args = p.parse_args(argv)
    times = asyncio.run(measure(args.redis_url, args.runs, args.waiting, args.churn,
                                args.entries, args.active))
    p90 = statistics.quantiles(times, n=10)[-1]
    print(f"snapshot + lobby render, {args.runs} redraws: median "
          f"{statistics.median(times):.2f} ms, p90 {p90:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
