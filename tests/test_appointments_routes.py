"""docs/api.md's Appointments calls over HTTP: import in each format, the day's list, refusals."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import Api

from app import clock
from app.sites import Site

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "tests" / "data" / "fhir-schedule-bundle.json"

@pytest.fixture
def site(chicago_site: Site) -> Site:
    """This module's schedules are written for a clinic in Chicago."""
    return chicago_site



def tomorrow(site: Site, hour: int = 9, minute: int = 0) -> datetime:
    day = clock.now().astimezone(site.tz).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=site.tz)


def entry(site: Site, id_: str, last: str, minute: int = 0, **more: Any) -> dict[str, Any]:
    return {"id": id_, "start": tomorrow(site, 9, minute).isoformat(), "first_name": "Pat",
            "last_name": last, "birth_date": "1970-01-02", **more}


async def test_import_a_json_list_then_list_the_day_in_order(api: Api) -> None:
    site = api.site
    r = await api.post("/appointments", [
        entry(site, "a2", "Núñez", 30, provider="Dr. Kim"),
        entry(site, "a1", "O'Brien", 0, queue="lab"),
        {"first_name": "No", "last_name": "Start", "birth_date": "1970-01-01"},
    ])
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 2 and r.json()["updated"] == 0
    assert [e["index"] for e in r.json()["errors"]] == [2]
    assert "'start' is missing" in r.json()["errors"][0]["detail"]
    day = tomorrow(site).date().isoformat()
    listed = await api.get(f"/appointments?date={day}")
    assert listed.status_code == 200
    body = listed.json()["appointments"]
    assert [a["id"] for a in body] == ["a1", "a2"]
    first = body[0]
    assert {"id", "site", "start", "queue", "provider", "first_name", "last_name",
            "birth_date", "code", "status"} <= set(first)
    assert (first["site"], first["queue"], first["status"]) == (site.id, "lab", "booked")
    assert datetime.fromisoformat(first["start"]) == tomorrow(site)
    assert first["start"].endswith(("-06:00", "-05:00"))
    assert len(first["code"]) == 6 and body[1]["provider"] == "Dr. Kim"


async def test_reimport_updates_and_cancels(api: Api) -> None:
    site = api.site
    await api.post("/appointments", [entry(site, "a1", "Lee")])
    r = await api.post("/appointments", [entry(site, "a1", "Lee", status="cancelled")])
    assert r.json() == {"imported": 0, "updated": 1, "errors": []}
    day = tomorrow(site).date().isoformat()
    listed = (await api.get(f"/appointments?date={day}")).json()["appointments"]
    assert [(a["id"], a["status"]) for a in listed] == [("a1", "cancelled")]


async def test_import_a_fhir_bundle(api: Api) -> None:
    r = await api.post_raw("/appointments", BUNDLE.read_bytes(), "application/fhir+json")
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 4
    assert [e["index"] for e in r.json()["errors"]] == [7, 11, 12]
    again = await api.post_raw("/appointments", BUNDLE.read_bytes(), "application/fhir+json")
    assert (again.json()["imported"], again.json()["updated"]) == (0, 4)
    listed = (await api.get("/appointments?date=2026-11-20")).json()["appointments"]
    assert [a["id"] for a in listed] == ["appt-5001", "appt-5002", "appt-5003", "appt-5005"]
    assert listed[-1]["start"] == "2026-11-20T10:30:00-06:00"


async def test_import_csv(api: Api) -> None:
    text = (ROOT / "docs" / "sample-schedule.csv").read_text()
    r = await api.post_raw("/appointments", text, "text/csv; charset=utf-8")
    assert r.json() == {"imported": 5, "updated": 0, "errors": []}


async def test_an_admin_may_import(api: Api) -> None:
    r = await api.post("/appointments", [entry(api.site, "a1", "Lee")], role="admin")
    assert r.status_code == 200


@pytest.mark.parametrize(("body", "content_type", "status", "code"), [
    ("[{", "application/json", 400, "bad_json"),
    ("{\"resourceType\": ", "application/fhir+json", 400, "bad_json"),
    ("{\"start\": \"x\"}", "application/json", 422, "invalid"),
    ("[]", "application/fhir+json", 422, "invalid"),
    ("\"text\"", "application/json", 422, "invalid"),
    ("", "application/json", 422, "invalid"),
    ("{\"resourceType\": \"Patient\"}", "application/fhir+json", 422, "invalid"),
    ("name\nx\n", "text/csv", 422, "invalid"),
    (b"\xff\xfe[]", "application/json", 400, "bad_json"),
    ('[{"first_name": "Jo\\ud800"}]', "application/json", 400, "bad_json"),
])
async def test_a_body_that_cannot_be_read_is_refused(api: Api, body: str | bytes,
                                                     content_type: str, status: int,
                                                     code: str) -> None:
    r = await api.post_raw("/appointments", body, content_type)
    assert r.status_code == status, r.text
    assert r.json()["error"] == code and r.json()["detail"][:1].isupper()


async def test_an_empty_list_imports_nothing(api: Api) -> None:
    r = await api.post("/appointments", [])
    assert r.json() == {"imported": 0, "updated": 0, "errors": []}


@pytest.mark.parametrize(("role", "status"), [("kiosk", 403), ("display", 403)])
async def test_only_desk_and_admin_may_import_or_list(api: Api, role: str,
                                                      status: int) -> None:
    assert (await api.post("/appointments", [], role=role)).status_code == status
    assert (await api.get("/appointments", role=role)).status_code == status


async def test_no_credentials_and_unknown_site(api: Api) -> None:
    r = await api.client.get(api.base + "/appointments")
    assert r.status_code == 401
    r = await api.client.get("/api/v1/sites/nosuchsite/appointments",
                                  headers=api.auth())
    assert r.status_code in (403, 404)


@pytest.mark.parametrize("date", ["2026-2-30", "tomorrow", "20261120"])
async def test_a_bad_date_is_refused(api: Api, date: str) -> None:
    r = await api.get(f"/appointments?date={date}")
    assert r.status_code == 422
    assert r.json()["error"] == "invalid" and "YYYY-MM-DD" in r.json()["detail"]


async def test_without_a_date_the_list_is_today_in_the_site_time_zone(api: Api) -> None:
    site = api.site
    now = clock.now().astimezone(site.tz)
    await api.post("/appointments", [
        {"id": "today", "start": now.isoformat(), "first_name": "A", "last_name": "B",
         "birth_date": "1970-01-01"},
        entry(site, "tomorrow", "C")])
    listed = (await api.get("/appointments")).json()["appointments"]
    assert [a["id"] for a in listed] == ["today"]


ODD = [
    b"null", b"42", b"[null]", b"[42]", b'[{"start": 5}]', b'[{"start": ["x"]}]',
    b'[{"first_name": {"a": 1}}]', b'[{"code": ["AB12"]}]', b'[{"queue": ["reg"]}]',
    b'[{"birth_date": 19700101}]', b'[{"id": null, "start": "2026-11-20T09:00\\u0000"}]',
    b'[{"end": 7, "start": "2026-11-20T09:00"}]', b"[" * 5000 + b"]" * 5000,
    b'{"resourceType": "Bundle", "type": "collection", "entry": [1, {"resource": 2}, '
    b'{"resource": {"resourceType": "Appointment", "participant": "x"}}, '
    b'{"resource": {"resourceType": "Patient", "name": 5}}, '
    b'{"resource": {"resourceType": "Practitioner", "name": 5}}]}',
]


@pytest.mark.parametrize("body", ODD)
async def test_odd_bodies_answer_4xx_or_per_entry_errors_never_500(api: Api,
                                                                    body: bytes) -> None:
    r = await api.post_raw("/appointments", body, "application/json")
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        assert r.json()["imported"] == 0 and r.json()["errors"]
    else:
        assert set(r.json()) >= {"error", "detail"}


@pytest.mark.parametrize("body", ["\r0", "start,first_name,last_name,birth_date\n" + "x" * 200_000])
async def test_a_csv_the_parser_cannot_read_is_a_422_not_a_500(api: Api, body: str) -> None:
    r = await api.post_raw("/appointments", body, "text/csv")
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid"
