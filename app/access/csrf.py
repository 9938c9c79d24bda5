"""CSRF protection for requests that a browser's cookies authenticate.

The token is an HMAC of the caller's own session (or device) cookie under SECRET_KEY: a
page gets it in `<meta name="csrf-token">`, `static/js/csrf.js` sends it back in the
`X-CSRF-Token` header of every htmx request (and in a plain form's `csrf_token` field),
and another site, which can make the browser send the cookie but cannot read it or our
pages, cannot make the token. It needs no storage and stays valid exactly as long as the
cookie does. Bearer-token calls carry no cookie authority and are exempt; so are the
sign-in and pairing forms, which authenticate with what is typed (the Origin check
guards them).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.access.auth import DEVICE_COOKIE, SESSION_COOKIE
from app.errors import ApiError, error_response

HEADER = "x-csrf-token"
FIELD = "csrf_token"
CHECKED_METHODS = ("POST", "PUT", "PATCH", "DELETE")
EXEMPT_PATHS = ("/login", "/pair")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
FORM_MAX = 8 * 1024 * 1024


def token(secret: str, cookie: str) -> str:
    return hmac.new(secret.encode(), b"csrf:" + cookie.encode(), hashlib.sha256).hexdigest()


def _cookie(cookies: dict[str, str]) -> str:
    return cookies.get(SESSION_COOKIE) or cookies.get(DEVICE_COOKIE) or ""


def token_for(request: Request) -> str:
    """The CSRF token for the caller of `request`; "" when it has no cookie to protect.
    Templates call it (a Jinja global), so every page a cookie holder sees carries it."""
    cookie = _cookie(request.cookies)
    return token(request.app.state.settings.secret_key, cookie) if cookie else ""


async def _read_all(receive: Receive) -> tuple[bytes, list[Message]]:
    chunks, messages, size = [], [], 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > FORM_MAX or not message.get("more_body", False):
            break
    return b"".join(chunks), messages


class CsrfMiddleware:
    """Refuses (403 `csrf`, as JSON or a page like any error) a cookie-authenticated
    POST, PUT, PATCH or DELETE whose token is missing or wrong; passes everything else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in CHECKED_METHODS \
                or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if request.headers.get("authorization", "").lower().startswith("bearer "):
            await self.app(scope, receive, send)
            return
        cookie = _cookie(request.cookies)
        if not cookie:
            await self.app(scope, receive, send)
            return
        expected = token(scope["app"].state.settings.secret_key, cookie)
        sent = request.headers.get(HEADER, "")
        if not sent and request.headers.get("content-type", "").startswith(FORM_TYPES):
            body, messages = await _read_all(receive)
            sent = await _form_token(scope, body)
            receive = _replay(messages, receive)
        if sent and hmac.compare_digest(sent, expected):
            await self.app(scope, receive, send)
            return
        refusal = ApiError(403, "csrf", "This request did not carry the page's security "
                           "token; reload the page and try again.")
        await error_response(request, refusal)(scope, receive, send)


async def _form_token(scope: Scope, body: bytes) -> str:
    async def once() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        async with Request(scope, once).form() as form:
            value: Any = form.get(FIELD)
    except Exception:  # a malformed form simply has no token
        return ""
    return value if isinstance(value, str) else ""


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
