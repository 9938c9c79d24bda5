"""`python -m bench.simulate`: a simulated clinic day, run through the real server, that
measures how often the wait shown to a patient held.

It starts a server (`python -m app serve`) whose clock starts at the day's opening and
runs `--speed` times faster than real time (`CLOCK_START`, `CLOCK_SPEED`), creates a site,
and plays a day of patients and staff against the HTTP API: the day's appointments are
imported as a CSV schedule, and those who come (some never do) check in at the kiosk with
their confirmation code, as a patient would; walk-ins (a queue at the door at opening and
a burst after lunch) are checked in by the desk. Everybody starts at Registration; two
desks register them and transfer them to the Provider queue, where providers (three, four
from mid-morning, two over lunch) see them for lognormal times, longer in the morning;
some patients walk out of a long wait, some are called and never come. Every time a
patient joins a queue, the range the server answered (`eta_minutes`) is noted, with the
classic estimate (position * average service time / servers, from what the simulation
itself knows) as a point and as a range of -25 %/+25 % (+1 minute); when the patient is
called, their real wait is compared with both.

The scenario and the last figures are in docs/estimates.md. `--minutes` shortens the day
(the test suite runs a few simulated minutes to prove it works); `--days N` plays N days
in a row on the same site (seeds N, N+1, ...), so the estimates of the later days learn
from the earlier days' service times by hour of day.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import math
import os
import random
import re
import secrets
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from app.access.codes import ALPHABET
from app.storage import keys
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
    # Provider visits, lognormal with sigma 0.5: the median from each minute of the day on
    # (longer visits booked first thing, shorter ones after lunch): means 18.1, 15.9, 13.6.
    provider_minutes: tuple[tuple[float, float], ...] = ((0, 16.0), (2 * 60, 14.0),
                                                         (5 * 60, 12.0))
    provider_sigma: float = 0.5
    desks: tuple[tuple[str, float, float], ...] = (("desk-1", 0, 9 * 60),
                                                   ("desk-2", 0, 9 * 60))
    # Providers' rooms and shifts: four from mid-morning, two over lunch.
    providers: tuple[tuple[str, float, float], ...] = (
        ("room-1", 0, 4 * 60), ("room-1", 5 * 60, 9 * 60),
        ("room-2", 0, 9 * 60),
        ("room-3", 0, 4 * 60), ("room-3", 5 * 60, 9 * 60),
        ("room-4", 2 * 60, 9 * 60),
    )


    def provider_median(self, minute: float) -> float:
        return [m for start, m in self.provider_minutes if start <= minute][-1]


@dataclass
class Patient:
    n: int
    arrive: float
    walk_in: bool
    priority: int
    patience: float
    no_show_when_called: bool
    slot: float = 0.0  # an appointment's start, minutes after opening
    code: str = ""  # an appointment's confirmation code
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


def plan(s: Scenario, rng: random.Random) -> tuple[list[Patient], list[Patient]]:
    """The day's booked appointments (those who never come included), and its arrivals in
    order. An appointment's patient comes 15 minutes early to 10 minutes late."""
    last = s.minutes - 30
    booked: list[Patient] = []
    slot = 0.0
    while slot < last:
        for _ in range(s.appointment_providers):
            code = "".join(rng.choice(ALPHABET) for _ in range(6))
            comes = rng.random() >= s.appointment_no_show
            booked.append(Patient(
                len(booked), max(0.0, slot + rng.uniform(-15, 10)) if comes else -1.0, False,
                0, 30 + rng.expovariate(1 / (s.walk_out_mean * 2)),
                rng.random() < s.called_no_show, slot=slot, code=code))
        slot += s.appointment_every
    walk_ins = [rng.uniform(0, 2) for _ in range(s.opening_queue)]
    t = 0.0
    while True:
        rate = s.walk_in_per_hour + (s.burst[2] if s.burst[0] <= t < s.burst[1] else 0)
        t += rng.expovariate(rate / 60)
        if t >= last:
            break
        walk_ins.append(t)
    arrivals = [p for p in booked if p.arrive >= 0] + [
        Patient(len(booked) + i, at, True, 2 if rng.random() < s.urgent else 0,
                30 + rng.expovariate(1 / s.walk_out_mean), rng.random() < s.called_no_show)
        for i, at in enumerate(walk_ins)]
    arrivals.sort(key=lambda p: p.arrive)
    return booked, arrivals


def schedule_csv(booked: list[Patient], opening: datetime, rng: random.Random) -> str:
    """The day's appointments as the clinic's scheduling system would export them."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "start", "queue", "provider", "first_name", "last_name",
                     "birth_date", "code"])
    for p in booked:
        start = opening + timedelta(minutes=p.slot)
        writer.writerow([f"sim-{opening.date()}-{p.n}", start.isoformat(timespec="minutes"),
                         REGISTRATION, f"Dr. {'ABC'[p.n % 3]}", f"Patient{p.n}", f"Sim{p.n}",
                         f"{rng.randint(1940, 2020)}-{rng.randint(1, 12):02d}-"
                         f"{rng.randint(1, 28):02d}", p.code])
    return out.getvalue()


TICKET = re.compile(r'class="kticket-number"[^>]*>\s*([A-Z]+\d+)\s*<')


class Day:
    """The simulation's clock (the server's, seen from outside) and its API calls."""

    def __init__(self, client: httpx.AsyncClient, site: str, speed: float,
                 s: Scenario, rng: random.Random, kiosk_token: str = "",
                 date: str = "") -> None:
        self.client, self.site, self.speed, self.s, self.rng = client, site, speed, s, rng
        self.kiosk_token, self.date = kiosk_token, date
        self.t0 = time.monotonic()
        self.shown: list[Shown] = []
        self.open_shown: dict[tuple[str, str], Shown] = {}
        self.patients: dict[str, Patient] = {}
        self.services: dict[str, list[float]] = {REGISTRATION: [], PROVIDER: []}
        self.counts = {"left": 0, "no_show": 0, "done": 0, "errors": 0, "kiosk": 0}
        self.registration_closed = False
        self.arrivals = 0
        self.appointments: dict[str, int] = {}  # the day's appointments by final status
        self.failures: list[str] = []

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

    async def kiosk(self, code: str) -> dict[str, Any]:
        """Check in at the kiosk with an appointment's code, as a patient does (a new
        session, "I have an appointment", the code, Yes, Nothing has changed, I agree);
        answers the visit as the desk then reads it."""
        base = f"/sites/{self.site}/kiosk/step/"
        async with httpx.AsyncClient(base_url=str(self.client.base_url), timeout=30,
                                     headers={"Authorization":
                                              f"Bearer {self.kiosk_token}"}) as kiosk:
            html = ""
            for step, form in (("reset", {}), ("start", {"what": "appointment"}),
                               ("code", {"code": code}), ("confirm", {"answer": "yes"}),
                               ("changes", {"answer": "none"}),
                               ("consent", {"answer": "agree"})):
                r = await kiosk.post(base + step, data=form)
                r.raise_for_status()
                html = r.text
        found = TICKET.search(html)
        if found is None:
            raise RuntimeError(f"the kiosk gave no ticket for code {code}")
        self.counts["kiosk"] += 1
        r = await self.client.get(f"/api/v1/sites/{self.site}/appointments",
                                  params={"date": self.date})
        r.raise_for_status()
        visit_id = next(a["visit_id"] for a in r.json()["appointments"] if a["code"] == code)
        r = await self.client.get(f"/api/v1/sites/{self.site}/visits/{visit_id}")
        r.raise_for_status()
        visit = r.json()
        assert visit["ticket"] == found.group(1)
        return visit

    async def patient(self, p: Patient) -> None:
        await self.until(p.arrive)
        if p.walk_in:
            r = await self.post("/visits", {"queue": REGISTRATION, "priority": p.priority})
            r.raise_for_status()
            visit = r.json()
        else:
            visit = await self.kiosk(p.code)
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
            median, sigma = (self.s.registration_minutes if queue == REGISTRATION else
                             (self.s.provider_median(self.now()), self.s.provider_sigma))
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


def report(*days: Day) -> dict[str, Any]:
    """The measurements of one day, or of several together."""
    out: dict[str, Any] = {"arrivals": sum(d.arrivals for d in days)}
    for name in days[0].counts:
        out[name] = sum(d.counts[name] for d in days)
    out["appointments"] = {k: sum(d.appointments.get(k, 0) for d in days)
                           for k in sorted({k for d in days for k in d.appointments})}
    out["failures"] = [f for d in days for f in d.failures][:5]
    shown = [x for d in days for x in d.shown]
    for name, subset in (("all", shown),
                         *((q, [x for x in shown if x.queue == q])
                           for q in (REGISTRATION, PROVIDER))):
        waits = sorted(x.waited for x in subset if x.waited is not None)
        out[name] = {
            "new": accuracy(subset, "new"), "classic": accuracy(subset, "classic"),
            "median_wait": round(waits[len(waits) // 2], 1) if waits else None,
            "longest_wait": round(waits[-1], 1) if waits else None,
        }
    # Where the provider's errors come from: the new estimate by the hour one joined.
    out[PROVIDER]["by_hour"] = {
        f"{(OPEN + h * 60) // 60}:00": accuracy(
            [x for x in shown if x.queue == PROVIDER and h * 60 <= x.at < h * 60 + 60], "new")
        for h in range(math.ceil(max((x.at for x in shown), default=0) / 60))}
    return out


async def play(url: str, site: str, tokens: dict[str, str], speed: float, s: Scenario,
               seed: int = 1, day_opens: datetime | None = None) -> Day:
    """Play the day `s` against the server at `url` (whose clock runs `speed` times
    faster, from `day_opens`, the day's opening) on `site`, with a desk and a kiosk
    token (`tokens`); answers the Day, its measurements and counts."""
    rng = random.Random(seed)
    day_opens = day_opens or opening()
    booked, people = plan(s, rng)
    headers = {"Authorization": f"Bearer {tokens['desk']}"}
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30,
                                 limits=limits) as client:
        day = Day(client, site, speed, s, rng, tokens["kiosk"], day_opens.date().isoformat())
        if booked:
            r = await client.post(f"/api/v1/sites/{site}/appointments",
                                  content=schedule_csv(booked, day_opens, rng),
                                  headers={"Content-Type": "text/csv"})
            r.raise_for_status()
            if r.json()["imported"] != len(booked):
                raise RuntimeError(f"the schedule's import answered {r.text}")
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
        for outcome in await asyncio.gather(*patients, return_exceptions=True):
            if isinstance(outcome, Exception):  # a check-in that failed: counted, shown
                day.counts["errors"] += 1
                day.failures.append(repr(outcome))
        r = await client.get(f"/api/v1/sites/{site}/appointments", params={"date": day.date})
        r.raise_for_status()
        statuses = [a["status"] for a in r.json()["appointments"]]
        day.appointments = {status: statuses.count(status) for status in sorted(set(statuses))}
        day.arrivals = len(people)
    return day


async def run(url: str, site: str, tokens: dict[str, str], speed: float, s: Scenario,
              seed: int = 1, day_opens: datetime | None = None) -> dict[str, Any]:
    """`play`, answering the day's report."""
    return report(await play(url, site, tokens, speed, s, seed, day_opens))


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
    p.add_argument("--days", type=int, default=1,
                   help="days in a row on one site, the seed counting up (default: 1)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--dump", type=Path,
                   help="write every measured wait to this file, a JSON object a line")
    args = p.parse_args(argv)

    site = "sim-" + secrets.token_hex(4)
    env = {**os.environ, "REDIS_URL": args.redis_url, "ACCESS_LOG": "false",
           "VAR_DIR": str(ROOT / "var" / "simulate")}
    toml = ROOT / "var" / "simulate" / f"{site}.toml"
    toml.parent.mkdir(parents=True, exist_ok=True)
    toml.write_text(site_toml(site))
    _cli(["site", "load", str(toml)], env)
    tokens = {role: _cli(["token", "--site", site, "--role", role], env).split()[-1]
              for role in ("desk", "kiosk")}
    days: list[Day] = []
    try:
        for n in range(args.days):
            start = opening() + timedelta(days=n)
            days.append(_play_day(env | {"CLOCK_START": start.isoformat(),
                                         "CLOCK_SPEED": str(args.speed)},
                                  site, tokens, args.speed, Scenario(minutes=args.minutes),
                                  args.seed + n, start))
            if not args.json and args.days > 1:
                print(f"day {n + 1}, seed {args.seed + n}:\n{format_report(report(days[-1]))}",
                      flush=True)
    finally:
        _forget(args.redis_url, site)
    if args.dump:
        with args.dump.open("w") as out:
            for n, d in enumerate(days):
                for x in d.shown:
                    out.write(json.dumps({"day": n + 1, **asdict(x)}) + "\n")
    result = report(*days)
    result["scenario"] = {"speed": args.speed, "minutes": args.minutes, "seed": args.seed,
                          "days": args.days}
    if args.days > 1:
        result["per_day"] = [report(d) for d in days]
    if args.json:
        print(json.dumps(result))
    else:
        print(("all days:\n" if args.days > 1 else "") + format_report(result))
    return 0


def _play_day(env: dict[str, str], site: str, tokens: dict[str, str], speed: float,
              scenario: Scenario, seed: int, start: datetime) -> Day:
    """One day on its own server process, whose clock opens the day."""
    port = free_port()
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
        return asyncio.run(play(url, site, tokens, speed, scenario, seed, start))
    finally:
        server.terminate()
        server.wait(timeout=30)


def _forget(redis_url: str, site: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"lq:{{{site}}}:*", count=500):
        client.delete(key)
    client.srem(keys.sites(), site)
    client.close()


def format_report(r: dict[str, Any]) -> str:
    lines = [f"{r['arrivals']} arrivals ({r['kiosk']} at the kiosk with an appointment's "
             f"code), {r['done']} seen, {r['left']} left without being seen, {r['no_show']} "
             f"no-shows when called, {r['errors']} retried requests; appointments at the "
             f"end: {r['appointments']}",
             *(f"  failure: {f}" for f in r["failures"])]
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
    lines.append("  provider, new, by the hour patients joined: " + ", ".join(
        f"{hour} {a['patients']} waits MAE {a['mae_minutes']} (bias {a['bias_minutes']})"
        for hour, a in r[PROVIDER]["by_hour"].items() if a["patients"]))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
