"""Checks made before serving, so a setting that cannot work stops start-up with one
sentence naming it, before anything else (a demo seeded, an embedded Redis started)."""

from __future__ import annotations

import errno
import socket

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.config import ConfigError, named_value, shown_url
from app.storage import redis_client

REDIS_CHECK_SECONDS = 3.0


def check_port(host: str, port: int, host_name: str = "HOST", port_name: str = "PORT") -> None:
    """Return if the server could listen on `host`:`port` now; else ConfigError saying
    why, naming the setting (or flag) to change."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        raise ConfigError(f"{named_value(host_name, host)} is not a name or address this "
                          "machine can listen on; set it to 127.0.0.1, 0.0.0.0 or one of its "
                          "addresses.") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        # As uvicorn does: a port left in TIME_WAIT by a stopped server is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise ConfigError(_bind_failure(exc, host, port, host_name, port_name)) from None


def _bind_failure(exc: OSError, host: str, port: int, host_name: str, port_name: str) -> str:
    change = f"pass another {port_name}" if port_name.startswith("--") else f"set {port_name}"
    if exc.errno == errno.EADDRINUSE:
        return (f"Port {port} on {host} is in use (is Lobbyline already running?); "
                f"stop it or {change}.")
    if exc.errno == errno.EACCES:
        return (f"Port {port} on {host} needs administrator rights; {change} to a port "
                "above 1023, or put a proxy in front.")
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"{named_value(host_name, host)} is not an address of this machine; set it "
                "to 127.0.0.1, 0.0.0.0 or one of its addresses.")
    return f"Cannot listen on {host}:{port} ({exc.strerror}); change {host_name} or {port_name}."



def check_redis(url: str, name: str = "REDIS_URL") -> None:
    """Return if the Redis at `url` answers PING; else ConfigError naming `name`, saying
    what went wrong in words (refused, unknown host, password, timeout) and the fix."""
    client = None
    try:
        client = redis_client.connect_sync(url, socket_connect_timeout=REDIS_CHECK_SECONDS,
                                           socket_timeout=REDIS_CHECK_SECONDS,
                                           retry=Retry(NoBackoff(), 0))
        client.ping()
    except redis.RedisError as exc:
        raise ConfigError(f"{name}={shown_url(url)}: {redis_failure(exc)}; "
                          f"start Redis or fix {name}.") from None
    finally:
        if client is not None:
            client.close()


def redis_failure(exc: BaseException) -> str:
    """What a Redis connection error means, in a few words a person can act on."""
    text = str(exc)
    if isinstance(exc, redis.AuthenticationError) or "NOAUTH" in text or "WRONGPASS" in text:
        return "the server refuses this user name or password"
    if isinstance(exc, redis.TimeoutError):
        return f"no answer within {REDIS_CHECK_SECONDS:g} s"
    for cause in (exc.__cause__, exc.__context__):
        if isinstance(cause, socket.gaierror):
            return "the host name does not resolve"
        if isinstance(cause, ConnectionRefusedError):
            return "nothing answers there (connection refused)"
        if isinstance(cause, FileNotFoundError):
            return "there is no socket file at that path"
    if "Error 111" in text or "refused" in text.lower():
        return "nothing answers there (connection refused)"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "the host name does not resolve"
    if "Protocol error" in text:
        return "something answers there, but it is not Redis"
    if "DB index" in text:
        return "the server has no such database number"
    return f"it does not answer ({text.rstrip('.')})"
