"""Who is asking: bearer tokens, staff users and their sessions, paired devices, and roles.

Tokens and device secrets are stored hashed; sessions are server-side in Redis, so signing
out, disabling a user or revoking a device takes effect at once on every process. A staff
session ends after `STAFF_IDLE_MINUTES` without a request (every authenticated request
moves that deadline, in the same command that reads the session) and at the latest
`SESSION_TTL` after sign-in.

These keys are global, not under a site's hash tag (a cookie or a token is looked up
before its site is known), so they are written with single commands or one MULTI
transaction rather than a site's Lua scripts; what a device does to a site goes through
`app/access/devices.py`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature
from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from app import clock
from app.access import codes, devices, throttle
from app.errors import ApiError
from app.sites import Site
from app.storage import keys
from app.storage.store import redis_of
from app.text import refused_character

ROLES = ("admin", "desk", "kiosk", "display")
STAFF_ROLES = ("admin", "desk")
DEVICE_ROLES = ("kiosk", "display")
SESSION_COOKIE = "lq_session"
DEVICE_COOKIE = "lq_device"
SESSION_TTL = 12 * 3600
DEFAULT_IDLE = 15 * 60
PAIRING_TTL = 15 * 60
PAIRING_LENGTH = 8
PASSWORD_MIN = 8
PASSWORD_MAX = 1000
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")

_hasher = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the site it belongs to, its role, its name in events
    (`actor`), and for a person or a device its own name. A paired device also has its
    id and the queues it shows (empty: all of them)."""

    site: str
    role: str
    actor: str
    device_id: str | None = None
    name: str = ""
    queues: tuple[str, ...] = ()

    def may(self, roles: tuple[str, ...]) -> bool:
        return self.role in roles or (self.role == "admin" and "desk" in roles)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}.")
    return role


async def create_token(redis: Redis, site: str, role: str) -> str:
    """A new bearer token for `site` and `role`; only its hash is kept."""
    token = "llt_" + secrets.token_urlsafe(32)
    record = {"site": site, "role": check_role(role), "id": secrets.token_hex(4),
              "created": clock.iso(clock.now())}
    digest = _digest(token)
    await redis.hset(keys.token_index(), digest, json.dumps(record))
    await redis.sadd(keys.site_tokens(site), digest)
    return token


def check_queue_filter(queues: list[str] | tuple[str, ...], known: list[str]) -> tuple[str, ...]:
    """The queue ids a device should show, each one of the site's (`known`); ValueError
    naming the first unknown one. Empty means all queues."""
    chosen = tuple(dict.fromkeys(q.strip() for q in queues if q.strip()))
    for queue in chosen:
        if queue not in known:
            raise ValueError(f"there is no queue {queue!r} at this site; "
                             f"its queues are {', '.join(known)}.")
    return chosen


async def create_pairing_code(redis: Redis, site: str, role: str, name: str = "",
                              queues: tuple[str, ...] = ()) -> str:
    """A one-time code a kiosk or lobby display enters at /pair, valid 15 minutes. The
    device it pairs is called `name` and shows `queues` (empty: all)."""
    if role not in DEVICE_ROLES:
        raise ValueError("devices pair as 'kiosk' or 'display'.")
    name = name.strip()
    if len(name) > 60 or refused_character(name):
        raise ValueError("a device name is at most 60 characters, on one line.")
    code = codes.new_code(PAIRING_LENGTH)
    record = {"site": site, "role": role, "name": name or role.capitalize(),
              "queues": list(queues)}
    await redis.set(keys.pairing_code(code), json.dumps(record), ex=PAIRING_TTL)
    return code


async def spend_pairing_code(redis: Redis, code: str) -> dict[str, Any] | None:
    """The pairing a code was made for, once: the code is gone after this call (GETDEL,
    so two devices typing it at once cannot both pair). None if it is unknown or expired."""
    normalised = codes.normalise(code)
    raw = await redis.getdel(keys.pairing_code(normalised)) if normalised else None
    return json.loads(raw) if raw is not None else None


# Staff users

def check_user_name(name: str) -> str:
    if not USER_NAME.fullmatch(name):
        raise ValueError("a user name is 1 to 64 letters, digits, '.', '_', '@' or '-', "
                         "starting with a letter or digit.")
    return name


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"the password must be at least {PASSWORD_MIN} characters.")
    if len(password) > PASSWORD_MAX:
        raise ValueError(f"the password must be at most {PASSWORD_MAX} characters.")
    return password


async def get_user(redis: Redis, name: str) -> dict[str, Any] | None:
    raw = await redis.hget(keys.users(), name)
    return json.loads(raw) if raw is not None else None


async def add_user(redis: Redis, site: str, role: str, name: str, password: str,
                   replace: bool = True) -> None:
    """Create the staff user `name` (or, with `replace`, set its role and password, which
    ends its sessions). ValueError with a sentence for a bad role, name or password, or
    for a name already used (at any site) when not replacing."""
    if role not in STAFF_ROLES:
        raise ValueError("staff users are 'admin' or 'desk'.")
    check_user_name(name)
    check_password(password)
    existing = await get_user(redis, name)
    if existing is not None and (not replace or existing["site"] != site):
        raise ValueError(f"the user name {name!r} is already taken; choose another.")
    record = {"site": site, "role": role, "hash": _hasher.hash(password), "disabled": False,
              "created": (existing or {}).get("created") or clock.iso(clock.now())}
    await redis.hset(keys.users(), name, json.dumps(record))
    if existing is not None:
        await end_sessions(redis, name)


async def site_users(redis: Redis, site: str) -> list[dict[str, Any]]:
    """The site's staff users, by name: {name, role, disabled, created}; never the hash."""
    users = []
    async for name, raw in redis.hscan_iter(keys.users()):
        record = json.loads(raw)
        if record.get("site") == site:
            users.append({"name": name, "role": record["role"],
                          "disabled": bool(record.get("disabled")),
                          "created": record.get("created", "")})
    return sorted(users, key=lambda u: u["name"].lower())


async def _update_user(redis: Redis, site: str, name: str, **changes: Any) -> None:
    record = await get_user(redis, name)
    if record is None or record["site"] != site:
        raise ApiError(404, "not_found", f"There is no user {name!r} at this site.")
    await redis.hset(keys.users(), name, json.dumps({**record, **changes}))
    await end_sessions(redis, name)


async def set_disabled(redis: Redis, site: str, name: str, disabled: bool) -> None:
    """Disable (ending every session at once) or enable the site's user `name`; enabling
    also forgets the failed sign-ins counted against the name."""
    await _update_user(redis, site, name, disabled=disabled)
    if not disabled:
        await throttle.forget_user(redis, name)


async def reset_password(redis: Redis, site: str, name: str, password: str) -> None:
    """Give the site's user `name` a new password; their sessions end, and the failed
    sign-ins counted against the name are forgotten."""
    await _update_user(redis, site, name, hash=_hasher.hash(check_password(password)))
    await throttle.forget_user(redis, name)


async def audit(redis: Redis, settings: Any, site: Site, kind: str, actor: str,
                **fields: Any) -> None:
    """Append an entry that is no visit's (`kind`, `actor`, the time, `fields`) to the
    site's audit log of the day, kept as long as the scripts' entries."""
    now = clock.now()
    key = keys.audit(site.id, clock.local_date(now, site.tz))
    entry = {"type": kind, "actor": actor, "at": clock.iso(now), **fields}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.rpush(key, json.dumps(entry))
        pipe.expire(key, settings.audit_retention_days * 86400)
        await pipe.execute()


# Sessions

async def login(redis: Redis, name: str, password: str,
                idle_seconds: int = DEFAULT_IDLE) -> str | None:
    """A new session id for a right name and password of an enabled user, else None
    (never says which part was wrong)."""
    record = await get_user(redis, name) if USER_NAME.fullmatch(name) else None
    if record is None:
        _hasher.hash(password)  # same cost either way, so timing tells nothing
        return None
    try:
        _hasher.verify(record["hash"], password)
    except (VerificationError, InvalidHashError):
        return None
    if record.get("disabled"):
        return None
    session_id = secrets.token_urlsafe(32)
    digest = _digest(session_id)
    session = {"site": record["site"], "role": record["role"], "user": name,
               "until": clock.ms(clock.now()) + SESSION_TTL * 1000}
    # The session and the user's list of sessions are global keys in different cluster
    # slots, so no MULTI holds both: listed first, a session can always be ended; a
    # listed digest whose session was never made is harmless.
    async with redis.pipeline(transaction=True) as pipe:
        pipe.sadd(keys.user_sessions(name), digest)
        pipe.expire(keys.user_sessions(name), SESSION_TTL)
        await pipe.execute()
    await redis.set(keys.session(digest), json.dumps(session), ex=idle_seconds)
    return session_id


async def principal_of_session(redis: Redis, session_id: str,
                               idle_seconds: int = DEFAULT_IDLE) -> Principal | None:
    """The signed-in user of a live session, moving its idle deadline `idle_seconds`
    ahead in the same command (GETEX); None once it has ended (signed out, idle too long,
    past its lifetime, or the user disabled)."""
    key = keys.session(_digest(session_id))
    raw = await redis.getex(key, ex=idle_seconds)
    if raw is None:
        return None
    record = json.loads(raw)
    if clock.ms(clock.now()) >= record.get("until", 0):
        await redis.delete(key)
        return None
    return Principal(record["site"], record["role"], f"user:{record['user']}",
                     name=record["user"])


def session_of(conn: HTTPConnection, principal: Principal) -> str | None:
    """The staff session `principal` was read from, if it came from the session cookie."""
    if _bearer(conn) is not None:
        return None
    if principal.device_id is not None or not principal.actor.startswith("user:"):
        return None
    return conn.cookies.get(SESSION_COOKIE)


async def session_alive(redis: Redis, session_id: str) -> bool:
    """Whether a session still exists, without moving its idle deadline (a screen's open
    socket is not a person using it)."""
    return bool(await redis.exists(keys.session(_digest(session_id))))


async def logout(redis: Redis, session_id: str) -> None:
    await redis.delete(keys.session(_digest(session_id)))


async def end_sessions(redis: Redis, name: str) -> None:
    """End every session of the user `name`, on every process, at once."""
    digests = await redis.smembers(keys.user_sessions(name))
    # One key per session, each in its own cluster slot: deleted one by one (a pipeline,
    # not a MULTI), the list last, so a failure part-way leaves the rest listed.
    async with redis.pipeline(transaction=False) as pipe:
        for digest in digests:
            pipe.delete(keys.session(digest))
        await pipe.execute()
    await redis.delete(keys.user_sessions(name))


# Callers

async def _device(conn: HTTPConnection, cookie: str) -> Principal | None:
    try:
        data = conn.app.state.signer.loads(cookie)
    except BadSignature:
        return None
    record = await devices.get(redis_of(conn), data["site"], data["device"])
    if record is None:
        return None
    await devices.seen(redis_of(conn), data["site"], data["device"])
    return Principal(data["site"], record["role"], f"device:{data['device']}",
                     device_id=data["device"], name=record.get("name", ""),
                     queues=tuple(record.get("queues") or ()))


def _bearer(conn: HTTPConnection) -> str | None:
    """The bearer token of the Authorization header ("" for an empty one); None without."""
    header = conn.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _token_principal(raw: str | None) -> Principal | None:
    """The caller named by a token's stored record (None: no such token)."""
    if raw is None:
        return None
    record = json.loads(raw)
    return Principal(record["site"], record["role"], f"token:{record['id']}",
                     name=f"token {record['id']}")


async def authenticate(conn: HTTPConnection) -> Principal | None:
    """The caller of a request or WebSocket, from its bearer token or its cookies."""
    redis: Redis = redis_of(conn)
    token = _bearer(conn)
    if token is not None:
        return _token_principal(await redis.hget(keys.token_index(), _digest(token)))
    session_id = conn.cookies.get(SESSION_COOKIE)
    if session_id:
        idle = idle_limit(conn.app.state.settings.staff_idle_minutes)
        principal = await principal_of_session(redis, session_id, idle)
        if principal is not None:
            return principal
    device_cookie = conn.cookies.get(DEVICE_COOKIE)
    if device_cookie:
        return await _device(conn, device_cookie)
    return None


async def require(conn: HTTPConnection, site_id: str,
                  roles: tuple[str, ...]) -> tuple[Principal, Site]:
    """The caller and its site, if it may act as one of `roles` there: else 401, 404 or
    403. A browser's state-changing request must also come from this server's own pages
    (its Origin); with its CSRF token (app/access/csrf.py) that stops a cross-site form from
    using the cookies."""
    store = conn.app.state.store
    token = _bearer(conn)
    if token is not None:
        # The API's every request: the token and the site in one round trip, by a
        # pipeline without MULTI (their keys are in different Cluster slots, and the
        # cluster client splits such a pipeline by node).
        async with store.redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.token_index(), _digest(token))
            pipe.get(keys.site(site_id))
            raw_token, raw_site = await pipe.execute()
        principal, site = _token_principal(raw_token), store.site_of(raw_site)
    else:
        # A session or a device may read and write keys of its own: alongside the site.
        principal, site = await asyncio.gather(authenticate(conn), store.get_site(site_id))
    if principal is None:
        raise ApiError(401, "unauthorized", "Sign in or send a valid bearer token.")
    if site is None:
        raise ApiError(404, "not_found", f"There is no site '{site_id}'.")
    if principal.site != site_id:
        raise ApiError(403, "forbidden", "These credentials are for another site.")
    if not principal.may(roles):
        raise ApiError(403, "forbidden", f"This needs the role {' or '.join(roles)}.")
    if not principal.actor.startswith("token:") and not origin_allowed(conn, strict=True):
        raise ApiError(403, "bad_origin", "This request did not come from a Lobbyline page.")
    return principal, site


def origin_allowed(conn: HTTPConnection, strict: bool = False) -> bool:
    """Whether the request's Origin is this server (or an ALLOWED_ORIGINS entry).

    With `strict`, only for state-changing HTTP methods a missing Origin is refused; a
    WebSocket or a GET without one (not a browser) passes.
    """
    if strict and conn.scope["type"] == "http" and conn.scope["method"] in ("GET", "HEAD"):
        return True
    origin = conn.headers.get("origin")
    if origin is None:
        return not (strict and conn.scope["type"] == "http")
    allowed = conn.app.state.settings.allowed_origins
    if origin in allowed:
        return True
    own_scheme = WEB_SCHEMES.get(conn.scope.get("scheme", "http"), "http")
    own = _origin_parts(f"{own_scheme}://{conn.headers.get('host', '')}")
    return own is not None and _origin_parts(origin) == own


WEB_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_parts(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin, the port filled in from the scheme; None for
    what is not an http(s) origin."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def idle_lock_seconds(request: HTTPConnection) -> int:
    """How long a staff page may go without a request before it locks itself (the
    session's own idle limit); 0 for a page shown without a staff session cookie, and on
    the sign-in and pairing pages. Templates call it (a Jinja global)."""
    if not request.cookies.get(SESSION_COOKIE) or request.url.path in ("/login", "/pair"):
        return 0
    return idle_limit(request.app.state.settings.staff_idle_minutes)


def idle_limit(minutes: float) -> int:
    """STAFF_IDLE_MINUTES in whole seconds (at least one, as Redis expiries are)."""
    return max(1, round(minutes * 60))
