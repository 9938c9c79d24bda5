"""Who is asking: bearer tokens, paired devices and staff sessions, and their roles.

Tokens and device secrets are stored hashed; sessions are server-side in Redis, so
signing out or revoking a device takes effect at once on every process.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeSerializer
from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from app import clock, codes, keys
from app.errors import ApiError
from app.sites import Site

ROLES = ("admin", "desk", "kiosk", "display")
SESSION_COOKIE = "lq_session"
DEVICE_COOKIE = "lq_device"
SESSION_TTL = 12 * 3600
PAIRING_TTL = 15 * 60
PAIRING_LENGTH = 8

_hasher = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the site it belongs to, its role, and its name in events."""

    site: str
    role: str
    actor: str

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


async def create_pairing_code(redis: Redis, site: str, role: str) -> str:
    """A one-time code a kiosk or lobby display enters at /pair, valid 15 minutes."""
    if role not in ("kiosk", "display"):
        raise ValueError("devices pair as 'kiosk' or 'display'.")
    code = codes.new_code(PAIRING_LENGTH)
    await redis.set(keys.pairing_code(code), json.dumps({"site": site, "role": role}),
                    ex=PAIRING_TTL)
    return code


async def pair_device(redis: Redis, serializer: URLSafeSerializer,
                      code: str) -> tuple[str, str, str]:
    """Spend a pairing code; answers (cookie value, site, role). ApiError if it is bad."""
    normalised = codes.normalise(code)
    raw = await redis.getdel(keys.pairing_code(normalised)) if normalised else None
    if raw is None:
        raise ApiError(400, "bad_code", "That pairing code is not valid or has expired.")
    record = json.loads(raw)
    device_id = secrets.token_hex(8)
    await redis.hset(keys.devices(record["site"]), device_id, json.dumps(
        {"role": record["role"], "paired_at": clock.iso(clock.now())}))
    cookie = serializer.dumps({"site": record["site"], "device": device_id})
    return cookie, record["site"], record["role"]


async def add_user(redis: Redis, site: str, role: str, name: str, password: str) -> None:
    if role not in ("admin", "desk"):
        raise ValueError("staff users are 'admin' or 'desk'.")
    if len(password) < 8:
        raise ValueError("the password must be at least 8 characters.")
    record = {"site": site, "role": role, "hash": _hasher.hash(password)}
    await redis.hset(keys.users(), name, json.dumps(record))


async def login(redis: Redis, name: str, password: str) -> str | None:
    """A new session id for a right name and password, else None (never says which)."""
    raw = await redis.hget(keys.users(), name)
    if raw is None:
        _hasher.hash(password)  # same cost either way, so timing tells nothing
        return None
    record = json.loads(raw)
    try:
        _hasher.verify(record["hash"], password)
    except (VerifyMismatchError, InvalidHashError):
        return None
    session_id = secrets.token_urlsafe(32)
    session = {"site": record["site"], "role": record["role"], "user": name}
    await redis.set(keys.session(_digest(session_id)), json.dumps(session), ex=SESSION_TTL)
    return session_id


async def principal_of_session(redis: Redis, session_id: str) -> Principal | None:
    raw = await redis.get(keys.session(_digest(session_id)))
    if raw is None:
        return None
    record = json.loads(raw)
    return Principal(record["site"], record["role"], f"user:{record['user']}")


async def logout(redis: Redis, session_id: str) -> None:
    await redis.delete(keys.session(_digest(session_id)))


async def authenticate(conn: HTTPConnection) -> Principal | None:
    """The caller of a request or WebSocket, from its bearer token or its cookies."""
    redis: Redis = conn.app.state.redis
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        raw = await redis.hget(keys.token_index(), _digest(header[7:].strip()))
        if raw is None:
            return None
        record = json.loads(raw)
        return Principal(record["site"], record["role"], f"token:{record['id']}")
    session_id = conn.cookies.get(SESSION_COOKIE)
    if session_id:
        principal = await principal_of_session(redis, session_id)
        if principal is not None:
            return principal
    device_cookie = conn.cookies.get(DEVICE_COOKIE)
    if device_cookie:
        try:
            data = conn.app.state.signer.loads(device_cookie)
        except BadSignature:
            return None
        raw = await redis.hget(keys.devices(data["site"]), data["device"])
        if raw is not None:
            return Principal(data["site"], json.loads(raw)["role"], f"device:{data['device']}")
    return None


async def require(conn: HTTPConnection, site_id: str,
                  roles: tuple[str, ...]) -> tuple[Principal, Site]:
    """The caller and its site, if it may act as one of `roles` there: else 401, 404 or
    403. A browser's state-changing request must also come from this server's own pages
    (its Origin), which is what stops a cross-site form from using the cookies."""
    principal = await authenticate(conn)
    if principal is None:
        raise ApiError(401, "unauthorized", "Sign in or send a valid bearer token.")
    site = await conn.app.state.store.get_site(site_id)
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
    host = conn.headers.get("host", "")
    allowed = conn.app.state.settings.allowed_origins
    return origin in allowed or origin.split("://", 1)[-1] == host
