"""Fan-out latency: from an API call to the matching frame's last byte at every lobby socket.

    python -m bench.fanout --url http://127.0.0.1:8000 --site demo --sockets 1000 --calls 50

Opens N lobby WebSockets (`/ws/sites/{site}/lobby`, display token), then makes M API calls
spaced `--interval` apart so that each is its own push: check-ins, call-nexts, or both in
turn (the default; the check-ins are urgent so each call-next calls the benchmark's own
patient). For every (call, socket) pair it measures the time from just before the HTTP
request is written to the arrival of the last byte of the first frame that shows the change.

The listeners do the upgrade themselves and then only timestamp the bytes they receive
(`bench.clients.Listener`); frames are parsed after the run. A frame is matched to a call by
its content: a check-in's new ticket appearing anywhere, a call's ticket appearing inside the
`calling` fragment. A call whose ticket a frame cannot show (the lobby lists only the first
few tickets of a queue) is matched by order instead: the first unclaimed frame that arrived
after the call was sent, and before the frame of the next call matched by content; the report
counts those pairs. A frame that shows several calls is counted as coalesced; a socket that
never shows a call within `--timeout` counts as missed. Afterwards the benchmark's own visits
are finished (done or left) so the site is as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clients import HttpClient, HttpError, Listener, open_listeners, pick_queue
from bench.common import (
    BenchError,
    Target,
    add_client_arguments,
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
    token_option,
    watched_pids,
)
from bench.frames import fragment_texts

TARGET_P99_MS = 35

@dataclass
class Call:
    index: int
    kind: str               # "checkin" | "call"
    warmup: bool
    at: float = 0.0         # when to send it, in seconds from the first call
    sent: float = 0.0
    done: float = 0.0
    status: int = 0
    ticket: str | None = None
    visit_id: str | None = None
    error: str | None = None
    pattern: re.Pattern[str] | None = None

    @property
    def expects_frame(self) -> bool:
        return self.ticket is not None


@dataclass
class FrameView:
    text: str
    fragments: dict[str, str]


class Matcher:
    """Decides, once per distinct frame payload, which calls a frame shows."""

    def __init__(self, calling_id: str) -> None:
        self.calling_id = calling_id
        self.views: dict[bytes, FrameView] = {}
        self.memo: dict[tuple[int, int], bool] = {}

    def view(self, payload: bytes) -> FrameView:
        v = self.views.get(payload)
        if v is None:
            text = payload.decode("utf-8", "replace")
            v = FrameView(text, fragment_texts(text))
            self.views[payload] = v
        return v

    def shows(self, payload: bytes, call: Call) -> bool:
        key = (id(self.view(payload)), call.index)
        hit = self.memo.get(key)
        if hit is None:
            view = self.view(payload)
            assert call.pattern is not None
            if call.kind == "checkin":
                hit = bool(call.pattern.search(view.text))
            else:
                hit = bool(call.pattern.search(view.fragments.get(self.calling_id, "")))
            self.memo[key] = hit
        return hit


@dataclass
class SocketResult:
    latencies: dict[int, float] = field(default_factory=dict)   # call index -> seconds
    frames: int = 0
    coalesced_frames: int = 0
    coalesced_calls: int = 0
    extra_frames: int = 0
    early: int = 0
    by_order: int = 0
    closed_by_server: bool = False
    leftover_bytes: int = 0


def analyse_socket(listener: Listener, calls: list[Call], matcher: Matcher,
                   stop_at: float) -> SocketResult:
    """Match this socket's frames to the calls: first by content, then, for a call whose
    marker is not visible (a ticket beyond what the lobby lists), by order: the first
    unclaimed frame after the call was sent and before the next call's matched frame."""
    messages, leftover = listener.messages()
    res = SocketResult(leftover_bytes=leftover)
    res.closed_by_server = any(m.opcode == 0x8 for m in messages) or (
        listener.closed_at is not None and listener.closed_at < stop_at)
    data = [m for m in messages if m.opcode in (0x1, 0x2)]
    frames = data[1:]  # the first one is the snapshot
    res.frames = len(frames)
    covered: list[int] = [0] * len(frames)
    expected = [c for c in calls if c.expects_frame]
    found: dict[int, int] = {}
    j = 0
    for call in expected:
        k = j
        while k < len(frames) and not matcher.shows(frames[k].payload, call):
            k += 1
        if k == len(frames):
            continue
        if frames[k].at < call.sent:
            res.early += 1
            continue
        found[call.index] = k
        covered[k] += 1
        j = k
    # Order fallback, bounded by the content matches on either side.
    upper = [len(frames)] * (len(expected) + 1)
    for pos in range(len(expected) - 1, -1, -1):
        k = found.get(expected[pos].index)
        upper[pos] = min(upper[pos + 1], k if k is not None else len(frames))
    last = -1
    for pos, call in enumerate(expected):
        k = found.get(call.index)
        if k is not None:
            last = max(last, k)
            continue
        k = last + 1
        while k < upper[pos + 1] and (covered[k] or frames[k].at < call.sent):
            k += 1
        if k < upper[pos + 1]:
            found[call.index] = k
            covered[k] += 1
            res.by_order += 1
            last = k
    for call in expected:
        k = found.get(call.index)
        if k is not None:
            res.latencies[call.index] = frames[k].at - call.sent
    for n in covered:
        if n == 0:
            res.extra_frames += 1
        elif n > 1:
            res.coalesced_frames += 1
            res.coalesced_calls += n
    return res


def ticket_pattern(ticket: str) -> re.Pattern[str]:
    return re.compile(r"(?<![A-Za-z0-9])" + re.escape(ticket) + r"(?![A-Za-z0-9])")


async def make_call(http: HttpClient, site: str, queue: str, call: Call) -> None:
    if call.kind == "checkin":
        raw = http.request_bytes("POST", f"/api/v1/sites/{site}/visits",
                                 json.dumps({"queue": queue, "priority": 2}).encode())
    else:
        raw = http.request_bytes("POST", f"/api/v1/sites/{site}/queues/{queue}/call-next",
                                 b"{}")
    try:
        r = await http.send(raw)
    except (HttpError, OSError) as exc:
        call.error = str(exc)
        return
    call.sent, call.done, call.status = r.sent, r.done, r.status
    if r.status in (200, 201):
        visit = r.json()
        call.ticket, call.visit_id = visit.get("ticket"), visit.get("id")
        if call.ticket:
            call.pattern = ticket_pattern(call.ticket)
    elif r.status != 204:
        call.error = f"HTTP {r.status} {r.body[:160]!r}"


def schedule(args: argparse.Namespace) -> list[Call]:
    """The calls to make and when, by `--mode`: `isolated`, one call every `--interval`
    (of `--action`'s kinds); `pairs`, an urgent check-in and, `--gap` later, a call-next, a
    pair every `--interval`; `poisson`, check-ins and call-nexts in turn at exponentially
    distributed gaps averaging `--rate` calls/s (seeded by `--seed`, so runs compare)."""
    total = args.warmup + args.calls
    if args.mode == "pairs":
        return [Call(i, "checkin" if i % 2 == 0 else "call", i < args.warmup,
                     (i // 2) * args.interval + (i % 2) * args.gap) for i in range(total)]
    kinds = ["checkin" if i % 2 == 0 else "call" for i in range(total)]
    if args.mode == "poisson":
        rng = random.Random(args.seed)
        at, calls = 0.0, []
        for i, kind in enumerate(kinds):
            calls.append(Call(i, kind, i < args.warmup, at))
            at += rng.expovariate(args.rate)
        return calls
    if args.action != "both":
        kinds = [args.action] * total
    return [Call(i, k, i < args.warmup, i * args.interval) for i, k in enumerate(kinds)]


async def send_calls(target: Target, token: str, site: str, queue: str,
                     calls: list[Call]) -> None:
    """Make each call at its time, on a pool of keep-alive connections, so that a call due
    while another is still answered is not held back by it."""
    pool: asyncio.Queue[HttpClient] = asyncio.Queue()
    clients = [HttpClient(target, token) for _ in range(4)]
    for client in clients:
        pool.put_nowait(client)

    async def one(call: Call) -> None:
        client = await pool.get()
        try:
            await make_call(client, site, queue, call)
        finally:
            pool.put_nowait(client)

    started = perf()
    pending = []
    for call in calls:
        delay = started + call.at - perf()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(one(call)))
        await asyncio.sleep(0)  # let it write its request now, at its time
    await asyncio.gather(*pending)
    for client in clients:
        client.close()


async def finish_visits(http: HttpClient, site: str, called: list[str],
                        waiting: list[str]) -> dict[str, int]:
    """Leave the site as it was: the benchmark's called visits done, its waiting ones left."""
    out = {"done": 0, "left": 0, "failed": 0}
    for ids, action in ((called, "done"), (waiting, "left")):
        for vid in ids:
            try:
                r = await http.request("POST", f"/api/v1/sites/{site}/visits/{vid}/{action}", {})
            except (HttpError, OSError):
                out["failed"] += 1
                continue
            if r.status == 200:
                out[action] += 1
            elif r.status != 409:
                out["failed"] += 1
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    target: Target = parse_target(args.url)
    raise_nofile(args.sockets + 256)
    desk = token_option(args.desk_token, "BENCH_DESK_TOKEN", args.site, "desk",
                        args.tokens_from_cli)
    display = token_option(args.display_token, "BENCH_DISPLAY_TOKEN", args.site, "display",
                           args.tokens_from_cli) if args.sockets else ""
    http = HttpClient(target, desk)
    queue, waiting_before = await pick_queue(http, args.site, args.queue)
    pids = watched_pids(target.port, args.server_pid)
    server_pid = pids["server"]

    calls = schedule(args)
    prefilled: list[str] = []
    if args.action == "call" and args.mode == "isolated":
        # call-next needs patients: check ours in (urgent, so they are called first) before
        # any socket listens.
        for _ in calls:
            r = await http.request("POST", f"/api/v1/sites/{args.site}/visits",
                                   {"queue": queue, "priority": 2})
            if r.status != 201:
                raise BenchError(f"pre-filling the queue failed: HTTP {r.status} "
                                 f"{r.body[:200]!r}")
            prefilled.append(r.json()["id"])

    listeners: list[Listener] = []
    errors: list[str] = []
    connect_s = 0.0
    if args.sockets:
        listeners, errors, connect_s = await open_listeners(
            target, f"/ws/sites/{args.site}/lobby", display, args.sockets,
            concurrency=args.connect_concurrency, timeout=args.connect_timeout)
        if not listeners:
            raise BenchError(f"no lobby socket opened; first error: {errors[0]}")
    await asyncio.sleep(args.settle)

    cpu_a = cpu_sample(pids)
    await send_calls(target, desk, args.site, queue, calls)
    last_call = perf()
    # Wait until every socket has had bytes since the last call that should show, and the
    # traffic has been quiet for `settle` seconds; at most `timeout`.
    last_sent = max((c.sent for c in calls if c.expects_frame), default=last_call)
    clock = listeners[0].clock if listeners else None
    while clock is not None:
        now = perf()
        if now - last_call > args.timeout:
            break
        if now - max(clock.last_rx, last_call) > args.settle and all(
                lis.chunks and lis.chunks[-1][0] >= last_sent for lis in listeners
                if lis.closed_at is None):
            break
        await asyncio.sleep(0.05)
    cpu_b = cpu_sample(pids)
    stop_at = perf()
    for lis in listeners:
        lis.close()
    await asyncio.sleep(0.2)

    cpu = cpu_report(cpu_a, cpu_b)
    cpu["other_cores"] = other_cores(cpu)
    cpu["server_cores"] = server_cores(cpu)  # with its workers' (after: not counted twice)
    cleanup: dict[str, int] = {}
    if not args.no_cleanup:
        called_ids = [c.visit_id for c in calls if c.kind == "call" and c.visit_id]
        checked = [c.visit_id for c in calls if c.kind == "checkin" and c.visit_id]
        called_set = set(called_ids)
        waiting_ids = [v for v in checked + prefilled if v not in called_set]
        cleanup = await finish_visits(http, args.site, called_ids, waiting_ids)
    http.close()

    return analyse(args, calls, listeners, errors, connect_s, stop_at, queue,
                   waiting_before, cpu, cleanup, server_pid)


def analyse(args: argparse.Namespace, calls: list[Call], listeners: list[Listener],
            errors: list[str], connect_s: float, stop_at: float, queue: str,
            waiting_before: int, cpu: dict[str, Any], cleanup: dict[str, int],
            server_pid: int | None) -> dict[str, Any]:
    matcher = Matcher(args.calling_id)
    measured = [c for c in calls if not c.warmup]
    expected = [c for c in measured if c.expects_frame]
    per_socket = [analyse_socket(lis, calls, matcher, stop_at) for lis in listeners]

    pair_lat: list[float] = []
    first_lat: list[float] = []
    last_lat: list[float] = []
    missed_pairs = 0
    calls_missing_somewhere = 0
    for c in expected:
        got = [s.latencies[c.index] for s in per_socket if c.index in s.latencies]
        pair_lat.extend(got)
        missed_pairs += len(per_socket) - len(got)
        if len(got) < len(per_socket):
            calls_missing_somewhere += 1
        if got:
            first_lat.append(min(got))
            last_lat.append(max(got))
    statuses: dict[str, int] = {}
    for c in measured:
        statuses[str(c.status or "error")] = statuses.get(str(c.status or "error"), 0) + 1
    sizes = sorted({len(p) for p in matcher.views})
    return {
        "benchmark": "fanout",
        "machine": machine(),
        "loop": args.loop_name,
        "url": args.url,
        "site": args.site,
        "queue": queue,
        "action": args.action,
        "mode": args.mode,
        "interval_ms": round(args.interval * 1000),
        "gap_ms": round(args.gap * 1000, 1),
        "rate": args.rate,
        "waiting_before": waiting_before,
        "sockets": {"asked": args.sockets, "open": len(listeners), "failed": len(errors),
                    "first_error": errors[0] if errors else None,
                    "connect_s": round(connect_s, 2),
                    "closed_by_server": sum(s.closed_by_server for s in per_socket)},
        "calls": {"measured": len(measured), "warmup": args.warmup,
                  "with_frame_expected": len(expected), "statuses": statuses,
                  "errors": [c.error for c in measured if c.error][:5]},
        "http_ms": summary_ms(c.done - c.sent for c in measured if c.status),
        "frame_ms": summary_ms(pair_lat),
        "first_socket_ms": summary_ms(first_lat),
        "last_socket_ms": summary_ms(last_lat),
        "missed": {"pairs": missed_pairs, "calls_missing_on_some_socket": calls_missing_somewhere,
                   "of_pairs": len(expected) * len(per_socket)},
        "coalesced": {"frames": sum(s.coalesced_frames for s in per_socket),
                      "calls_in_them": sum(s.coalesced_calls for s in per_socket)},
        "extra_frames": sum(s.extra_frames for s in per_socket),
        "matched_by_order": sum(s.by_order for s in per_socket),
        "anomalies_before_send": sum(s.early for s in per_socket),
        "frame_bytes": {"min": sizes[0] if sizes else None, "max": sizes[-1] if sizes else None},
        "cpu": cpu,
        "server_us_per_pair": _us_per_pair(cpu, len(expected) * len(per_socket)),
        "server_pid": server_pid,
        "cleanup": cleanup,
    }


def _us_per_pair(cpu: dict[str, Any], pairs: int) -> float | None:
    """The server's CPU per (call, socket) pair: the cost of a frame, spread per socket."""
    if not pairs or cpu.get("server_cores") is None:
        return None
    return round(cpu["server_cores"] * cpu["wall_s"] / pairs * 1e6, 1)


def report(r: dict[str, Any]) -> str:
    s, f = r["sockets"], r["frame_ms"]
    lines = [
        f"fanout: {s['open']}/{s['asked']} lobby sockets on site {r['site']} "
        f"(connect {s['connect_s']} s, {s['failed']} failed"
        + (f": {s['first_error']}" if s["first_error"] else "") + ")",
        f"  {r['calls']['measured']} calls ({r['mode']}: {_pace(r)}, {r['action']}, queue "
        f"{r['queue']}, +{r['calls']['warmup']} warm-up), statuses "
        f"{r['calls']['statuses']}",
        "",
        f"  {'':24}{'n':>8}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}   (ms)",
    ]
    for label, key in (("call -> every socket", "frame_ms"), ("call -> first socket",
                       "first_socket_ms"), ("call -> last socket", "last_socket_ms"),
                       ("HTTP call itself", "http_ms")):
        v = r[key]
        lines.append(f"  {label:24}{v['count']:>8}{fmt(v['p50']):>9}{fmt(v['p95']):>9}"
                     f"{fmt(v['p99']):>9}{fmt(v['max']):>9}")
    m, c = r["missed"], r["coalesced"]
    lines += [
        "",
        f"  missed (call, socket) pairs: {m['pairs']} of {m['of_pairs']}; "
        f"coalesced frames: {c['frames']} (carrying {c['calls_in_them']} calls); "
        f"extra frames: {r['extra_frames']}; matched by order, not content: "
        f"{r['matched_by_order']}; closed by server: {s['closed_by_server']}",
        f"  frame sizes {r['frame_bytes']['min']}-{r['frame_bytes']['max']} B; "
        f"CPU during calls: {r['cpu']}; server {r['server_us_per_pair']} µs per "
        "(call, socket)",
    ]
    if r["calls"]["errors"]:
        lines.append(f"  call errors: {r['calls']['errors']}")
    if r["cleanup"]:
        lines.append(f"  cleanup: {r['cleanup']}")
    if f["p99"] is not None:
        ok = f["p99"] <= TARGET_P99_MS and m["pairs"] == 0
        lines.append(f"  target p99 <= {TARGET_P99_MS} ms, none missed: "
                     f"{'met' if ok else 'MISSED'} ({f['p99']} ms)")
    return "\n".join(lines)


def _pace(r: dict[str, Any]) -> str:
    if r["mode"] == "pairs":
        return f"a pair every {r['interval_ms']} ms, {r['gap_ms']} ms apart"
    if r["mode"] == "poisson":
        return f"{r['rate']:g} calls/s on average"
    return f"every {r['interval_ms']} ms"


def parser() -> argparse.ArgumentParser:
    p = new_parser("python -m bench.fanout", __doc__, "demo",
                   formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sockets", type=int, default=1000, help="lobby sockets (0: HTTP only)")
    p.add_argument("--calls", type=int, default=50, help="measured API calls")
    p.add_argument("--warmup", type=int, default=2, help="unmeasured calls first")
    p.add_argument("--action", choices=("both", "checkin", "call"), default="both",
                   help="check-ins, call-nexts, or both in turn (default)")
    p.add_argument("--queue", help="queue id (default: the site's first open queue)")
    p.add_argument("--mode", choices=("isolated", "pairs", "poisson"), default="isolated",
                   help="isolated calls (default), pairs of calls --gap apart, or Poisson "
                        "arrivals at --rate")
    p.add_argument("--interval", type=float, default=0.15,
                   help="seconds between calls (isolated) or pairs (pairs)")
    p.add_argument("--gap", type=float, default=0.005,
                   help="seconds between the two calls of a pair")
    p.add_argument("--rate", type=float, default=5.0, help="mean calls/s (poisson)")
    p.add_argument("--seed", type=int, default=1, help="random seed (poisson)")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds after the last call to wait for frames")
    p.add_argument("--settle", type=float, default=0.5,
                   help="quiet seconds that mean the traffic is over")
    p.add_argument("--connect-concurrency", type=int, default=100)
    p.add_argument("--connect-timeout", type=float, default=30.0)
    p.add_argument("--calling-id", default="calling",
                   help="id of the lobby fragment that lists called tickets")
    p.add_argument("--server-pid", type=int,
                   help="server process to account CPU for (default: whoever listens)")
    p.add_argument("--no-cleanup", action="store_true",
                   help="leave the benchmark's visits as they are")
    add_client_arguments(p, ("desk", "display"))
    return p


def check(args: argparse.Namespace) -> None:
    if not 0 <= args.sockets <= 20000:
        raise BenchError("--sockets must be from 0 to 20000.")
    if not 1 <= args.calls <= 10000 or not 0 <= args.warmup <= 100:
        raise BenchError("--calls must be from 1 to 10000 and --warmup from 0 to 100.")
    if not 0.01 <= args.interval <= 10 or not 0.1 <= args.timeout <= 120:
        raise BenchError("--interval must be 0.01-10 s and --timeout 0.1-120 s.")
    if not 0 <= args.gap < args.interval or not 0.1 <= args.rate <= 1000:
        raise BenchError("--gap must be from 0 to --interval and --rate 0.1-1000 calls/s.")
    if args.mode != "isolated" and args.action != "both":
        raise BenchError("--mode pairs and poisson make check-ins and calls in turn; "
                         "leave --action at both.")


def main(argv: list[str] | None = None) -> int:
    return run_main("fanout", parser(), check, run, report, argv)


if __name__ == "__main__":
    raise SystemExit(main())
