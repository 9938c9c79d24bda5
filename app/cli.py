"""`python -m app …`: serve, run the demo, and the administrator's commands.

Each command prints one clear line on bad input and exits non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import logging.config
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app import clock, demo, logs
from app.access import auth
from app.appointments.demo import demo_appointments, kiosk_examples
from app.appointments.schedule import import_entries, import_file
from app.config import ConfigError, Settings, parse_host, parse_port
from app.preflight import check_port, check_redis
from app.reports.day_close import DayCloser
from app.sites import SiteError, site_from_toml
from app.storage import redis_client
from app.storage.redis_server import EmbeddedRedis
from app.storage.store import Store

URL_FILE = "redis.url"
DEMO_ADMIN = "clinic-admin"


class CliError(Exception):
    """Bad input: printed as one line, exit status 2."""


@contextlib.contextmanager
def redis_for(settings: Settings, keep: bool = False) -> Iterator[str]:
    """REDIS_URL (once it answers), or the embedded Redis under var/: the running one if
    `make run` started it, else one started for as long as this command needs it."""
    if settings.redis_url:
        check_redis(settings.redis_url)
        yield settings.redis_url
        return
    url_file = settings.var_dir / URL_FILE
    if url_file.exists() and not keep:
        url = url_file.read_text().strip()
        if _answers(url):
            yield url
            return
    server = EmbeddedRedis(settings.var_dir)
    url = server.start()
    if keep:
        url_file.write_text(url)
    try:
        yield url
    finally:
        if keep:
            url_file.unlink(missing_ok=True)
        server.stop()


def _answers(url: str) -> bool:
    """Whether the embedded Redis `make run` left in var/ (a plain redis:// URL) runs."""

    async def ping() -> bool:
        client = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(await client.ping())
        except (RedisError, OSError):
            return False
        finally:
            await client.aclose()

    return asyncio.run(ping())


def _with_store(settings: Settings, url: str,
                work: Callable[[Store], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        redis = await redis_client.connect(url, blocking=False)
        try:
            return await work(Store(redis, settings))
        finally:
            await redis.aclose()

    return asyncio.run(main())


async def _known_site(store: Store, site_id: str) -> None:
    if await store.get_site(site_id) is None:
        raise CliError(f"there is no site '{site_id}'; create it with `python -m app demo` "
                       "or `python -m app site load FILE`.")


async def seed_demo(store: Store, site_id: str = "demo", users: bool = True) -> str:
    """Create or refresh the demo site (in the zone where it is late morning now), its
    staff user, today's appointments and, in an empty clinic, patients waiting, called and
    in a room; answers how to sign in and what to try."""
    now = clock.now()
    site = demo.demo_site(now, site_id)
    await store.save_site(site)
    if users:  # user names are global: a test's copy of the demo site goes without
        await auth.add_user(store.redis, site.id, "desk", demo.DEMO_USER, demo.DEMO_PASSWORD)
        await auth.add_user(store.redis, site.id, "admin", DEMO_ADMIN, demo.DEMO_PASSWORD)
    entries = demo_appointments(site, now)
    await import_entries(store.redis, store.settings, site, entries, actor="system:demo", now=now)
    patients = await demo.seed_patients(store, site)
    lobby = await auth.create_pairing_code(store.redis, site.id, "display")
    kiosk = await auth.create_pairing_code(store.redis, site.id, "kiosk")
    tries = "".join(
        f"\n    code {e['code']}  ({e['last_name']}, born {e['birth_date']})"
        for e in kiosk_examples(entries, site, now))
    return (
        f"Demo site '{site.id}' is ready, with {len(entries)} appointments today"
        f"{f' and {patients} patients in the clinic' if patients else ''}; its clock is"
        f" set to late morning ({site.timezone}).\n"
        f"  Front desk: sign in as {demo.DEMO_USER} / {demo.DEMO_PASSWORD}\n"
        f"  Admin pages (users, devices): sign in as {DEMO_ADMIN} / {demo.DEMO_PASSWORD}\n"
        f"  Lobby display: pair with code {lobby} (valid 15 minutes)\n"
        f"  Kiosk: pair with code {kiosk} (valid 15 minutes)\n"
        f"  Appointments a kiosk can check in now:{tries or ' none just now'}"
    )


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


# uvicorn's WebSocket implementation: the cheapest per idle socket and per send of the
# three measured (docs/benchmarks.md). Per-message compression stays off: every frame
# would be compressed again for each socket.
WS_IMPLEMENTATIONS = ("websockets-sansio", "websockets", "wsproto")
# The largest message a client may send on a socket: the screens send none that matter
# (ws.py reads and drops them), so anything larger closes the socket with 1009.
WS_MAX_SIZE = 64 * 1024


def ws_protocol(name: str, prepared: bool = True) -> Any:
    """What uvicorn is given for `--ws`: the default, `websockets-sansio`, extended with
    prepared sends (app/live/protocol.py) unless `prepared` is false (PREPARED_SEND) or
    this uvicorn lacks the class extended, then uvicorn's own; the others as uvicorn has
    them, for measuring."""
    from app.live.protocol import WebSocketsSansIOProtocol, protocol

    if name != "websockets-sansio":
        return name
    extended = protocol(prepared)
    if extended is not None:
        return extended
    logging.getLogger("app.live").info("WebSockets: the standard ASGI send (PREPARED_SEND="
                                       "%s)", "true" if prepared else "false")
    return name if WebSocketsSansIOProtocol is not None else "auto"


def serve(settings: Settings, url: str, host: str, port: int,
          ws: str = WS_IMPLEMENTATIONS[0], workers: int = 1) -> None:
    """Serve until SIGTERM or Ctrl-C. `workers` > 1: that many processes share the port
    (uvicorn's supervisor starts them, and starts one again that dies); each is a whole
    app, with no state of its own, as processes behind a load balancer are."""
    import uvicorn

    from app.main import create_app

    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again for the
    # previous handler: with the default one the process would die there, before the
    # embedded Redis is stopped. This handler turns it into an ordinary exit.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    os.environ["REDIS_URL"] = url
    settings = Settings.from_env()
    config = logs.config(settings.log_format)
    logging.config.dictConfig(config)  # for what is logged before uvicorn starts, too
    # X-Forwarded-For is believed only from FORWARDED_ALLOW_IPS (none by default): the
    # sign-in limits count per address, and a header anyone can send must not choose it.
    proxies = settings.forwarded_allow_ips
    options: dict[str, Any] = {
        "host": host, "port": port, "ws": ws_protocol(ws, settings.prepared_send),
        "ws_per_message_deflate": False, "ws_max_size": WS_MAX_SIZE, "log_level": "info",
        "log_config": config, "proxy_headers": bool(proxies),
        "forwarded_allow_ips": list(proxies) or None, "access_log": settings.access_log}
    if workers > 1:
        # Each worker makes its own app from the environment (REDIS_URL set above; the
        # secret already in VAR_DIR).
        uvicorn.run("app.main:create_app", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)


def listen_address(settings: Settings, args: argparse.Namespace) -> tuple[str, int]:
    """Where to serve: --host/--port over HOST/PORT, checked free before anything starts
    (a second `make run` must not seed the demo and print codes, then fail to bind)."""
    host = parse_host("--host", args.host) if args.host is not None else settings.host
    port = parse_port("--port", args.port) if args.port is not None else settings.port
    check_port(host, port, host_name="--host" if args.host is not None else "HOST",
               port_name="--port" if args.port is not None else "PORT")
    return host, port


MAX_WORKERS = 64


def parse_workers(raw: str) -> int:
    """--workers: a whole number of processes from 1 to MAX_WORKERS."""
    if not raw.isascii() or not raw.isdecimal() or not 1 <= int(raw) <= MAX_WORKERS:
        raise ConfigError(f"--workers {raw!r} is not a number of processes; give a whole "
                          f"number from 1 to {MAX_WORKERS}, e.g. 2 (one per core).")
    return int(raw)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    workers = parse_workers(args.workers)
    host, port = listen_address(settings, args)
    with redis_for(settings, keep=settings.redis_url is None) as url:
        serve(settings, url, host, port, args.ws, workers)


def cmd_run(settings: Settings, args: argparse.Namespace) -> None:
    host, port = listen_address(settings, args)
    with redis_for(settings, keep=settings.redis_url is None) as url:
        print(_with_store(settings, url, seed_demo))
        print(f"\nOpen http://{host}:{port}/ in a browser "
              "(board: /sites/demo/board, lobby: /sites/demo/lobby, kiosk: /sites/demo/kiosk).\n",
              flush=True)
        serve(settings, url, host, port, args.ws)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    with redis_for(settings) as url:
        print(_with_store(settings, url, seed_demo))


def _for_site(settings: Settings, site_id: str,
              work: Callable[[Store], Awaitable[Any]]) -> Any:
    """Run `work` against an existing site (else one line saying how to create it)."""

    async def checked(store: Store) -> Any:
        await _known_site(store, site_id)
        return await work(store)

    with redis_for(settings) as url:
        return _with_store(settings, url, checked)


def cmd_token(settings: Settings, args: argparse.Namespace) -> None:
    print(_for_site(settings, args.site,
                    lambda store: auth.create_token(store.redis, args.site, args.role)))


def cmd_device_code(settings: Settings, args: argparse.Namespace) -> None:
    async def work(store: Store) -> str:
        site = await store.get_site(args.site)
        queues = auth.check_queue_filter((args.queues or "").split(","),
                                         [q.id for q in site.queues])
        return await auth.create_pairing_code(store.redis, args.site, args.role,
                                              args.name or "", queues)

    code = _for_site(settings, args.site, work)
    print(f"{code}  (enter it at /pair on the {args.role} within 15 minutes; it works once)")


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> None:
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for {args.name}: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    _for_site(settings, args.site, lambda store: auth.add_user(
        store.redis, args.site, args.role, args.name, password))
    print(f"user {args.name} ({args.role}) can now sign in at site {args.site}")


def cmd_site_load(settings: Settings, args: argparse.Namespace) -> None:
    path = Path(args.file)
    try:
        site = site_from_toml(path.read_text())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}.") from None
    except SiteError as exc:
        raise CliError(f"{path}: {exc}") from None

    async def work(store: Store) -> None:
        await store.save_site(site)

    with redis_for(settings) as url:
        _with_store(settings, url, work)
    print(f"site {site.id} saved: {len(site.queues)} queues, {len(site.rooms)} rooms")


def cmd_schedule_import(settings: Settings, args: argparse.Namespace) -> None:
    async def work(store: Store) -> dict[str, Any]:
        site = await store.get_site(args.site)
        return await import_file(store.redis, settings, site, args.file, actor="cli")

    result = _for_site(settings, args.site, work)
    print(f"imported {result['imported']}, updated {result['updated']}, "
          f"{len(result['errors'])} with errors")
    for error in result["errors"]:
        print(f"  entry {error['index']}: {error['detail']}", file=sys.stderr)
    if result["errors"]:
        raise SystemExit(1)


def cmd_day_close(settings: Settings, args: argparse.Namespace) -> None:
    async def work(store: Store) -> int | None:
        site = await store.get_site(args.site)
        return await DayCloser(store.redis, settings).close(site, actor="cli")

    closed = _for_site(settings, args.site, work)
    print(f"day closed at site {args.site}: {closed} open visits are now 'left'")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m app", description="Lobbyline")
    sub = p.add_subparsers(dest="command", required=True)

    for name, func, help_ in (("serve", cmd_serve, "serve the app"),
                              ("run", cmd_run, "embedded Redis + demo site + server")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("--host", help="address to listen on (default: HOST, else 127.0.0.1)")
        s.add_argument("--port", help="port to listen on (default: PORT, else 8000)")
        s.add_argument("--ws", choices=WS_IMPLEMENTATIONS, default=WS_IMPLEMENTATIONS[0],
                       help="uvicorn's WebSocket implementation (default: %(default)s)")
        if name == "serve":
            s.add_argument("--workers", default="1",
                           help="processes sharing the port (default: 1)")
        s.set_defaults(func=func)

    sub.add_parser("demo", help="create or refresh the demo site").set_defaults(func=cmd_demo)

    s = sub.add_parser("token", help="print a new API bearer token")
    s.add_argument("--site", required=True)
    s.add_argument("--role", required=True, choices=auth.ROLES)
    s.set_defaults(func=cmd_token)

    device = sub.add_parser("device", help="pair kiosks and lobby displays")
    dsub = device.add_subparsers(dest="device_command", required=True)
    s = dsub.add_parser("code", help="print a one-time pairing code")
    s.add_argument("--site", required=True)
    s.add_argument("--role", required=True, choices=("kiosk", "display"))
    s.add_argument("--name", help="what the admin page calls the device, e.g. 'Lobby TV'")
    s.add_argument("--queues", help="comma-separated queue ids it shows (default: all)")
    s.set_defaults(func=cmd_device_code)

    user = sub.add_parser("user", help="staff users")
    usub = user.add_subparsers(dest="user_command", required=True)
    s = usub.add_parser("add", help="add or update a user; password on standard input")
    s.add_argument("--site", required=True)
    s.add_argument("--role", required=True, choices=("admin", "desk"))
    s.add_argument("name")
    s.set_defaults(func=cmd_user_add)

    site = sub.add_parser("site", help="sites")
    ssub = site.add_subparsers(dest="site_command", required=True)
    s = ssub.add_parser("load", help="create or update a site from a TOML file")
    s.add_argument("file")
    s.set_defaults(func=cmd_site_load)

    schedule = sub.add_parser("schedule", help="appointments")
    schsub = schedule.add_subparsers(dest="schedule_command", required=True)
    s = schsub.add_parser("import", help="import a CSV, JSON or FHIR R4 schedule file")
    s.add_argument("--site", required=True)
    s.add_argument("file")
    s.set_defaults(func=cmd_schedule_import)

    day = sub.add_parser("day", help="the site's day")
    daysub = day.add_subparsers(dest="day_command", required=True)
    s = daysub.add_parser("close", help="close the day now: open visits become 'left'")
    s.add_argument("--site", required=True)
    s.set_defaults(func=cmd_day_close)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        args.func(settings, args)
    except (CliError, ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (RedisError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
