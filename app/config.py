"""Settings, read once from the environment.

A bad value stops start-up with one sentence that names the variable and the fix.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from app.storage.redis_client import check_url

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which and how to fix it."""


def shown_url(url: str) -> str:
    """`url` with any password replaced by `***`, fit for an error message or a log."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.partition(':')[0]}:***@{hostpart}"


def named_value(name: str, raw: str) -> str:
    """How a person wrote the value: `PORT='abc'` for a variable, `--port 'abc'` for a flag."""
    return f"{name} {raw!r}" if name.startswith("--") else f"{name}={raw!r}"


def parse_port(name: str, raw: str) -> int:
    """A TCP port from the setting or flag `name`; ConfigError naming it otherwise."""
    value = raw.strip()
    if not value.isascii() or not value.isdecimal() or not 1 <= int(value) <= 65535:
        raise ConfigError(f"{named_value(name, raw)} is not a port number; set it to a "
                          f"whole number from 1 to 65535, e.g. {DEFAULT_PORT}.")
    return int(value)


def parse_host(name: str, raw: str) -> str:
    """A host name or address to listen on; ConfigError naming `name` for an empty one or
    one with spaces (whether this machine has it is known only when binding)."""
    value = raw.strip()
    if not value or any(ch.isspace() for ch in value) or not value.isascii():
        raise ConfigError(f"{named_value(name, raw)} is not a host name or address; set it "
                          f"to e.g. {DEFAULT_HOST} (this machine only) or 0.0.0.0 (every "
                          "interface).")
    return value


def _redis_url(raw: str | None) -> str | None:
    if not raw:
        return None
    example = ("use redis://host:6379/0 (a server, or any node of a cluster) or "
               "redis+sentinel://host:26379/MASTERNAME/0")
    try:
        check_url(raw)
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL={shown_url(raw)!r} is not a Redis URL ({exc}); "
                          f"{example}.") from None
    return raw


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0,
         maximum: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not a whole number; set it to e.g. {default}."
        ) from None
    if value < minimum:
        raise ConfigError(f"{name}={value} is too small; it must be at least {minimum}.")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} is too large; it must be at most {maximum}.")
    return value


def _minutes(env: dict[str, str], name: str, default: float) -> float:
    """Minutes, fractions allowed (0.1 is six seconds: tests shorten waits this way)."""
    raw = env.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of minutes; set it to e.g. "
                          f"{default:g}.") from None
    if not 0.05 <= value <= 24 * 60:
        raise ConfigError(f"{name}={raw!r} is out of range; it must be from 0.05 to 1440 "
                          "minutes.")
    return value


def _moment(env: dict[str, str], name: str) -> datetime | None:
    """An ISO 8601 time with its offset, or None when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ConfigError(f"{name}={raw!r} is not a time with its offset; set it to e.g. "
                          "2026-12-07T08:00:00-05:00, or leave it unset for the real time.")
    return moment


def _speed(env: dict[str, str], name: str) -> float:
    """How many times faster than real time the clock runs: from 1 to 1000."""
    raw = env.get(name, "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 1 <= value <= 1000:
        raise ConfigError(f"{name}={raw!r} is not a speed-up from 1 to 1000; set it to e.g. "
                          "60 (an hour a minute), or leave it unset for the real time.")
    return value


def _log_format(env: dict[str, str]) -> str:
    raw = env.get("LOG_FORMAT", "").strip().lower() or "text"
    if raw not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT={env['LOG_FORMAT']!r} is not a log format; set it to "
                          "json (one JSON object per line) or text.")
    return raw


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is neither true nor false; set it to true or false.")


def _forwarded_allow_ips(raw: str) -> tuple[str, ...]:
    """The proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: addresses or
    networks, comma-separated, or `*` for any; none by default (the socket's address is
    the client's)."""
    found = tuple(part.strip() for part in raw.split(",") if part.strip())
    for part in found:
        if part == "*":
            continue
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ConfigError(f"FORWARDED_ALLOW_IPS has {part!r}, which is not an address or "
                              "network; list the proxy's addresses, e.g. 127.0.0.1 or "
                              "10.0.0.0/8, separated by commas.") from None
    return found


def _secret(env: dict[str, str], var_dir: Path) -> str:
    """SECRET_KEY, or one generated once and kept in var/ so restarts keep sessions."""
    if env.get("SECRET_KEY"):
        if len(env["SECRET_KEY"]) < 32:
            raise ConfigError("SECRET_KEY is shorter than 32 characters; use a long random value.")
        return env["SECRET_KEY"]
    path = var_dir / "secret_key"
    try:
        if path.exists():
            return path.read_text().strip()
        var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
    except OSError as exc:
        raise ConfigError(
            f"VAR_DIR={str(var_dir)!r} cannot hold the generated secret ({exc.strerror}); "
            "set VAR_DIR to a directory this user can write, or set SECRET_KEY."
        ) from None
    return key


@dataclass(frozen=True)
class Settings:
    redis_url: str | None
    var_dir: Path
    secret_key: str = field(repr=False)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    stream_maxlen: int = 10_000
    retention_days: int = 7
    audit_retention_days: int = 2190
    socket_backlog: int = 64
    hub_idle_seconds: int = 60
    noshow_margin_minutes: int = 30
    allowed_origins: tuple[str, ...] = ()
    secure_cookies: bool = False
    forwarded_allow_ips: tuple[str, ...] = ()
    access_log: bool = True
    kiosk_idle_seconds: int = 60
    kiosk_warning_seconds: int = 20
    kiosk_ticket_seconds: int = 20
    staff_idle_minutes: float = 15
    board_undo_seconds: int = 10
    signin_delay_ms: int = 1000
    prepared_send: bool = True
    redis_wait_replicas: int = 0
    clock_start: datetime | None = None
    clock_speed: float = 1.0
    log_format: str = "text"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        var_dir = Path(env.get("VAR_DIR") or "var").resolve()
        redis_url = _redis_url(env.get("REDIS_URL"))
        origins = tuple(o.strip() for o in env.get("ALLOWED_ORIGINS", "").split(",") if o.strip())
        for origin in origins:
            if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                raise ConfigError(f"ALLOWED_ORIGINS has {origin!r}, which is not an origin; "
                                  "list them as https://host[:port], separated by commas.")
        return cls(
            redis_url=redis_url,
            var_dir=var_dir,
            secret_key=_secret(env, var_dir),
            host=parse_host("HOST", env["HOST"]) if env.get("HOST") else DEFAULT_HOST,
            port=parse_port("PORT", env["PORT"]) if env.get("PORT") else DEFAULT_PORT,
            stream_maxlen=_int(env, "STREAM_MAXLEN", 10_000, minimum=100),
            retention_days=_int(env, "RETENTION_DAYS", 7, minimum=1),
            audit_retention_days=_int(env, "AUDIT_RETENTION_DAYS", 2190, minimum=1),
            socket_backlog=_int(env, "SOCKET_BACKLOG", 64, minimum=1),
            hub_idle_seconds=_int(env, "HUB_IDLE_SECONDS", 60, minimum=1),
            noshow_margin_minutes=_int(env, "NOSHOW_MARGIN_MINUTES", 30, 0, 24 * 60),
            allowed_origins=origins,
            secure_cookies=_flag(env, "SECURE_COOKIES", False),
            forwarded_allow_ips=_forwarded_allow_ips(env.get("FORWARDED_ALLOW_IPS", "")),
            access_log=_flag(env, "ACCESS_LOG", True),
            kiosk_idle_seconds=_int(env, "KIOSK_IDLE_SECONDS", 60, 2, 3600),
            kiosk_warning_seconds=_int(env, "KIOSK_WARNING_SECONDS", 20, 1, 600),
            kiosk_ticket_seconds=_int(env, "KIOSK_TICKET_SECONDS", 20, 2, 600),
            staff_idle_minutes=_minutes(env, "STAFF_IDLE_MINUTES", 15),
            board_undo_seconds=_int(env, "BOARD_UNDO_SECONDS", 10, 0, 60),
            signin_delay_ms=_int(env, "SIGNIN_DELAY_MS", 1000, 0, 10_000),
            prepared_send=_flag(env, "PREPARED_SEND", True),
            redis_wait_replicas=_int(env, "REDIS_WAIT_REPLICAS", 0, 0, 16),
            clock_start=_moment(env, "CLOCK_START"),
            clock_speed=_speed(env, "CLOCK_SPEED"),
            log_format=_log_format(env),
        )
