"""Affinity by site, measured: two server processes, many sites with a few lobby screens
each, check-ins to random sites; the servers' CPU and Redis's commands per check-in when
each site's screens are spread over both processes against all on one (what nginx's
`hash $site` does).

    python -m bench.affinity [--sites 100] [--screens 3] [--rate 10] [--seconds 20]

Starts its own Redis (so that its command count is the servers' alone), its two servers
on free ports, and its sites; each mode on a fresh Redis and fresh servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from app.access.auth import create_token
from app.config import Settings
from app.sites import site_from_dict
from app.storage import redis_client
from app.storage.redis_server import EmbeddedRedis, free_port
from app.storage.store import Store

ROOT = Path(__file__).resolve().parent.parent
SITE = {"name": "Bench", "timezone": "UTC",
        "queues": [{"id": "reg", "name": "Registration", "prefix": "A"}],
        "rooms": [{"id": "room-1", "name": "Room 1"}]}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(mode: str, args: argparse.Namespace, settings: Settings) -> dict[str, float]:
    ports = [free_port(), free_port()]
    env = {**os.environ, "ACCESS_LOG": "false", "PYTHONUNBUFFERED": "1"}
    servers = [subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(p)],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for p in ports]
    redis = await redis_client.connect(settings.redis_url)
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
            for port in ports:
                for _ in range(100):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code:
                            break
                    await asyncio.sleep(0.1)
            store = Store(redis, settings)
            sites = [f"bench-aff-{n}" for n in range(args.sites)]
            tokens = {}
            for s in sites:
                await store.save_site(site_from_dict({"id": s, **SITE}))
                tokens[s] = (await create_token(redis, s, "display"),
                             await create_token(redis, s, "desk"))
            frames = 0

            async def screen(site: str, port: int) -> None:
                nonlocal frames
                async with connect(f"ws://127.0.0.1:{port}/ws/sites/{site}/lobby",
                                   additional_headers={"Authorization":
                                                       f"Bearer {tokens[site][0]}"},
                                   max_size=None) as ws:
                    async for _ in ws:
                        frames += 1

            readers = []
            for n, s in enumerate(sites):
                for i in range(args.screens):
                    port = ports[n % 2] if mode == "affinity" else ports[i % 2]
                    readers.append(asyncio.create_task(screen(s, port)))
                    await asyncio.sleep(0.002)
            await asyncio.sleep(3)
            cpu0 = [cpu_seconds(p.pid) for p in servers]
            cmds0 = int((await redis.info("stats"))["total_commands_processed"])
            frames0, start, sent = frames, time.monotonic(), 0
            while time.monotonic() - start < args.seconds:
                s = random.choice(sites)
                port = ports[sent % 2]
                await http.post(f"http://127.0.0.1:{port}/api/v1/sites/{s}/visits",
                                json={"queue": "reg"},
                                headers={"Authorization": f"Bearer {tokens[s][1]}"})
                sent += 1
                await asyncio.sleep(random.expovariate(args.rate))
            await asyncio.sleep(1)
            elapsed = time.monotonic() - start
            each = [cpu_seconds(p.pid) - c for p, c in zip(servers, cpu0, strict=True)]
            cpu = sum(each)
            cmds = int((await redis.info("stats"))["total_commands_processed"]) - cmds0
            for task in readers:
                task.cancel()
            return {"check-ins": sent, "server CPU %": 100 * cpu / elapsed,
                    "busiest process CPU %": 100 * max(each) / elapsed,
                    "server CPU ms per check-in": 1000 * cpu / sent,
                    "Redis commands per check-in": cmds / sent,
                    "frames per check-in": (frames - frames0) / sent}
    finally:
        for p in servers:
            p.terminate()
            p.wait()
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.affinity")
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--screens", type=int, default=3)
    parser.add_argument("--rate", type=float, default=10.0, help="check-ins per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    for mode in ("spread", "affinity"):
        with tempfile.TemporaryDirectory(prefix="bench-affinity-") as tmp:
            server = EmbeddedRedis(Path(tmp))
            url = server.start()
            os.environ.update(REDIS_URL=url, VAR_DIR=tmp)
            try:
                result = asyncio.run(run(mode, args, Settings.from_env()))
            finally:
                server.stop()
        print(mode, {k: round(v, 2) for k, v in result.items()}, flush=True)


if __name__ == "__main__":
    main()
