"""The day in numbers, for desk and admin staff: a page beside the day report, with
server-drawn charts, and its CSV."""

from __future__ import annotations

from datetime import date, timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import clock
from app.reports import charts, day_stats
from app.reports.stats_api import load
from app.templating import templates
from app.timefmt import site_weekday
from displays.reports import open_report, unreadable_date

DAY_HOURS = range(7, 20)  # the hours always shown; an earlier or later arrival widens it


def _hours(*series: list[int]) -> list[int]:
    busy = [h for s in series for h, n in enumerate(s) if n]
    return list(range(min([*busy, DAY_HOURS.start]), max([*busy, DAY_HOURS.stop - 1]) + 1))


async def stats_page(request: Request) -> Response:
    opened = await open_report(request)
    if isinstance(opened, Response):
        return opened
    site, day, error = opened
    if request.query_params.get("date") == "yesterday":  # the admin home's link
        before = date.fromisoformat(clock.local_date(clock.now(), site.tz)) - timedelta(days=1)
        return RedirectResponse(f"/sites/{site.id}/reports/stats?date={before}", 303)
    store = request.app.state.store
    today = await load(store, site, day)
    week_ago = (date.fromisoformat(day) - timedelta(days=7)).isoformat()
    before = await load(store, site, week_ago)
    hours = _hours(today.arrivals_by_hour, today.done_by_hour, before.arrivals_by_hour)
    labels = [f"{h:02d}" for h in hours]
    weekday = site_weekday(date.fromisoformat(day), site)
    context = {
        "site": site, "day": day, "error": error, "stats": today.to_json(), "hours": hours,
        "previous": (date.fromisoformat(day) - timedelta(days=1)).isoformat(),
        "queue_names": {q.id: q.name for q in site.queues},
        "arrivals_chart": charts.bar_chart(
            "Arrivals per hour", labels, [[today.arrivals_by_hour[h] for h in hours]]),
        "wait_chart": charts.bar_chart(
            "Patients by wait from check-in to call (minutes)",
            [label for label, _ in today.wait_histogram],
            [[n for _, n in today.wait_histogram]]),
        "week_chart": charts.bar_chart(
            f"Arrivals per hour, {weekday} {day} against {weekday} {week_ago}", labels,
            [[today.arrivals_by_hour[h] for h in hours],
             [before.arrivals_by_hour[h] for h in hours]], names=(day, week_ago)),
    }
    return templates.TemplateResponse(request, "report_stats.html", context,
                                      status_code=422 if error else 200)


async def stats_csv(request: Request) -> Response:
    opened = await open_report(request)
    if isinstance(opened, Response):
        return opened
    site, day, error = opened
    if error:
        return unreadable_date(request, error, f"/sites/{site.id}/reports/stats",
                               "Today's numbers")
    body = day_stats.stats_csv(await load(request.app.state.store, site, day))
    return Response(body, media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="day-{site.id}-{day}.csv"'})


routes = [
    Route("/sites/{site}/reports/stats", stats_page),
    Route("/sites/{site}/reports/stats.csv", stats_csv),
]
