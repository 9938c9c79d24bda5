"""The one error type for expected refusals, and its two shapes: docs/api.md's JSON for
the API, a page a person can read (and a way out of it) for everything else."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from app.templating import templates

# Paths whose clients are programs: their errors stay JSON whatever the Accept header.
JSON_PATHS = ("/api/", "/ws/")
JSON_EXACT = ("/healthz", "/readyz")
DEVICE_SCREENS = ("/kiosk", "/lobby")
HEADINGS = {
    400: "That request could not be read",
    403: "Not allowed here",
    404: "Page not found",
    405: "Not available this way",
    413: "That request is too large",
    422: "That request could not be used",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


class ApiError(Exception):
    """A refusal a client can act on: HTTP status, machine code, a sentence for a person."""

    def __init__(self, status_code: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.code = code
        self.detail = detail
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} was not found.")


def invalid(detail: str, **extra: Any) -> ApiError:
    return ApiError(422, "invalid", detail, **extra)


def wants_html(request: Request) -> bool:
    """Whether an error for `request` should be a page: not on an API path, and not for
    a client that asked for JSON rather than HTML."""
    path = request.url.path
    if path.startswith(JSON_PATHS) or path in JSON_EXACT:
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or "application/json" not in accept


def sign_in_path(path: str) -> str:
    """Where a person without credentials goes for `path`: kiosks and lobby TVs pair,
    staff sign in."""
    return "/pair" if path.endswith(DEVICE_SCREENS) else "/login"


def sign_in_redirect(request: Request) -> Response:
    """Send the person to sign in (or pair), then back to the page they asked for."""
    path = request.url.path
    return RedirectResponse(f"{sign_in_path(path)}?next={quote(path)}", 303)


def _ways_out(request: Request, status: int) -> list[tuple[str, str]]:
    path = request.url.path
    if status == 403:
        if path.endswith(DEVICE_SCREENS):
            return [("/pair", "Pair this screen again"), ("/login", "Sign in as staff")]
        return [("/login", "Sign in as someone else"), ("/", "Home")]
    if status in (500, 503):
        return [(quote(path), "Try again"), ("/", "Home")]
    return [("/", "Home"), ("/login", "Staff sign-in"), ("/pair", "Pair a kiosk or lobby screen")]


def error_page(request: Request, status: int, detail: str,
               headers: Mapping[str, str] | None = None) -> Response:
    """The HTML page for an error: its status, a sentence, and links out of it."""
    return templates.TemplateResponse(request, "error.html", {
        "status": status,
        "heading": HEADINGS.get(status, "That did not work"),
        "detail": detail,
        "links": _ways_out(request, status),
    }, status_code=status, headers=headers)


def error_response(request: Request, exc: ApiError,
                   headers: Mapping[str, str] | None = None) -> Response:
    """`exc` as the caller can use it: JSON for the API; for a person, a sign-in (or
    pairing) page when credentials are missing, else an error page."""
    if not wants_html(request):
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=headers)
    if exc.status_code == 401:
        return sign_in_redirect(request)
    return error_page(request, exc.status_code, exc.detail, headers)


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(request, exc)
