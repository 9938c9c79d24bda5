"""Parsing schedules: our JSON list, CSV, and FHIR R4 Bundles."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.appointments.formats import (
    BadJson,
    ScheduleError,
    parse_csv,
    parse_document,
    parse_fhir_bundle,
    parse_json_list,
)
from app.sites import site_from_dict

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "tests" / "data" / "fhir-schedule-bundle.json"
SAMPLE_CSV = ROOT / "docs" / "sample-schedule.csv"
CHICAGO = ZoneInfo("America/Chicago")
SECRET = "s" * 40
NOW = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
SITE = site_from_dict({
    "id": "clinic",
    "timezone": "America/Chicago",
    "queues": [{"id": "reg", "name": "Registration", "prefix": "A"},
               {"id": "lab", "name": "Lab", "prefix": "L"}],
})


def bundle() -> dict[str, Any]:
    return json.loads(BUNDLE.read_text())


def by_id(parsed: Any) -> dict[str, Any]:
    return {a.id: a for _, a in parsed.appointments}


def test_json_list_keeps_good_entries_and_reports_bad_ones_by_position() -> None:
    parsed = parse_json_list([
        {"id": "a1", "start": "2026-11-20T09:00", "first_name": "Mary", "last_name": "O'Brien",
         "birth_date": "1970-01-02"},
        {"id": "a2", "start": "2026-11-20T09:15", "first_name": "Jo", "last_name": "Kim"},
        "not an object",
        {"id": "a3", "start": "2026-11-20T09:30", "first_name": "Ann", "last_name": "Lee",
         "birth_date": "1980-05-06", "queue": "lab"},
    ], SITE, SECRET, NOW)
    assert [i for i, _ in parsed.appointments] == [0, 3]
    assert [e["index"] for e in parsed.errors] == [1, 2]
    assert "birth_date" in parsed.errors[0]["detail"]


def test_json_must_be_a_list() -> None:
    with pytest.raises(ScheduleError, match="JSON list"):
        parse_json_list({"start": "x"}, SITE, SECRET, NOW)


def test_the_same_id_twice_in_one_import_is_an_error_of_the_second() -> None:
    one = {"id": "a1", "start": "2026-11-20T09:00", "first_name": "Mary",
           "last_name": "Lee", "birth_date": "1970-01-02"}
    parsed = parse_json_list([one, one], SITE, SECRET, NOW)
    assert len(parsed.appointments) == 1
    assert parsed.errors == [{"index": 1, "detail": parsed.errors[0]["detail"]}]
    assert "also entry 0" in parsed.errors[0]["detail"]


def test_sample_csv_imports_every_row() -> None:
    parsed = parse_csv(SAMPLE_CSV.read_text(), SITE, SECRET, NOW)
    assert parsed.errors == []
    appts = by_id(parsed)
    assert len(appts) == 5
    assert appts["appt-1003"].queue == "lab" and appts["appt-1003"].code == "RQ4T7Z"
    assert appts["appt-1004"].start == datetime(2026, 11, 20, 9, 15, tzinfo=CHICAGO)
    assert appts["appt-1005"].status == "cancelled"
    assert appts["appt-1002"].first_name == "José"


def test_csv_with_semicolons_bom_date_and_time_columns_and_blank_lines() -> None:
    text = ("\ufeffFirst Name;Last Name;Birth Date;Date;Time\n"
            "Mary;O'Brien;1970-01-02;2026-11-20;09:00\n\n"
            "Ann;Lee;1980-5-6;2026-11-20;09:30\n")
    parsed = parse_csv(text, SITE, SECRET, NOW)
    assert [a.start for _, a in parsed.appointments] == [
        datetime(2026, 11, 20, 9, 0, tzinfo=CHICAGO)]
    assert parsed.errors[0]["index"] == 1
    assert parsed.errors[0]["detail"].startswith("line 4: 'birth_date'")


def test_csv_row_with_too_many_values_is_reported() -> None:
    text = "start,first_name,last_name,birth_date\n2026-11-20T09:00,A,B,1970-01-01,extra\n"
    parsed = parse_csv(text, SITE, SECRET, NOW)
    assert "more values" in parsed.errors[0]["detail"]


def test_csv_with_old_mac_line_ends_is_read_as_lines() -> None:
    text = "start,first_name,last_name,birth_date\r2026-11-20T09:00,A,B,1970-01-01\r"
    parsed = parse_csv(text, SITE, SECRET, NOW)
    assert parsed.errors == [] and len(by_id(parsed)) == 1


def test_csv_the_csv_module_cannot_read_is_refused_as_a_whole() -> None:
    """A field past the csv module's size limit was a 500 (found by the API fuzz)."""
    text = "start,first_name,last_name,birth_date\n" + "x" * 200_000 + "\n"
    with pytest.raises(ScheduleError, match="cannot be read at line"):
        parse_csv(text, SITE, SECRET, NOW)


@pytest.mark.parametrize(("text", "says"), [
    ("", "empty"),
    ("start,first_name,last_name\n", "'birth_date'"),
    ("first_name,last_name,birth_date\n", "'start'"),
])
def test_csv_without_the_required_columns_is_refused_as_a_whole(text: str, says: str) -> None:
    with pytest.raises(ScheduleError, match=says):
        parse_csv(text, SITE, SECRET, NOW)


def test_fhir_bundle_imports_good_appointments_and_explains_the_rest() -> None:
    parsed = parse_fhir_bundle(bundle(), SITE, SECRET, NOW)
    appts = by_id(parsed)
    assert set(appts) == {"appt-5001", "appt-5002", "appt-5003", "appt-5005"}
    errors = {e["index"]: e["detail"] for e in parsed.errors}
    assert set(errors) == {7, 11, 12}
    assert "has no birthDate" in errors[7] and errors[7].startswith("Appointment/appt-5004")
    assert "'proposed'" in errors[11]
    assert "Patient/p-9999 is not in the bundle" in errors[12]


def test_fhir_patients_resolve_by_urn_uuid_relative_and_absolute_references() -> None:
    appts = by_id(parse_fhir_bundle(bundle(), SITE, SECRET, NOW))
    obrien = appts["appt-5001"]
    assert (obrien.first_name, obrien.last_name, obrien.birth_date) == (
        "Mary Kathleen", "O'Brien", "1958-03-14")
    assert obrien.code == "KX7P2M"
    assert obrien.provider == "Dr. Daniel Kim"
    assert obrien.patient_ref == "Patient/p-1001"
    assert appts["appt-5002"].last_name == "Núñez"
    assert appts["appt-5005"].last_name == "Rahman"


def test_fhir_statuses_durations_queues_and_time_zones() -> None:
    appts = by_id(parse_fhir_bundle(bundle(), SITE, SECRET, NOW))
    assert appts["appt-5003"].status == "cancelled"
    assert appts["appt-5002"].end - appts["appt-5002"].start == timedelta(minutes=30)
    # 11:30 in New York is 10:30 at a Chicago site.
    assert appts["appt-5005"].start == datetime(2026, 11, 20, 10, 30, tzinfo=CHICAGO)
    assert appts["appt-5005"].start.utcoffset() == timedelta(hours=-6)
    assert appts["appt-5005"].queue == "lab"
    assert appts["appt-5001"].queue == "reg"


def test_fhir_resource_that_does_not_validate_is_reported_with_its_field() -> None:
    data = bundle()
    data["entry"][1]["resource"]["start"] = "20 Nov 2026 9am"
    data["entry"][2]["resource"]["birthDate"] = "1984-13-02"
    errors = {e["index"]: e["detail"] for e in parse_fhir_bundle(data, SITE, SECRET,
                                                                  NOW).errors}
    assert "not a valid FHIR R4 Appointment (start:" in errors[1]
    assert "Patient/p-1002 (entry 2) is not valid FHIR R4 (birthDate:" in errors[3]


def test_fhir_appointment_without_a_patient_or_start_is_reported() -> None:
    data = bundle()
    data["entry"][1]["resource"]["participant"] = data["entry"][1]["resource"]["participant"][1:]
    del data["entry"][3]["resource"]["start"]
    errors = {e["index"]: e["detail"] for e in parse_fhir_bundle(data, SITE, SECRET,
                                                                  NOW).errors}
    assert "no patient participant" in errors[1]
    assert "no start time" in errors[3]


@pytest.mark.parametrize("data", [
    [], {"resourceType": "Patient"}, {"resourceType": "Bundle", "entry": {}},
    {"resourceType": "Bundle", "entry": []},
])
def test_a_document_that_is_not_a_bundle_is_refused(data: Any) -> None:
    with pytest.raises(ScheduleError):
        parse_fhir_bundle(data, SITE, SECRET, NOW)


def test_an_entry_without_a_resource_is_reported() -> None:
    data = bundle()
    data["entry"].append({"fullUrl": "urn:uuid:x"})
    parsed = parse_fhir_bundle(data, SITE, SECRET, NOW)
    assert {"index": len(data["entry"]) - 1, "detail": "this entry has no resource."} in \
        parsed.errors


def test_documents_are_told_apart_by_name_type_and_content() -> None:
    csv_text = SAMPLE_CSV.read_text()
    assert len(parse_document(csv_text, SITE, SECRET, NOW).appointments) == 5
    assert len(parse_document(csv_text, SITE, SECRET, NOW, name="day.csv").appointments) == 5
    fhir_text = BUNDLE.read_text()
    assert len(parse_document(fhir_text, SITE, SECRET, NOW).appointments) == 4
    assert len(parse_document(fhir_text, SITE, SECRET, NOW,
                              content_type="application/fhir+json").appointments) == 4
    with pytest.raises(ScheduleError, match="must be a Bundle"):
        parse_document("[]", SITE, SECRET, NOW, content_type="application/fhir+json")
    with pytest.raises(BadJson, match="line 1"):
        parse_document("[{", SITE, SECRET, NOW)


def test_parsing_does_not_change_the_document() -> None:
    data = bundle()
    before = copy.deepcopy(data)
    parse_fhir_bundle(data, SITE, SECRET, NOW)
    assert data == before
