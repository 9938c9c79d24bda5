"""The day's reconciliation (with its CSV) and the audit trail, for desk and admin staff.

Both read the per-day audit log, which holds no personal field, so they work for as long
as the log is kept (`AUDIT_RETENTION_DAYS`), long after the visits themselves expired.
"""

from __future__ import annotations

import re
from datetime import date

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import clock, reports
from app.access import devices
from app.access.screens import screen_access
from app.sites import Site
from app.storage.store import redis_of
from app.templating import templates
from app.timefmt import hour12

DAY_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
FILTER_MAX = 40


def _day(request: Request, site: Site) -> tuple[str, str | None]:
    """The asked-for local day (today by default), or today and a sentence saying why the
    one asked for cannot be read."""
    today = clock.local_date(clock.now(), site.tz)
    raw = request.query_params.get("date", "").strip()
    if not raw:
        return today, None
    try:
        if not DAY_RE.match(raw):
            raise ValueError
        date.fromisoformat(raw)
    except ValueError:
        return today, f"“{raw[:20]}” is not a date; pick one as YYYY-MM-DD. Showing today."
    return raw, None


async def open_report(request: Request) -> tuple[Site, str, str | None] | Response:
    """The site and day a report page asks for (with a sentence when its date could not
    be read), or where to send a caller who may not see it."""
    access = await screen_access(request, ("desk",), "/login")
    if isinstance(access, Response):
        return access
    site = access[1]
    return (site, *_day(request, site))


def unreadable_date(request: Request, error: str, today: str, label: str) -> Response:
    """422 for a download whose date could not be read, with a link to today's page."""
    return templates.TemplateResponse(request, "error.html", {
        "status": 422, "heading": "That date could not be read", "detail": error,
        "links": [(today, label)]}, status_code=422)


async def day_report(request: Request) -> Response:
    opened = await open_report(request)
    if isinstance(opened, Response):
        return opened
    site, day, error = opened
    store = request.app.state.store
    rec = reports.reconcile(await store.audit_log(site, day), site.tz, hour12(site))
    stats = await store.day_counts(site, day)
    return templates.TemplateResponse(request, "report_day.html", {
        "site": site, "day": day, "error": error, "rec": rec, "dollars": reports.dollars,
        "numbers": reports.day_numbers(stats)}, status_code=422 if error else 200)


async def day_csv(request: Request) -> Response:
    opened = await open_report(request)
    if isinstance(opened, Response):
        return opened
    site, day, error = opened
    if error:
        return unreadable_date(request, error, f"/sites/{site.id}/reports/day", "Today's report")
    rec = reports.reconcile(await request.app.state.store.audit_log(site, day), site.tz,
                            hour12(site))
    return Response(reports.reconciliation_csv(day, rec), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="copays-{site.id}-{day}.csv"'})


async def audit_page(request: Request) -> Response:
    opened = await open_report(request)
    if isinstance(opened, Response):
        return opened
    site, day, error = opened
    ticket = request.query_params.get("ticket", "")[:FILTER_MAX]
    actor = request.query_params.get("actor", "")[:FILTER_MAX]
    kind = request.query_params.get("kind", "")
    kind = kind if kind in reports.KINDS else ""
    entries = await request.app.state.store.audit_log(site, day)
    names = reports.device_names(entries, await devices.site_devices(redis_of(request),
                                                                     site.id))
    rows = reports.audit_rows(entries, site.tz, ticket=ticket, actor=actor,
                              twelve=hour12(site), kind=kind, site=site, devices=names)
    return templates.TemplateResponse(request, "report_audit.html", {
        "site": site, "day": day, "error": error, "rows": rows, "ticket": ticket,
        "actor": actor, "kind": kind, "kinds": reports.KINDS},
        status_code=422 if error else 200)


routes = [
    Route("/sites/{site}/reports/day", day_report),
    Route("/sites/{site}/reports/day.csv", day_csv),
    Route("/sites/{site}/reports/audit", audit_page),
]
