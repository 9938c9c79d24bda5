"""The security headers every answer carries, set in one place.

- A Content Security Policy that lets the pages run only the scripts and styles served
  from `static/` (no inline script, handler or `style=""` anywhere: STYLE.md), connect only
  back to this server (its WebSockets included), and be framed by no one.
- `nosniff`, `Referrer-Policy: same-origin` (a patient's status link must not leak to a
  site it links to), and a Permissions-Policy that turns off what no screen uses (camera,
  microphone, location, payment, USB) and keeps autoplay for the lobby's chime.
- `Strict-Transport-Security` when SECURE_COOKIES=true, the setting that says the server
  is reached over HTTPS only.
- `Cache-Control: no-store` on every answer except the static files: pages, JSON, CSV and
  error pages can all carry names, and a shared desk's browser or a proxy must not keep
  them. The static files carry no personal data and may be cached.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "media-src 'self'",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
PERMISSIONS = ", ".join((
    "camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()",
    "serial=()", "bluetooth=()", "autoplay=(self)", "fullscreen=(self)",
))
HSTS = "max-age=31536000; includeSubDomains"
CACHEABLE_PREFIXES = ("/static/",)


def security_headers(path: str, secure: bool) -> dict[str, str]:
    """The headers an answer for `path` carries (pure: tested without a server)."""
    headers = {
        "content-security-policy": CSP,
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "permissions-policy": PERMISSIONS,
        "cross-origin-opener-policy": "same-origin",
    }
    if secure:
        headers["strict-transport-security"] = HSTS
    if not path.startswith(CACHEABLE_PREFIXES):
        headers["cache-control"] = "no-store"
    return headers


class SecurityHeaders:
    """ASGI middleware: adds `security_headers` to every HTTP answer. A header a route set
    itself is kept: the patient's status page sends the stricter `no-referrer`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = scope["app"].state.settings.secure_cookies
        extra = security_headers(scope["path"], secure)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
