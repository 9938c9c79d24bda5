"""What both benchmarks share: the target check, open-files limit, event loop, tokens and
sites through the server's CLI, statistics and CPU accounting. The clients themselves are in
`bench.clients`."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
perf = time.perf_counter


class BenchError(Exception):
    """A problem the user must fix (bad option, server not answering); printed as one line."""


@dataclass(frozen=True)
class Target:
    """The server under test; only loopback addresses are allowed."""

    url: str
    host: str
    port: int
    origin: str

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}" if ":" not in self.host else f"[{self.host}]:{self.port}"


def parse_target(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise BenchError(f"--url {url!r}: use http://HOST:PORT (plain HTTP on loopback).")
    host = parts.hostname
    try:
        addrs = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise BenchError(f"--url {url!r}: cannot resolve {host!r} ({exc}).") from None
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs):
        raise BenchError(f"--url {url!r}: these benchmarks only run against a loopback "
                         "server (127.0.0.1 or localhost).")
    port = parts.port or 80
    return Target(url.rstrip("/"), host, port, f"http://{parts.netloc}")


def raise_nofile(needed: int) -> int:
    """Raise the open-files soft limit to at least `needed` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise BenchError(f"need {needed} open files but the hard limit is {hard}; "
                         "raise it (ulimit -Hn) or use fewer sockets.")
    return soft


def use_uvloop(enabled: bool) -> str:
    """Install uvloop's event loop policy when asked and available; answers which loop."""
    if enabled:
        try:
            import uvloop
        except ImportError:
            return "asyncio"
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        return "uvloop"
    return "asyncio"


def mint_token(site: str, role: str) -> str:
    """A new token from the server's own CLI (`python -m app token`), run from the repo
    root with this environment (REDIS_URL, or the embedded Redis of `python -m app run`)."""
    cmd = [sys.executable, "-m", "app", "token", "--site", site, "--role", role]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
    if proc.returncode != 0 or not lines:
        detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise BenchError(f"`{' '.join(cmd[1:])}` failed: "
                         f"{detail[-1] if detail else 'exit ' + str(proc.returncode)}. Is "
                         "REDIS_URL the server's Redis, and does the site exist?")
    return lines[-1].split()[-1]


def load_site(toml_text: str) -> None:
    """Create or update a site through `python -m app site load FILE`."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lobbyline-bench-") as tmp:
        path = Path(tmp) / "site.toml"
        path.write_text(toml_text)
        cmd = [sys.executable, "-m", "app", "site", "load", str(path)]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60,
                              check=False)
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}")
        raise BenchError(f"`python -m app site load` failed: {detail.splitlines()[-1]}")


def token_option(given: str | None, env_name: str, site: str, role: str,
                 from_cli: bool) -> str:
    token = given or os.environ.get(env_name)
    if token and not from_cli:
        return token
    return mint_token(site, role)


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values; None for no values."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def summary_ms(values: Iterable[float]) -> dict[str, float | int | None]:
    """count, p50/p95/p99/max and mean of latencies given in seconds, in milliseconds."""
    s = sorted(values)

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 2)

    return {
        "count": len(s),
        "p50": ms(percentile(s, 50)),
        "p95": ms(percentile(s, 95)),
        "p99": ms(percentile(s, 99)),
        "max": ms(s[-1] if s else None),
        "mean": ms(sum(s) / len(s) if s else None),
    }


@dataclass
class CpuSample:
    """Machine-wide CPU jiffies, watched processes' jiffies (server, Redis), and this
    process's own CPU seconds."""

    at: float
    busy: int
    total: int
    procs: dict[str, int | None]
    self_cpu: float


def _proc_jiffies(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def self_cpu() -> float:
    """CPU seconds this process has used (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_sample(pids: dict[str, int | None] | None = None) -> CpuSample:
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    procs = {name: _proc_jiffies(pid) for name, pid in (pids or {}).items() if pid}
    return CpuSample(perf(), sum(vals) - idle, sum(vals), procs, self_cpu())


def cpu_report(a: CpuSample, b: CpuSample) -> dict[str, float | None]:
    """Cores used over [a, b]: the whole machine, this process, each watched process."""
    hz = os.sysconf("SC_CLK_TCK")
    wall = b.at - a.at
    cores = os.cpu_count() or 1
    span = b.total - a.total
    out: dict[str, float | None] = {
        "wall_s": round(wall, 3),
        "machine_busy_cores": round(cores * (b.busy - a.busy) / span, 2) if span else None,
        "bench_process_cores": round((b.self_cpu - a.self_cpu) / wall, 2) if wall else None,
    }
    for name, before in a.procs.items():
        after = b.procs.get(name)
        if before is not None and after is not None and wall:
            out[f"{name}_cores"] = round((after - before) / hz / wall, 3)
    return out


def other_cores(cpu: dict[str, float | None]) -> float | None:
    """Machine CPU not explained by the server, Redis or the benchmark: another load on
    the machine that disturbs the figures when it is more than a few hundredths."""
    busy = cpu.get("machine_busy_cores")
    if busy is None:
        return None
    known = sum(v or 0.0 for k, v in cpu.items()
                if k.endswith("_cores") and k not in ("machine_busy_cores", "other_cores"))
    return round(busy - known, 2)


def children(pid: int | None) -> list[int]:
    """The child processes of `pid` (Linux /proc)."""
    if pid is None:
        return []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def server_cores(cpu: dict[str, float | None]) -> float | None:
    """The server's cores: its process and, with workers, theirs."""
    parts = [v for k, v in cpu.items()
             if (k == "server_cores" or k.startswith("worker")) and v is not None]
    return round(sum(parts), 3) if parts else None


def watched_pids(server_port: int, server_pid: int | None) -> dict[str, int | None]:
    """The server (given, or whoever listens on its port) and its workers (`worker0`…,
    summed into the server's cores by `server_cores`) and, when REDIS_URL names a
    loopback Redis, that Redis: their CPU is reported beside the machine's."""
    from bench.serverpid import find_server_pid

    pids: dict[str, int | None] = {"server": server_pid or find_server_pid(server_port)}
    for n, child in enumerate(children(pids["server"])):
        pids[f"worker{n}"] = child  # `serve --workers N`: the pid found is the supervisor
    url = os.environ.get("REDIS_URL", "")
    if url.startswith("redis://"):
        parts = urlsplit(url)
        if parts.hostname in ("127.0.0.1", "localhost", "::1"):
            pids["redis"] = find_server_pid(parts.port or 6379)
    else:
        runfile = (ROOT / os.environ.get("VAR_DIR", "var")) / "redis.url"
        if runfile.exists():
            parts = urlsplit(runfile.read_text().strip())
            pids["redis"] = find_server_pid(parts.port or 6379)
    return pids


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f
                          if ln.startswith("model name")), "")
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "python": sys.version.split()[0]}


def fmt(value: float | int | None, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:g}{unit}" if isinstance(value, int) else f"{value:.1f}{unit}"


def run_main(name: str, parser: argparse.ArgumentParser,
             check: Callable[[argparse.Namespace], None],
             run: Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]],
             report: Callable[[dict[str, Any]], str], argv: list[str] | None) -> int:
    """A benchmark's command line: check the options, run, print the report (or JSON);
    a BenchError is one line on stderr and exit status 2."""
    args = parser.parse_args(argv)
    try:
        check(args)
        args.loop_name = use_uvloop(not args.no_uvloop)
        result = asyncio.run(run(args))
    except BenchError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(json.dumps(result) if args.json else report(result), flush=True)
    return 0


def new_parser(prog: str, doc: str | None, site: str, site_help: str | None = None,
               **kwargs: Any) -> argparse.ArgumentParser:
    """A benchmark's parser with the options that say where to measure: --url and --site."""
    p = argparse.ArgumentParser(prog=prog, description=(doc or "").split("\n\n")[0], **kwargs)
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--site", default=site, help=site_help)
    return p


def add_client_arguments(p: argparse.ArgumentParser, roles: Sequence[str]) -> None:
    """The options every benchmark ends with: a token per role it needs, how to mint them,
    the event loop, and JSON output."""
    for role in roles:
        p.add_argument(f"--{role}-token", help=f"{role} token (or BENCH_{role.upper()}_TOKEN)")
    p.add_argument("--tokens-from-cli", action="store_true",
                   help="mint tokens with `python -m app token` (the default when none given)")
    p.add_argument("--no-uvloop", action="store_true", help="use the plain asyncio loop")
    p.add_argument("--json", action="store_true", help="print one JSON object")
