"""The day in numbers as JSON: `GET /api/v1/sites/{site}/stats?date=` (docs/api.md).

Read from the per-day audit log, which holds no personal field, so a day's numbers can be
had for as long as the log is kept (`AUDIT_RETENTION_DAYS`), long after the visits
themselves expired.
"""

from __future__ import annotations

import re
from datetime import date

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import clock
from app.access.auth import require
from app.errors import invalid
from app.reports.day_stats import DayStats, day_stats
from app.sites import Site
from app.storage.store import Store

DAY_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def parse_day(raw: str | None, site: Site) -> str:
    """The local day asked for (YYYY-MM-DD), today when none; 422 naming `date` else."""
    if not raw:
        return clock.local_date(clock.now(), site.tz)
    try:
        if not DAY_RE.match(raw):
            raise ValueError
        date.fromisoformat(raw)
    except ValueError:
        raise invalid("'date' must be a day written YYYY-MM-DD.", field="date") from None
    return raw


async def load(store: Store, site: Site, day: str) -> DayStats:
    """The numbers of one local day of the site."""
    return day_stats(day, await store.audit_log(site, day), site.tz)


async def stats(request: Request) -> Response:
    _, site = await require(request, request.path_params["site"], ("desk",))
    day = parse_day(request.query_params.get("date"), site)
    return JSONResponse((await load(request.app.state.store, site, day)).to_json())


routes = [Route("/api/v1/sites/{site}/stats", stats)]
