"""The benchmarks in bench/ run against a real server and measure what they claim: a tiny
run of each, checked for its counts, not its speed (timings belong in docs/benchmarks.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app.access.auth import create_token
from app.live.protocol import encode_text_frame
from app.storage import keys
from app.storage.redis_server import free_port
from bench.clients import Clock, Listener

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def bench_args(live_server, site, store, redis_url) -> tuple[list[str], dict[str, str]]:
    server = live_server()
    args = ["--url", server.url, "--site", site.id, "--json",
            "--desk-token", await create_token(store.redis, site.id, "desk"),
            "--display-token", await create_token(store.redis, site.id, "display")]
    return args, {**os.environ, "REDIS_URL": redis_url}


def _bench(module: str, args: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


async def test_fanout_sees_every_call_on_every_socket(bench_args, store, site) -> None:
    args, env = bench_args
    r = _bench("bench.fanout", [*args, "--sockets", "5", "--calls", "4", "--warmup", "0",
                                "--interval", "0.3"], env)
    assert r["sockets"]["open"] == 5
    assert r["missed"]["pairs"] == 0
    assert r["frame_ms"]["count"] == 5 * 4, "one latency per (call, socket)"
    assert r["calls"]["statuses"] == {"201": 2, "200": 2}
    state = await store.snapshot(site)
    assert all(not q.waiting for q in state.queues), "its patients were cleaned up"


async def test_checkin_counts_every_answer_and_drains_its_visits(bench_args, store,
                                                                 site) -> None:
    args, env = bench_args
    r = _bench("bench.checkin", [*args, "--clients", "2", "--procs", "1", "--duration", "1",
                                 "--warmup", "0", "--rate", "50", "--listeners", "2"], env)
    assert r["errors"] == {}
    assert r["statuses"] == {"201": r["latency_ms"]["count"]}
    assert 40 <= r["latency_ms"]["count"] <= 60, "50 check-ins/s offered for 1 s"
    assert r["lobby"]["sockets"] == 2 and r["lobby"]["frames_per_socket"]["min"] > 1
    state = await store.snapshot(site)
    assert all(not q.waiting for q in state.queues), "its visits were marked left"


@pytest.mark.parametrize("mode", ["pairs", "poisson"])
async def test_fanout_bursts_see_every_call_on_every_socket(bench_args, store, site,
                                                            mode) -> None:
    args, env = bench_args
    # Seed 15's arrivals at 10/s: each call-next comes 133 ms or more after the check-in
    # it calls (a call-next that overtook it would find nobody waiting), and a check-in
    # follows a call-next by 1 ms and by 17 ms: the bursts.
    r = _bench("bench.fanout", [*args, "--sockets", "3", "--calls", "6", "--warmup", "0",
                                "--mode", mode, "--interval", "0.3", "--rate", "10",
                                "--seed", "15"], env)
    assert r["mode"] == mode
    # A pair's call-next is sent 5 ms after its check-in: on a busy machine it can reach
    # the server first, find nobody waiting (204) and change nothing.
    statuses = r["calls"]["statuses"]
    nobody = statuses.get("204", 0)
    assert statuses.get("201") == 3 and statuses.get("200", 0) + nobody == 3
    assert mode == "pairs" or nobody == 0
    assert r["missed"]["pairs"] == 0 and r["frame_ms"]["count"] == 3 * (6 - nobody)
    state = await store.snapshot(site)
    assert all(not q.waiting for q in state.queues), "its patients were cleaned up"


async def test_memory_counts_the_sockets_it_opened(bench_args) -> None:
    args, env = bench_args
    desk = args.index("--desk-token")  # it only needs the display token
    args = args[:desk] + args[desk + 2:]
    r = _bench("bench.memory", [*args, "--sockets", "5", "--settle", "0.2"], env)
    assert (r["sockets"]["open"], r["sockets"]["failed"]) == (5, 0)
    assert r["rss_kib"]["after"] > 0 and r["kib_per_socket"] is not None


async def test_memory_profile_names_the_layers_an_idle_socket_holds(site, store, redis_url,
                                                                    tmp_path) -> None:
    token = await create_token(store.redis, site.id, "display")
    env = {**os.environ, "REDIS_URL": redis_url, "VAR_DIR": str(tmp_path)}
    r = _bench("bench.memory_profile", [
        "--site", site.id, "--display-token", token, "--port", str(free_port()),
        "--sockets", "20", "--settle", "0.2", "--json"], env)
    assert (r["sockets"], r["errors"]) == (20, [])
    files = {f["file"] for f in r["files"]}
    assert "app/live/ws.py" in files  # each socket's endpoint waits in its own frame
    assert any(f.startswith("uvicorn/protocols/websockets/") for f in files)
    assert r["bytes_per_socket"] > 0


@pytest.fixture
def sites_prefix(redis_url: str) -> Iterator[str]:
    """A prefix for bench.sites' site ids; those sites' keys and tokens are deleted after."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        for site in client.smembers(keys.sites()):
            site = site.decode()
            if not site.startswith(prefix + "-"):
                continue
            digests = client.smembers(keys.site_tokens(site))
            if digests:
                client.hdel(keys.token_index(), *digests)
            client.srem(keys.sites(), site)
            found = list(client.scan_iter(match=f"lq:{{{site}}}:*", count=500))
            if found:
                client.delete(*found)


async def test_sites_matches_every_check_in_to_every_socket_of_its_site(
        live_server, redis_url, sites_prefix) -> None:
    server = live_server()
    r = _bench("bench.sites", ["--url", server.url, "--json", "--sites", "4", "--sockets", "2",
                               "--rate", "8", "--duration", "1", "--idle", "0.5",
                               "--settle", "0.2", "--timeout", "1", "--prefix", sites_prefix],
               {**os.environ, "REDIS_URL": redis_url})
    assert (r["sockets"]["open"], r["sockets"]["failed"]) == (8, 0)
    calls = r["load"]["calls"]
    assert calls > 0 and r["load"]["statuses"] == {"201": calls}
    assert r["missed"] == {"pairs": 0, "of_pairs": 2 * calls}
    assert r["frame_ms"]["count"] == 2 * calls, "one latency per (check-in, socket of its site)"
    assert r["drained"] == {"200": calls}, "its visits were marked left"
    assert r["idle"]["redis_commands_per_s"] is not None


async def test_redraw_builds_a_site_with_the_patients_it_is_asked_for(store) -> None:
    from bench.redraw import QUEUES, fill

    site_id = "redraw-" + uuid.uuid4().hex[:8]
    await fill(store, site_id, waiting=2, entries=0, active=4)
    site = await store.get_site(site_id)
    assert site is not None
    state = await store.snapshot(site)
    assert [(q.id, len(q.waiting)) for q in state.queues] == [(q, 2) for q in QUEUES]
    assert [v["status"] for v in state.active] == ["called"] * 4


def test_send_floor_times_every_round_on_every_socket_of_every_writer() -> None:
    from bench.send_floor import report

    r = _bench("bench.send_floor", ["--sockets", "21", "--writers", "2", "--rounds", "3",
                                    "--sizes", "300,5400", "--pause", "0.01", "--json"],
               dict(os.environ))
    assert (r["sockets"], r["writers"], r["shares"]) == (21, 2, [11, 10])
    assert [s["bytes"] for s in r["sizes"]] == [300, 5400]
    for s in r["sizes"]:
        every, first, last = s["every_socket_ms"], s["first_socket_ms"], s["last_socket_ms"]
        assert every["count"] == 21 * 3, "one arrival per (round, socket)"
        assert first["count"] == last["count"] == 3, "a first and a last socket per round"
        assert 0 < first["p50"] <= every["p50"] <= last["p50"]
        assert last["max"] == every["max"]
        assert s["writes_ms"]["p50"] > 0 and s["cpu_us_per_socket_p50"] > 0
    assert "start -> every socket" in report(r)


def test_send_floor_with_a_gap_times_both_changes_of_every_round() -> None:
    from bench.send_floor import report

    r = _bench("bench.send_floor", ["--sockets", "21", "--writers", "2", "--rounds", "3",
                                    "--sizes", "1400", "--pause", "0.01", "--gap", "0.005",
                                    "--json"], dict(os.environ))
    assert r["gap_ms"] == 5
    s = r["sizes"][0]
    assert s["every_socket_ms"]["count"] == 21 * 3 * 2, "one arrival per (change, socket)"
    assert s["first_socket_ms"]["count"] == s["last_socket_ms"]["count"] == 3 * 2
    # The writers finish no sooner than the second change is due.
    assert s["writes_ms"]["p50"] >= 5
    assert "two changes 5 ms apart" in report(r)


def test_a_servers_workers_are_watched_and_their_cpu_added() -> None:
    """`serve --workers N`: the process on the port is a supervisor; the benchmarks watch
    its children too and report the server's cores as the sum."""
    from bench.common import server_cores, watched_pids

    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys\n"
        "kids = [subprocess.Popen(['sleep', '30']) for _ in range(2)]\n"
        "[k.wait() for k in kids]")])
    try:
        for _ in range(100):
            pids = watched_pids(0, parent.pid)
            if len(pids) >= 3:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        workers = sorted(k for k in pids if k.startswith("worker"))
        assert workers == ["worker0", "worker1"]
        assert parent.pid not in [pids[w] for w in workers]
    finally:
        for child in [pids.get(w) for w in ("worker0", "worker1")]:
            if child:
                os.kill(child, 15)
        parent.wait(timeout=10)
    assert server_cores({"server_cores": 0.1, "worker0_cores": 0.2, "worker1_cores": 0.3,
                         "redis_cores": 0.5}) == 0.6


def test_gclog_logs_a_servers_collections_and_sums_them(live_server, tmp_path) -> None:
    log = tmp_path / "gc.jsonl"
    server = live_server({"PYTHONPATH": str(ROOT / "bench" / "gc_hook"), "GC_LOG": str(log)})
    mine = [json.loads(x) for x in log.read_text().splitlines()
            if json.loads(x)["pid"] == server.pid]
    # The app's start-up collects everything once before freezing it (app/collector.py).
    assert any(x["gen"] == 2 for x in mine)
    assert all(x["cpu_ms"] >= 0 and x["counts"][x["gen"]] >= 1 for x in mine)
    proc = subprocess.run([sys.executable, "-m", "bench.gclog", str(log)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    line = next(x for x in proc.stdout.splitlines() if x.startswith(f"pid {server.pid}:"))
    assert f"gen2 {mine[-1]['counts'][2]} in" in line


async def test_listeners_hold_one_copy_of_a_frame_every_socket_got() -> None:
    """The listeners' own cost is time the sockets still to be read wait: the same frame
    on many sockets is kept once, and each socket still reads its own frames."""
    clock = Clock()
    first, second = (Listener(b"", b"key", clock) for _ in range(2))
    for listener in (first, second):
        listener.state = 2  # past the upgrade and the snapshot: recording
        listener.data_received(bytes(bytearray(encode_text_frame("<div id=a>A001</div>"))))
    second.data_received(encode_text_frame("<div id=a>A002</div>"))
    assert first.chunks[0][1] is second.chunks[0][1]
    assert [m.payload for m in first.messages()[0]] == [b"<div id=a>A001</div>"]
    assert [m.payload for m in second.messages()[0]] == [b"<div id=a>A001</div>",
                                                         b"<div id=a>A002</div>"]
