"""`python -m bench.simulate`: a simulated clinic day, run through the real server, that
measures how often the wait shown to a patient held.

It starts a server (`python -m app serve`) whose clock starts at the day's opening and
runs `--speed` times faster than real time (`CLOCK_START`, `CLOCK_SPEED`), creates a site,
and plays a day of patients and staff against the HTTP API: appointments (some never come)
and walk-ins (a queue at the door at opening and a burst after lunch) check in at
Registration; two desks register them and transfer them to the Provider queue, where
providers (three, four from mid-morning, two over lunch) see them for lognormal times;
some patients walk out of a long wait, some are called and never come. Every time a
patient joins a queue, the range the server answered (`eta_minutes`) is noted, with the
classic estimate (position * average service time / servers, from what the simulation
itself knows) as a point and as a range of -25 %/+25 % (+1 minute); when the patient is
called, their real wait is compared with both.

The scenario and the last figures are in docs/estimates.md. `--minutes` shortens the day
(the test suite runs a few simulated minutes to prove it works).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from app.storage.redis_server import free_port
from app.visits.estimates import classic

ROOT = Path(__file__).resolve().parent.parent
TZ = "America/Chicago"
OPEN = 8 * 60  # minutes after local midnight: the day starts at 8:00
REGISTRATION, PROVIDER = "registration", "provider"
DEFAULT_MINUTES = {REGISTRATION: 4.0, PROVIDER: 15.0}


def site_toml(site_id: str) -> str:
    rooms = "".join(f'\n[[rooms]]\nid = "desk-{i}"\nname = "Desk {i}"\nkind = "desk"\n'
                    for i in (1, 2))
    rooms += "".join(f'\n[[rooms]]\nid = "room-{i}"\nname = "Room {i}"\n' for i in range(1, 5))
    return f'''id = "{site_id}"
name = "Simulated Clinic"
timezone = "{TZ}"
clean_after_use = false
day_close = "23:30"

[[queues]]
id = "{REGISTRATION}"
name = "Registration"
prefix = "A"
minutes_per_patient = {DEFAULT_MINUTES[REGISTRATION]:g}

[[queues]]
id = "{PROVIDER}"
name = "Provider"
prefix = "P"
minutes_per_patient = {DEFAULT_MINUTES[PROVIDER]:g}
{rooms}'''


@dataclass(frozen=True)
class Scenario:
    """A clinic day, in minutes after opening."""

    minutes: float = 9 * 60  # arrivals stop half an hour before; the rest is cleared
    appointment_every: float = 20.0  # a slot per provider every this many minutes
    appointment_providers: int = 3
    appointment_no_show: float = 0.08
    walk_in_per_hour: float = 5.0
    opening_queue: int = 8  # walk-ins at the door when it opens
    burst: tuple[float, float, float] = (5 * 60, 5 * 60 + 30, 12.0)  # from, to, per hour
    urgent: float = 0.03
    # Patience: nobody walks out in the first half hour, then exponential with this mean
    # (twice as long with an appointment).
    walk_out_mean: float = 150.0
    called_no_show: float = 0.03
    registration_minutes: tuple[float, float] = (3.0, 0.45)  # lognormal median, sigma
    provider_minutes: tuple[float, float] = (14.0, 0.5)  # mean 15.9
    desks: tuple[tuple[str, float, float], ...] = (("desk-1", 0, 9 * 60),
                                                   ("desk-2", 0, 9 * 60))
    # Providers' rooms and shifts: four from mid-morning, two over lunch.
    providers: tuple[tuple[str, float, float], ...] = (
        ("room-1", 0, 4 * 60), ("room-1", 5 * 60, 9 * 60),
        ("room-2", 0, 9 * 60),
        ("room-3", 0, 4 * 60), ("room-3", 5 * 60, 9 * 60),
        ("room-4", 2 * 60, 9 * 60),
    )


@dataclass
class Patient:
    n: int
    arrive: float
    walk_in: bool
    priority: int
    patience: float
    no_show_when_called: bool
    visit_id: str = ""
    called: asyncio.Event = field(default_factory=asyncio.Event)
    in_service: bool = False


@dataclass
class Shown:
    """One patient joining one queue: what they were told, and what happened."""

    queue: str
    at: float
    position: int
    low: int
    high: int
    classic: float
    waited: float | None = None


def plan(s: Scenario, rng: random.Random) -> list[Patient]:
    """The day's arrivals, in order."""
    last = s.minutes - 30
    arrivals: list[tuple[float, bool]] = []
    slot = 0.0
    while slot < last:
        for _ in range(s.appointment_providers):
            if rng.random() >= s.appointment_no_show:
                arrivals.append((max(0.0, slot + rng.uniform(-15, 10)), False))
        slot += s.appointment_every
    arrivals += [(rng.uniform(0, 2), True) for _ in range(s.opening_queue)]
    t = 0.0
    while True:
        rate = s.walk_in_per_hour + (s.burst[2] if s.burst[0] <= t < s.burst[1] else 0)
        t += rng.expovariate(rate / 60)
        if t >= last:
            break
        arrivals.append((t, True))
    arrivals.sort()
    return [
        Patient(i, at, walk_in, 2 if rng.random() < s.urgent else 0,
                30 + rng.expovariate(1 / (s.walk_out_mean * (1 if walk_in else 2))),
                rng.random() < s.called_no_show)
        for i, (at, walk_in) in enumerate(arrivals)
    ]


class Day:
    """The simulation's clock (the server's, seen from outside) and its API calls."""

    def __init__(self, client: httpx.AsyncClient, site: str, speed: float,
                 s: Scenario, rng: random.Random) -> None:
        self.client, self.site, self.speed, self.s, self.rng = client, site, speed, s, rng
        self.t0 = time.monotonic()
        self.shown: list[Shown] = []
        self.open_shown: dict[tuple[str, str], Shown] = {}
        self.patients: dict[str, Patient] = {}
        self.services: dict[str, list[float]] = {REGISTRATION: [], PROVIDER: []}
        self.counts = {"left": 0, "no_show": 0, "done": 0, "errors": 0}
        self.registration_closed = False

    def now(self) -> float:
        return (time.monotonic() - self.t0) * self.speed / 60

    async def until(self, minute: float) -> None:
        await asyncio.sleep(max(0.0, (minute - self.now()) * 60 / self.speed))

    async def pause(self, minutes: float) -> None:
        await self.until(self.now() + minutes)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        for attempt in range(5):
            try:
                r = await self.client.post(f"/api/v1/sites/{self.site}{path}", json=body or {})
            except httpx.TransportError:
                self.counts["errors"] += 1
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            if r.status_code < 500:
                return r
            self.counts["errors"] += 1
            await asyncio.sleep(0.2 * (attempt + 1))
        raise RuntimeError(f"POST {path} kept failing")

    def servers(self, queue: str) -> int:
        shifts = self.s.desks if queue == REGISTRATION else self.s.providers
        t = self.now()
        return sum(1 for _, start, end in shifts if start <= t < end)

    def joined(self, visit: dict[str, Any]) -> None:
        """Note what the patient who just joined a queue was told."""
        queue, eta = visit["queue"], visit.get("eta_minutes")
        if not eta:
            return
        known = self.services[queue]
        average = sum(known) / len(known) if len(known) >= 5 else DEFAULT_MINUTES[queue]
        point = classic(visit["position"], average, self.servers(queue))
        shown = Shown(queue, self.now(), visit["position"], eta["low"], eta["high"], point)
        self.open_shown[(visit["id"], queue)] = shown
        self.shown.append(shown)

    async def patient(self, p: Patient) -> None:
        await self.until(p.arrive)
        r = await self.post("/visits", {"queue": REGISTRATION, "priority": p.priority})
        r.raise_for_status()
        visit = r.json()
        p.visit_id = visit["id"]
        self.patients[p.visit_id] = p
        self.joined(visit)
        deadline = p.arrive + p.patience
        while not p.called.is_set():
            try:
                await asyncio.wait_for(p.called.wait(),
                                       max(deadline - self.now(), 0.5) * 60 / self.speed)
            except TimeoutError:
                if p.in_service:  # nobody walks out of the registration desk
                    continue
                if (await self.post(f"/visits/{p.visit_id}/left")).status_code == 200:
                    self.counts["left"] += 1
                    return

    def called(self, visit: dict[str, Any], queue: str) -> Patient | None:
        shown = self.open_shown.pop((visit["id"], queue), None)
        if shown is not None:
            shown.waited = self.now() - shown.at
        p = self.patients.get(visit["id"])
        if p is not None:
            if queue == PROVIDER:
                p.called.set()
            else:
                p.in_service = True
        return p

    async def server(self, queue: str, room: str, start: float, end: float,
                     drain: bool) -> None:
        """One room or desk over one shift; with `drain`, it stays until its queue is
        empty (for Provider: once Registration has closed too)."""
        median, sigma = (self.s.registration_minutes if queue == REGISTRATION
                         else self.s.provider_minutes)
        await self.until(start)
        if start > 0:  # back from lunch, or in later: the room opens
            await self.post(f"/rooms/{room}", {"status": "available"})
        while drain or self.now() < end:
            r = await self.post(f"/queues/{queue}/call-next", {"room": room})
            if r.status_code == 204:
                if self.now() >= end and (queue == REGISTRATION or self.registration_closed):
                    break
                await self.pause(0.5)
                continue
            r.raise_for_status()
            visit = r.json()
            p = self.called(visit, queue)
            if p is not None and p.no_show_when_called and queue == PROVIDER:
                await self.pause(3)
                await self.post(f"/visits/{visit['id']}/no-show")
                self.counts["no_show"] += 1
                continue
            minutes = self.rng.lognormvariate(math.log(median), sigma)
            await self.pause(minutes)
            self.services[queue].append(minutes)
            if queue == REGISTRATION:
                r = await self.post(f"/visits/{visit['id']}/transfer", {"queue": PROVIDER})
                if p is not None:
                    p.in_service = False
                if r.status_code == 200:
                    self.joined(r.json())
            else:
                await self.post(f"/visits/{visit['id']}/done")
                self.counts["done"] += 1
        if not drain:  # off to lunch: the room closes
            await self.post(f"/rooms/{room}", {"status": "closed"})


def accuracy(shown: list[Shown], kind: str) -> dict[str, Any]:
    """Share of real waits inside the range, and the mean absolute error of its middle."""
    done = [x for x in shown if x.waited is not None]
    if not done:
        return {"patients": 0, "inside": None, "mae_minutes": None, "bias_minutes": None}
    inside = errors = bias = 0.0
    for x in done:
        assert x.waited is not None
        if kind == "new":
            low, high = x.low, x.high
        else:
            low, high = math.floor(x.classic * 0.75), math.ceil(x.classic * 1.25) + 1
        inside += low <= x.waited <= high
        errors += abs((low + high) / 2 - x.waited)
        bias += (low + high) / 2 - x.waited
    return {"patients": len(done), "inside": round(inside / len(done), 3),
            "mae_minutes": round(errors / len(done), 2),
            "bias_minutes": round(bias / len(done), 2)}


def report(day: Day, patients: int) -> dict[str, Any]:
    out: dict[str, Any] = {"arrivals": patients, **day.counts}
    for name, subset in (("all", day.shown),
                         *((q, [x for x in day.shown if x.queue == q])
                           for q in (REGISTRATION, PROVIDER))):
        waits = sorted(x.waited for x in subset if x.waited is not None)
        out[name] = {
            "new": accuracy(subset, "new"), "classic": accuracy(subset, "classic"),
            "median_wait": round(waits[len(waits) // 2], 1) if waits else None,
            "longest_wait": round(waits[-1], 1) if waits else None,
        }
    return out


async def run(url: str, site: str, token: str, speed: float, s: Scenario,
              seed: int = 1) -> dict[str, Any]:
    """Play the day `s` against the server at `url` (whose clock runs `speed` times
    faster, from the day's opening) on `site`; answers the report."""
    rng = random.Random(seed)
    people = plan(s, rng)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30,
                                 limits=limits) as client:
        day = Day(client, site, speed, s, rng)
        for room in {r for r, start, _ in (*s.desks, *s.providers)} - {
                r for r, start, _ in (*s.desks, *s.providers) if start == 0}:
            await day.post(f"/rooms/{room}", {"status": "closed"})  # opens later
        patients = [asyncio.create_task(day.patient(p)) for p in people]

        def shifts(queue: str, rooms: tuple[tuple[str, float, float], ...]) -> list[Any]:
            # Each room's last shift of the day runs to the end and clears the queue.
            last = {room: max(e for r, _, e in rooms if r == room) for room, _, _ in rooms}
            return [asyncio.create_task(day.server(queue, room, start, min(end, s.minutes),
                                                   end == last[room]))
                    for room, start, end in rooms if start < s.minutes]

        desks, providers = shifts(REGISTRATION, s.desks), shifts(PROVIDER, s.providers)
        await asyncio.gather(*desks)
        day.registration_closed = True
        await asyncio.gather(*providers)
        for task in patients:
            task.cancel()
        await asyncio.gather(*patients, return_exceptions=True)
    return report(day, len(people))


def opening() -> datetime:
    """When the simulated day opens: tomorrow at 8:00 at the clinic."""
    day = datetime.now(ZoneInfo(TZ)).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(TZ)) + timedelta(minutes=OPEN)


def _cli(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"python -m app {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.simulate",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL")
                   or "redis://127.0.0.1:6379/14",
                   help="the Redis the server uses (default: REDIS_URL, else db 14 of the "
                        "local one); the simulated site is deleted afterwards")
    p.add_argument("--speed", type=float, default=60.0,
                   help="times faster than real time (60: the day in 9 minutes)")
    p.add_argument("--minutes", type=float, default=Scenario.minutes,
                   help="length of the day after opening (default: 540, 8:00-17:00)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    site = "sim-" + secrets.token_hex(4)
    port = free_port()
    start = opening()
    env = {**os.environ, "REDIS_URL": args.redis_url, "ACCESS_LOG": "false",
           "CLOCK_START": start.isoformat(), "CLOCK_SPEED": str(args.speed),
           "VAR_DIR": str(ROOT / "var" / "simulate")}
    toml = ROOT / "var" / "simulate" / f"{site}.toml"
    toml.parent.mkdir(parents=True, exist_ok=True)
    toml.write_text(site_toml(site))
    _cli(["site", "load", str(toml)], env)
    token = _cli(["token", "--site", site, "--role", "desk"], env).split()[-1]
    server = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        scenario = Scenario(minutes=args.minutes)
        result = asyncio.run(run(url, site, token, args.speed, scenario, args.seed))
    finally:
        server.terminate()
        server.wait(timeout=30)
        _forget(args.redis_url, site)
    result["scenario"] = {"speed": args.speed, "minutes": args.minutes, "seed": args.seed}
    if args.json:
        print(json.dumps(result))
    else:
        print(format_report(result))
    return 0


def _forget(redis_url: str, site: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"lq:{{{site}}}:*", count=500):
        client.delete(key)
    client.close()


def format_report(r: dict[str, Any]) -> str:
    lines = [f"{r['arrivals']} arrivals, {r['done']} seen, {r['left']} left without being "
             f"seen, {r['no_show']} no-shows when called, {r['errors']} retried requests"]
    for name in ("all", REGISTRATION, PROVIDER):
        part = r[name]
        lines.append(f"{name}: median wait {part['median_wait']} min, longest "
                     f"{part['longest_wait']} min")
        for kind in ("new", "classic"):
            a = part[kind]
            inside = "-" if a["inside"] is None else f"{a['inside'] * 100:.1f} %"
            lines.append(f"  {kind:8} {a['patients']} waits, inside the range {inside}, "
                         f"MAE of the middle {a['mae_minutes']} min (bias "
                         f"{a['bias_minutes']})")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
