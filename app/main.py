"""The Starlette application: routes, the Redis clients, the hub, and their lifetimes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from itsdangerous import URLSafeSerializer
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from app import api, clock, collector, metrics, openapi
from app.access import admin, auth, body_limit, csrf, headers, log_redact, signin
from app.appointments import routes as appointment_routes
from app.appointments import sweep
from app.appointments.store import AppointmentStore
from app.config import ConfigError, Settings
from app.desk import help_calls, messages
from app.desk import routes as desk_routes
from app.desk.records import DeskStore
from app.errors import ApiError, api_error_handler, error_response
from app.live import in_flight, ws
from app.live.hub import Hub
from app.reports import stats_api
from app.reports.day_close import DayCloser, run_closer
from app.storage import redis_client
from app.storage.store import Store
from app.templating import templates
from displays import board, lobby, phone, reports, stats
from kiosk import fragments as kiosk_fragments
from kiosk import routes as kiosk_routes

STATIC = Path(__file__).resolve().parent.parent / "static"


HTTP_ERRORS = {
    404: ("not_found", "There is nothing at this address."),
    405: ("method_not_allowed", "This address does not take that kind of request."),
}


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code, sentence = HTTP_ERRORS.get(exc.status_code, ("http_error", exc.detail))
    return error_response(request, ApiError(exc.status_code, code, sentence),
                          headers=exc.headers)


async def redis_down(request: Request, exc: Exception) -> Response:
    metrics.redis_error("http")
    return error_response(request, ApiError(
        503, "unavailable", "The queue store is not reachable; try again shortly."))


async def server_error(request: Request, exc: Exception) -> Response:
    # Starlette still logs the exception and re-raises it to the server after this. Its
    # answer comes from the outermost middleware, outside SecurityHeaders: set them here.
    response = error_response(request, ApiError(
        500, "internal", "Something went wrong on the server; it has been logged."))
    response.headers.update(headers.security_headers(
        request.url.path, request.app.state.settings.secure_cookies))
    return response


async def home(request: Request) -> Response:
    return RedirectResponse("/login", 303)


# Every page a cookie holder sees carries its CSRF token; staff pages lock when idle.
templates.env.globals.update(csrf_token=csrf.token_for,
                             idle_lock_seconds=auth.idle_lock_seconds)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    if settings.redis_url is None:
        raise ConfigError("REDIS_URL is not set; `python -m app serve` starts an embedded "
                          "Redis for you, or set REDIS_URL=redis://host:6379/0.")
    clock.configure(settings.clock_start, settings.clock_speed)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log_redact.install()
        redis = await redis_client.connect(settings.redis_url)
        store = Store(redis, settings)
        app.state.settings = settings
        app.state.store = store
        app.state.appointments = AppointmentStore(redis, settings)
        app.state.desk = DeskStore(redis, settings)
        app.state.signer = URLSafeSerializer(settings.secret_key, salt="device")
        app.state.hub = Hub(store, {
            "lobby": lobby.fragments,
            "board": board.fragments,
            "kiosk": kiosk_fragments.kiosk,
        }, settings)
        stop = asyncio.Event()
        sweeper = asyncio.create_task(
            sweep.run_sweeper(store, app.state.appointments, settings.noshow_margin_minutes,
                              stop),
            name="no-show sweep")
        closer = asyncio.create_task(
            run_closer(store, DayCloser(redis, settings), stop), name="day close")
        restore_collector = collector.tune()
        try:
            yield
        finally:
            restore_collector()
            stop.set()
            for task in (sweeper, closer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.hub.stop()
            await redis.aclose()

    return Starlette(
        routes=[
            Route("/", home),
            *desk_routes.routes,  # before the API's /visits/{id}/{action}
            *api.routes,
            *openapi.routes,
            *messages.routes,
            *help_calls.routes,
            *appointment_routes.routes,
            *ws.routes,
            *signin.routes,
            *admin.routes,
            *lobby.routes,
            *phone.routes,
            *board.routes,
            *reports.routes,
            *stats.routes,
            *stats_api.routes,
            *metrics.routes,
            *kiosk_routes.routes,
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={ApiError: api_error_handler, HTTPException: http_error,
                            RedisError: redis_down, Exception: server_error},
        middleware=[Middleware(metrics.HttpMetrics), Middleware(in_flight.CountRequests),
                    Middleware(headers.SecurityHeaders), Middleware(body_limit.BodyLimit),
                    Middleware(csrf.CsrfMiddleware)],
        lifespan=lifespan,
    )
