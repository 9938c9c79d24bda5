"""Operations metrics in Prometheus's text format (`GET /metrics`), with prometheus-client.

The live path reports through one-line calls (`events_read`, `fanout_started` and
`fanout_done`, `redis_error`); HTTP latency is measured by `HttpMetrics`, labelled by the
route's template (`/api/v1/sites/{site}/visits/{visit_id}`), never by the path a caller
sent; sockets per audience, queue lengths and the longest current wait are taken when
scraped from what the process's hubs hold in memory (no Redis command). No series
carries a name, a ticket or a visit id: site and queue ids at most.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app import clock

REGISTRY = CollectorRegistry()
EVENTS = Counter("lobbyline_events", "Events read from the sites' streams; rate() gives "
                 "events per second.", registry=REGISTRY)
FANOUT = Histogram("lobbyline_fanout_seconds", "From a change handed to an audience's "
                   "fan-out until every socket of it has been handed that change.",
                   buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                   registry=REGISTRY)
HTTP = Histogram("lobbyline_http_request_seconds", "HTTP request latency by route.",
                 ["method", "route"], registry=REGISTRY)
REDIS_ERRORS = Counter("lobbyline_redis_errors", "Redis errors met, by where.", ["where"],
                       registry=REGISTRY)
SOCKETS = Gauge("lobbyline_sockets", "Open WebSockets by audience (lobby, board, kiosk, "
                "events).", ["audience"], registry=REGISTRY)
QUEUE_LENGTH = Gauge("lobbyline_queue_length", "Patients waiting, by site and queue.",
                     ["site", "queue"], registry=REGISTRY)
LONGEST_WAIT = Gauge("lobbyline_longest_wait_seconds", "The longest current wait since "
                     "check-in, by site and queue (0 when nobody waits).", ["site", "queue"],
                     registry=REGISTRY)
AUDIENCES = ("lobby", "board", "kiosk", "events")
for _where in ("http", "tail", "redraw"):
    REDIS_ERRORS.labels(_where)  # present, at 0, before the first error


def events_read(count: int) -> None:
    EVENTS.inc(count)


def fanout_started() -> float:
    return time.perf_counter()


def fanout_done(started: float) -> None:
    FANOUT.observe(time.perf_counter() - started)


def redis_error(where: str) -> None:
    REDIS_ERRORS.labels(where).inc()


class HttpMetrics:
    """ASGI middleware: each HTTP request's latency, by method and route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            HTTP.labels(scope["method"], route).observe(time.perf_counter() - started)


def count_sockets(hub: Any) -> None:
    """Set the socket gauge from the process's site hubs (app/live/hub.py)."""
    totals = dict.fromkeys(AUDIENCES, 0)
    for site_hub in list(getattr(hub, "sites", {}).values()):
        for audience, group in site_hub.screens.items():
            totals[audience] = totals.get(audience, 0) + len(group)
        totals["events"] += len(site_hub.events)
    for audience, n in totals.items():
        SOCKETS.labels(audience).set(n)


def measure_queues(hub: Any) -> None:
    """Set the queue gauges from the site states the process's hubs hold for their screens
    (app/live/hub.py): no Redis command, so a scrape costs what the process follows, not
    the number of sites. Only the sites with a screen open on this process are reported;
    each process following a site reports the same figures (docs/operations.md). The
    longest wait is the longest among the visits a screen lists (the first
    `SCREEN_LIMIT` of each queue)."""
    now_ms = clock.ms(clock.now())
    QUEUE_LENGTH.clear()
    LONGEST_WAIT.clear()
    for site_id, site_hub in sorted(list(getattr(hub, "sites", {}).items())):
        state = site_hub.state
        if state is None:
            continue
        for q in state.queues:
            times = [int(v["checked_in_ms"]) for v in q.waiting if v.get("checked_in_ms")]
            QUEUE_LENGTH.labels(site_id, q.id).set(q.total)
            LONGEST_WAIT.labels(site_id, q.id).set(
                max(0.0, (now_ms - min(times)) / 1000) if times else 0)


async def metrics(request: Request) -> Response:
    app = request.app
    count_sockets(app.state.hub)
    measure_queues(app.state.hub)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics)]
