"""The lobby display over a long day: Chromium's JS heap before and after N pushed events.

    python -m bench.lobby_heap --url http://127.0.0.1:8000 --site demo --events 5000

Pairs a headless Chromium as the site's lobby display (a code from `python -m app device
code`), waits until it is live, collects garbage and reads the page's heap and DOM
counters (Chrome DevTools Protocol), then drives `--events` events through the API as a
day's desk does (check-in, call-next to a room, done; a broadcast message now and then),
lets the screen settle, collects garbage and reads again (and every `--every` events on
the way, to tell a plateau from growth). The page keeps running its own
announcements (chime and speech, with autoplay allowed as on a lobby TV) the whole time.
Afterwards the visits it made are done and its message cleared.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.common import (
    BenchError,
    add_client_arguments,
    machine,
    new_parser,
    run_main,
    summary_ms,
    token_option,
)

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--autoplay-policy=no-user-gesture-required"]
EVENTS_PER_VISIT = 3  # checked in, called, done


def pairing_code(site: str) -> str:
    cmd = [sys.executable, "-m", "app", "device", "code", "--site", site, "--role", "display",
           "--name", "heap benchmark"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise BenchError(f"`python -m app device code` failed: {proc.stderr.strip()[-300:]}")
    return proc.stdout.split()[0]


async def heap(cdp: Any) -> dict[str, int]:
    """Used JS heap and DOM counters after a full garbage collection."""
    await cdp.send("HeapProfiler.collectGarbage")
    await asyncio.sleep(0.5)
    await cdp.send("HeapProfiler.collectGarbage")
    usage = await cdp.send("Runtime.getHeapUsage")
    dom = await cdp.send("Memory.getDOMCounters")
    return {"used_bytes": int(usage["usedSize"]), "total_bytes": int(usage["totalSize"]),
            "nodes": int(dom["nodes"]), "listeners": int(dom["jsEventListeners"])}


# Remembers when the hero last changed to which ticket: one value, so it adds nothing that
# grows to the heap being measured.
HERO_WATCH = """
document.addEventListener("DOMContentLoaded", function () {
  new MutationObserver(function () {
    var el = document.querySelector(".hero-call:not([hidden]) .ticket");
    var ticket = el ? el.textContent : "";
    if (!window.__hero || window.__hero.ticket !== ticket) {
      window.__hero = { ticket: ticket, at: Date.now() };
    }
  }).observe(document.body, { childList: true, subtree: true, attributes: true });
});
"""


async def shown_after(page: Any, ticket: str, sent_ms: float, timeout: float = 10.0) -> float:
    """Seconds from `sent_ms` (epoch ms) until the page's hero showed `ticket`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hero = await page.evaluate("window.__hero || null")
        if hero and hero["ticket"] == ticket:
            return (hero["at"] - sent_ms) / 1000
        await asyncio.sleep(0.01)
    raise BenchError(f"the screen did not show {ticket} within {timeout:g} s.")


async def drive(client: httpx.AsyncClient, args: argparse.Namespace, page: Any,
                checkpoint: Callable[[int], Awaitable[None]]) -> dict[str, Any]:
    """Check in, call and finish visits until `args.events` events are written; the
    last one called stays called, for the screen to show."""
    rooms = args.rooms.split(",")
    held = [r["id"] for r in (await client.get("/snapshot")).json()["rooms"]
            if r["id"] in rooms and r["status"] != "available"]
    if held:
        raise BenchError(f"room(s) {', '.join(held)} are not available; free them or pass "
                         "--rooms naming free ones.")
    visits = args.events // EVENTS_PER_VISIT
    started = time.perf_counter()
    last_ticket = prev = ""
    latencies: list[float] = []
    for i in range(visits):
        r = await client.post("/visits", json={"queue": args.queue,
                                               "language": "es" if i % 4 == 0 else ""})
        if r.status_code != 201:
            raise BenchError(f"check-in answered {r.status_code}: {r.text[:200]}")
        sent_ms = time.time() * 1000
        r = await client.post(f"/queues/{args.queue}/call-next",
                              json={"room": rooms[i % len(rooms)]})
        if r.status_code != 200:
            raise BenchError(f"call-next answered {r.status_code}: {r.text[:200]}")
        called = r.json()
        if args.latency_every and i % args.latency_every == 0:
            latencies.append(await shown_after(page, called["ticket"], sent_ms))
        last_ticket = called["ticket"]
        if i % 200 == 0:
            await client.post("/message", json={"text": f"Update {i}: thank you for waiting",
                                                "minutes": 5})
        # Leave the newest call on screen; finish the one before it.
        if prev:
            await client.post(f"/visits/{prev}/done")
        prev = called["id"]
        done = (i + 1) * EVENTS_PER_VISIT
        if args.every and done // args.every > i * EVENTS_PER_VISIT // args.every \
                and i + 1 < visits:
            await checkpoint(done)
        if args.pace:
            await asyncio.sleep(args.pace)
    return {"visits": visits, "events": visits * EVENTS_PER_VISIT,
            "seconds": round(time.perf_counter() - started, 1), "last_ticket": last_ticket,
            "last_id": prev, "call_to_screen_ms": summary_ms(latencies)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    token = token_option(args.desk_token, "BENCH_DESK_TOKEN", args.site, "desk",
                         args.tokens_from_cli)
    code = pairing_code(args.site)
    async with async_playwright() as p, httpx.AsyncClient(
            base_url=f"{args.url}/api/v1/sites/{args.site}", timeout=30, trust_env=False,
            headers={"Authorization": f"Bearer {token}"}) as client:
        browser = await p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1920, "height": 1080})
            await context.add_init_script(HERO_WATCH)
            page = await context.new_page()
            await page.goto(f"{args.url}/pair")
            await page.get_by_label("Pairing code").fill(code)
            await page.get_by_role("button", name="Pair").click()
            await page.wait_for_url(f"**/sites/{args.site}/lobby")
            await page.wait_for_function(
                "document.getElementById('link-status').dataset.state === 'live'")
            await asyncio.sleep(args.settle)
            cdp = await page.context.new_cdp_session(page)
            before = await heap(cdp)
            series = [{"events": 0, **before}]

            async def checkpoint(events: int) -> None:
                await asyncio.sleep(args.settle)
                series.append({"events": events, **await heap(cdp)})

            drove = await drive(client, args, page, checkpoint)
            await asyncio.sleep(args.settle)
            after = await heap(cdp)
            series.append({"events": drove["events"], **after})
            shown = await page.locator(".hero-call:not([hidden]) .ticket").all_inner_texts()
            audio = await page.evaluate("window.lobbyline.audioLog.length")
        finally:
            await browser.close()
        if drove["last_id"]:
            await client.post(f"/visits/{drove['last_id']}/done")
        await client.delete("/message")
    return {
        "benchmark": "lobby_heap", "machine": machine(), "url": args.url, "site": args.site,
        "drove": {k: v for k, v in drove.items() if k != "last_id"},
        "before": before, "after": after,
        "growth_bytes": after["used_bytes"] - before["used_bytes"],
        "series": series,
        "screen_shows_last_call": drove["last_ticket"] in shown,
        "audio_log_entries": audio, "latency_every": args.latency_every,
    }


def fmt_ms(s: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in s.items())


def report(r: dict[str, Any]) -> str:
    b, a, d = r["before"], r["after"], r["drove"]
    return (f"lobby heap: {d['events']} events ({d['visits']} visits) in {d['seconds']} s on "
            f"site {r['site']}\n"
            f"  JS heap used {b['used_bytes'] / 1e6:.2f} MB -> {a['used_bytes'] / 1e6:.2f} MB "
            f"({r['growth_bytes'] / 1e3:+.0f} kB)\n"
            f"  DOM nodes {b['nodes']} -> {a['nodes']}, listeners {b['listeners']} -> "
            f"{a['listeners']}\n"
            "  along the way (events: heap used MB / DOM nodes): "
            + ", ".join(f"{x['events']}: {x['used_bytes'] / 1e6:.2f} / {x['nodes']}"
                        for x in r["series"]) + "\n"
            f"  call-next sent -> hero shows the ticket, ms (every "
            f"{r['latency_every']}th call): {fmt_ms(d['call_to_screen_ms'])}\n"
            f"  the screen shows the last call: {r['screen_shows_last_call']}; "
            f"audio log {r['audio_log_entries']} entries (capped)")


def parser() -> argparse.ArgumentParser:
    p = new_parser("python -m bench.lobby_heap", __doc__, "demo")
    p.add_argument("--queue", default="registration")
    p.add_argument("--rooms", default="room-1,room-2,room-3", help="rooms the calls name")
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--every", type=int, default=1000,
                   help="also read the heap after every this many events (0: only at the end)")
    p.add_argument("--latency-every", type=int, default=50,
                   help="time every this many calls from the API to the screen (0: none)")
    p.add_argument("--pace", type=float, default=0.0, help="seconds between visits")
    p.add_argument("--settle", type=float, default=5.0, help="seconds before each reading")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    add_client_arguments(p, ("desk",))
    return p


def check(args: argparse.Namespace) -> None:
    if not EVENTS_PER_VISIT <= args.events <= 1_000_000:
        raise BenchError("--events must be from 3 to 1000000.")


def main(argv: list[str] | None = None) -> int:
    return run_main("lobby_heap", parser(), check, run, report, argv)


if __name__ == "__main__":
    raise SystemExit(main())
