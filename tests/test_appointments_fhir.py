"""FHIR R4 out: Appointment and Encounter searchset Bundles that `fhir.resources` accepts,
with docs/appointments.md's status mapping and the room as the Encounter's location."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.encounter import Encounter
from helpers import Api

from app import clock
from app.appointments.fhir import (
    ENCOUNTER_STATUS,
    appointment_resource,
    encounter_resource,
    patient_resource,
    searchset,
)
from app.appointments.formats import parse_fhir_bundle
from app.appointments.model import validate_entry
from app.sites import Site, site_from_dict

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "tests" / "data" / "fhir-schedule-bundle.json"
SECRET = "s" * 40
SITE = site_from_dict({
    "id": "clinic", "timezone": "America/Chicago",
    "queues": [{"id": "reg", "name": "Registration", "prefix": "A"}],
    "rooms": [{"id": "room-1", "name": "Room 1"}],
})
NOW = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)

@pytest.fixture
def site(chicago_site: Site) -> Site:
    """This module's schedules are written for a clinic in Chicago."""
    return chicago_site



def appointment(**changes: Any) -> Any:
    return validate_entry({"id": "a1", "start": "2026-11-20T09:00", "first_name": "José",
                           "last_name": "O'Brien", "birth_date": "1970-01-02",
                           "code": "KX7P2M", "provider": "Dr. Kim", **changes}, SITE, SECRET)


def visit(**changes: str) -> dict[str, str]:
    return {"id": "0a1b2c3d4e5f6789", "ticket": "A001", "queue": "reg", "status": "waiting",
            "name": "Mary Lee", "checked_in_at": "2026-11-20T15:00:00.000+00:00",
            "checked_in_ms": "1795186800000", "appointment_id": "a1", **changes}


@pytest.mark.parametrize("status", ["booked", "arrived", "fulfilled", "noshow", "cancelled"])
def test_appointment_resource_validates_as_r4(status: str) -> None:
    resource = appointment_resource(appointment(status=status), SITE)
    parsed = FhirAppointment.model_validate(resource)
    assert parsed.status == status
    assert parsed.start == datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    assert parsed.end > parsed.start
    assert parsed.identifier[0].value == "KX7P2M"
    assert parsed.participant[0].actor.display == "José O'Brien"
    assert parsed.participant[1].actor.display == "Dr. Kim"


@pytest.mark.parametrize(("status", "fhir"), sorted(ENCOUNTER_STATUS.items()))
def test_encounter_status_mapping(status: str, fhir: str) -> None:
    resource = encounter_resource(visit(status=status), SITE)
    assert Encounter.model_validate(resource).status == fhir


def test_design_md_mapping() -> None:
    assert ENCOUNTER_STATUS["waiting"] == "arrived"
    assert ENCOUNTER_STATUS["called"] == ENCOUNTER_STATUS["in_room"] == "in-progress"
    assert ENCOUNTER_STATUS["done"] == "finished"
    assert ENCOUNTER_STATUS["left"] == "cancelled"


def test_the_room_is_the_encounters_location() -> None:
    in_room = Encounter.model_validate(encounter_resource(visit(
        status="in_room", room="room-1", last_room="room-1",
        called_at="2026-11-20T15:05:00.000+00:00",
        roomed_at="2026-11-20T15:06:00.000+00:00"), SITE))
    assert in_room.location[0].location.display == "Room 1"
    assert in_room.location[0].status == "active"
    assert in_room.appointment[0].reference == "Appointment/a1"
    assert [h.status for h in in_room.statusHistory] == ["arrived", "in-progress"]
    done = Encounter.model_validate(encounter_resource(visit(
        status="done", room="", last_room="room-1",
        done_at="2026-11-20T15:30:00.000+00:00"), SITE))
    assert done.location[0].status == "completed"
    assert done.period.end == datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    waiting = encounter_resource(visit(), SITE)
    assert "location" not in waiting


def test_searchset_bundle_validates_and_round_trips() -> None:
    appts = [appointment(), appointment(id="a2", start="2026-11-20T10:00", code="")]
    bundle = searchset([appointment_resource(a, SITE, True) for a in appts],
                       "https://clinic.example/fhir", "https://clinic.example/fhir/x",
                       NOW, included=[patient_resource(a) for a in appts])
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "searchset" and parsed.total == 2
    assert [e.search.mode for e in parsed.entry] == ["match", "match", "include", "include"]
    back = parse_fhir_bundle(bundle, SITE, SECRET, NOW)
    assert back.errors == []
    again = {a.id: a for _, a in back.appointments}
    assert again["a1"].last_name == "O'Brien" and again["a1"].code == "KX7P2M"
    assert again["a1"].start == appts[0].start and again["a2"].birth_date == "1970-01-02"


async def test_fhir_appointment_search_over_http(api: Api) -> None:
    await api.post_raw("/appointments", BUNDLE.read_bytes(), "application/fhir+json")
    r = await api.get("/fhir/Appointment?date=2026-11-20")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(r.json())
    assert bundle.type == "searchset" and bundle.total == 4
    statuses = {e.resource.id: e.resource.status for e in bundle.entry}
    assert statuses == {"appt-5001": "booked", "appt-5002": "booked",
                        "appt-5003": "cancelled", "appt-5005": "booked"}
    first = bundle.entry[0]
    assert first.fullUrl.endswith(f"/api/v1/sites/{api.site.id}/fhir/Appointment/appt-5001")
    assert first.resource.participant[0].actor.reference == "Patient/p-1001"
    included = await api.get(
        "/fhir/Appointment?date=2026-11-20&_include=Appointment:patient")
    assert len(Bundle.model_validate(included.json()).entry) == 8
    assert (await api.get("/fhir/Appointment?date=2026-11-20&_include=x")).status_code \
        == 422


async def test_fhir_encounter_search_over_http(api: Api) -> None:
    visit_a = await api.check_in(name="Mary Lee")
    visit_b = await api.check_in(name="Ann Kim")
    await api.post(f"/visits/{visit_b['id']}/room", {"room": "room-2"})
    r = await api.get("/fhir/Encounter")
    assert r.status_code == 200
    bundle = Bundle.model_validate(r.json())
    assert bundle.total == 2
    encounters = {e.resource.id: e.resource for e in bundle.entry}
    assert encounters[visit_a["id"]].status == "arrived"
    assert encounters[visit_b["id"]].status == "in-progress"
    assert encounters[visit_b["id"]].location[0].location.display == "Room 2"
    assert encounters[visit_a["id"]].identifier[0].value == visit_a["ticket"]
    empty = await api.get("/fhir/Encounter?date=2001-01-01")
    assert Bundle.model_validate(empty.json()).total == 0
    assert (await api.get("/fhir/Encounter?date=bad")).status_code == 422
    assert (await api.get("/fhir/Encounter", role="kiosk")).status_code == 403


async def test_fhir_appointment_status_follows_check_in_and_done(api: Api) -> None:
    site = api.site
    now = clock.now().astimezone(site.tz)
    await api.post("/appointments", [{"id": "a1", "start": now.isoformat(),
                                           "first_name": "A", "last_name": "B",
                                           "birth_date": "1970-01-01"}])
    v = await api.check_in(appointment_id="a1")
    r = await api.get("/fhir/Appointment")
    assert Bundle.model_validate(r.json()).entry[0].resource.status == "arrived"
    await api.post(f"/visits/{v['id']}/call")
    await api.post(f"/visits/{v['id']}/done")
    r = await api.get("/fhir/Appointment")
    assert Bundle.model_validate(r.json()).entry[0].resource.status == "fulfilled"
    enc = Bundle.model_validate((await api.get("/fhir/Encounter")).json()).entry[0]
    assert enc.resource.status == "finished"
    assert enc.resource.appointment[0].reference == "Appointment/a1"
