"""The day in numbers: a small scripted day whose numbers are known by hand, through the
real scripts (the clock set to each moment), read back as JSON, a page with charts and CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta

from helpers import TEST_SITE

from app import clock
from app.reports import charts
from app.reports.day_stats import day_stats, percentile
from app.sites import site_from_dict
from app.timefmt import site_weekday

# Two days ago, so that the visits checked in then are still within RETENTION_DAYS (they
# expire that long after their check-in) while the moves are scripted.
_DAY = date.today() - timedelta(days=2)
DAY = _DAY.isoformat()
WEEK_AGO = (_DAY - timedelta(days=7)).isoformat()
WEEKDAY = _DAY.strftime("%A")
SPANISH_WEEKDAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")


def at(site, day: str, hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime.fromisoformat(day).replace(hour=h, minute=m, tzinfo=site.tz)


async def script_day(api) -> None:
    """09:00 A (normal) and B (urgent) check in at Registration; B is called at 09:07 and
    roomed at 09:14, done at 09:30; A is called at 09:12 and never comes (no-show 09:40);
    C checks in at the lab at 10:00 and leaves at 10:20. A week before: one arrival."""
    site = api.site
    try:
        clock.configure(at(site, WEEK_AGO, "09:00"))
        await api.check_in(name="Last Week")
        clock.configure(at(site, DAY, "09:00"))
        a = await api.check_in(name="Ana Lima")
        b = await api.check_in(name="Bo Chen", priority=2)
        for hhmm, visit, action, body in (
            ("09:07", b, "call", {"room": "room-1"}),
            ("09:12", a, "call", {"room": "room-2"}),
            ("09:14", b, "room", {"room": "room-1"}),
            ("09:30", b, "done", {}),
            ("09:40", a, "no-show", {}),
        ):
            clock.configure(at(site, DAY, hhmm))
            r = await api.post(f"/visits/{visit['id']}/{action}", body)
            assert r.status_code == 200, r.text
        clock.configure(at(site, DAY, "10:00"))
        c = await api.check_in(queue="lab", name="Cy Diaz")
        clock.configure(at(site, DAY, "10:20"))
        assert (await api.post(f"/visits/{c['id']}/left")).status_code == 200
    finally:
        clock.configure()


async def test_the_numbers_of_a_scripted_day(api):
    await script_day(api)
    r = await api.get(f"/stats?date={DAY}")
    assert r.status_code == 200
    s = r.json()
    assert (s["arrivals"], s["seen"], s["no_shows"], s["left_without_being_seen"]) == (3, 1, 1, 1)
    assert s["wait"] == {"count": 2, "median": 7.0, "p90": 12.0, "longest": 12.0}
    assert s["call_to_room"]["median"] == 7.0
    assert s["door_to_done"]["median"] == 30.0
    assert s["arrivals_by_hour"][9:11] == [2, 1] and sum(s["arrivals_by_hour"]) == 3
    assert s["throughput_by_hour"][9] == 1 and sum(s["throughput_by_hour"]) == 1
    reg, lab = s["queues"]["reg"], s["queues"]["lab"]
    assert (reg["arrivals"], reg["no_shows"], lab["arrivals"], lab["left_without_being_seen"]) \
        == (2, 1, 1, 1)
    assert s["priorities"]["urgent"]["wait"]["median"] == 7.0
    assert s["priorities"]["normal"]["arrivals"] == 2
    assert "Ana" not in r.text and "Lima" not in r.text


async def test_the_numbers_outlive_the_visits_personal_data(api):
    await script_day(api)
    redis = api.app.state.store.redis
    async for key in redis.scan_iter(match=f"lq:{{{api.site.id}}}:visit:*"):
        await redis.delete(key)  # what RETENTION_DAYS does
    s = (await api.get(f"/stats?date={DAY}")).json()
    assert (s["arrivals"], s["wait"]["median"]) == (3, 7.0)


async def test_a_bad_date_is_refused_and_other_roles_are_not_let_in(api):
    r = await api.get("/stats?date=16/11/2026")
    assert r.status_code == 422 and r.json()["field"] == "date"
    assert (await api.get("/stats", role="kiosk")).status_code == 403


async def test_the_page_draws_its_charts_with_their_data_and_the_csv_matches(api):
    await script_day(api)
    page = await api.client.get(f"/sites/{api.site.id}/reports/stats",
                                params={"date": DAY}, headers=api.auth())
    assert page.status_code == 200
    assert "Ana" not in page.text
    svgs = dict(re.findall(r'<svg id="(chart-[a-z]+)"(.*?)</svg>', page.text, re.S))
    assert set(svgs) == {"chart-arrivals", "chart-waits", "chart-week"}
    bars = {k: re.findall(r'data-label="([^"]+)" data-value="(\d+)"', v) for k, v in svgs.items()}
    assert ("09", "2") in bars["chart-arrivals"] and ("10", "1") in bars["chart-arrivals"]
    assert ("5-10", "1") in bars["chart-waits"] and ("10-15", "1") in bars["chart-waits"]
    # The day against the same weekday before: 2 against 1 at nine.
    assert ('class="bar bar--1"' in svgs["chart-week"]
            and bars["chart-week"].count(("09", "1")) == 1)
    assert f"{WEEKDAY} {DAY} against {WEEKDAY} {WEEK_AGO}" in page.text

    got = await api.client.get(f"/sites/{api.site.id}/reports/stats.csv",
                               params={"date": DAY}, headers=api.auth())
    assert got.headers["content-type"].startswith("text/csv")
    rows = {row["slice"]: row for row in csv.DictReader(io.StringIO(got.text))}
    assert rows["all"]["arrivals"] == "3" and rows["all"]["wait_median"] == "7.0"
    assert rows["queue:lab"]["left_without_being_seen"] == "1"
    assert rows["priority:urgent"]["wait_median"] == "7.0"


async def test_a_spanish_site_names_the_weekdays_in_spanish(api, store):
    spanish = site_from_dict({"id": api.site.id, **TEST_SITE, "language": "es"})
    await store.save_site(spanish)
    page = await api.client.get(f"/sites/{api.site.id}/reports/stats",
                                params={"date": DAY}, headers=api.auth())
    assert page.status_code == 200
    weekday = SPANISH_WEEKDAYS[_DAY.weekday()]
    assert f"{weekday} {DAY} against {weekday} {WEEK_AGO}" in page.text
    assert WEEKDAY not in page.text


def test_a_weekday_is_written_in_the_sites_language():
    monday = date(2026, 11, 30)
    assert site_weekday(monday, site_from_dict({"id": "s", **TEST_SITE})) == "Monday"
    assert site_weekday(monday, site_from_dict({"id": "s", **TEST_SITE, "language": "de"})) \
        == "Montag"


def test_a_day_with_no_entries_is_all_zeros_and_no_durations():
    s = day_stats(DAY, [], clock.now().tzinfo).to_json()
    assert s["arrivals"] == 0 and s["wait"]["median"] is None


def test_a_return_to_the_queue_measures_the_second_wait_from_the_return():
    t0 = datetime.fromisoformat(DAY).replace(hour=9, tzinfo=clock.now().tzinfo)

    def e(kind: str, minutes: int, **kw):
        return {"type": kind, "at": (t0 + timedelta(minutes=minutes)).isoformat(),
                "visit_id": "v1", "queue": "reg", **kw}

    s = day_stats(DAY, [e("visit.checked_in", 0), e("visit.called", 4), e("visit.returned", 6),
                        e("visit.called", 9)], t0.tzinfo)
    assert sorted(s.site.wait.values) == [3.0, 4.0]


def test_percentile_is_nearest_rank():
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9
    assert percentile([7], 50) == 7 and percentile([], 50) is None


def test_chart_bars_scale_to_a_round_top():
    c = charts.bar_chart("t", ["a", "b"], [[3, 7]])
    tall, short = c.bars[1], c.bars[0]
    assert tall.height > short.height and c.y_ticks[-1][1] == 10


async def test_yesterday_is_one_click_from_the_admin_home(api):
    home = await api.client.get(f"/sites/{api.site.id}/admin", headers=api.auth("admin"))
    assert "reports/stats?date=yesterday" in home.text
    r = await api.client.get(f"/sites/{api.site.id}/reports/stats", params={"date": "yesterday"},
                             headers=api.auth("admin"))
    yesterday = datetime.fromisoformat(clock.local_date(clock.now(), api.site.tz)) - timedelta(1)
    assert r.status_code == 303
    assert r.headers["location"].endswith(f"stats?date={yesterday.date().isoformat()}")
