"""The appointment's pure parts: names, codes, validation, the arrival window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.appointments.demo import demo_appointments, kiosk_examples
from app.appointments.model import (
    CODE_ALPHABET,
    Appointment,
    EntryError,
    appointment_json,
    arrival_flags,
    derived_id,
    effective_status,
    new_code,
    normalise_code,
    normalise_name,
    parse_day,
    validate_entry,
    who_digest,
    window_days,
)
from app.sites import site_from_dict

CHICAGO = ZoneInfo("America/Chicago")
SECRET = "s" * 40
SITE = site_from_dict({
    "id": "clinic",
    "timezone": "America/Chicago",
    "queues": [{"id": "reg", "name": "Registration", "prefix": "A"},
               {"id": "lab", "name": "Lab", "prefix": "L"}],
})
START = datetime(2026, 11, 20, 9, 0, tzinfo=CHICAGO)


def entry(**changes: object) -> dict[str, object]:
    return {"start": "2026-11-20T09:00", "first_name": "Mary", "last_name": "O'Brien",
            "birth_date": "1970-01-02", **changes}


@pytest.mark.parametrize(("a", "b"), [
    ("O'Brien", "obrien"),
    ("José", "Jose"),
    ("Smith-Jones", "smith jones"),
    ("O\u2019Brien", "O'BRIEN"),
    ("Núñez", "nunez"),
    ("  van der Berg ", "VanDerBerg"),
])
def test_names_that_differ_in_case_accents_and_punctuation_normalise_alike(a: str,
                                                                            b: str) -> None:
    assert normalise_name(a) == normalise_name(b)


def test_different_names_stay_different() -> None:
    assert normalise_name("Smith") != normalise_name("Smyth")


def test_codes_use_only_unambiguous_characters() -> None:
    codes = {new_code() for _ in range(500)}
    assert len(codes) > 490
    assert all(len(c) == 6 for c in codes)
    assert not set("".join(codes)) & set("0O1I")
    assert set("".join(codes)) <= set(CODE_ALPHABET)


def test_code_as_typed_ignores_case_spaces_and_dashes() -> None:
    assert normalise_code(" ab-c 23x ") == "ABC23X"


def test_name_index_key_is_an_hmac_without_the_name_or_birth_date() -> None:
    digest = who_digest(SECRET, "clinic", "O'Brien", "1970-01-02")
    assert digest == who_digest(SECRET, "clinic", "obrien", "1970-01-02")
    assert digest != who_digest("t" * 40, "clinic", "obrien", "1970-01-02")
    assert digest != who_digest(SECRET, "other", "obrien", "1970-01-02")
    assert "obrien" not in digest and "1970" not in digest


def test_a_naive_start_is_taken_in_the_site_time_zone() -> None:
    appt = validate_entry(entry(), SITE, SECRET)
    assert appt.start == START
    assert appt.start.utcoffset() == timedelta(hours=-6)


def test_a_start_with_an_offset_keeps_its_instant() -> None:
    appt = validate_entry(entry(start="2026-11-20T10:00:00-05:00"), SITE, SECRET)
    assert appt.start == START
    assert appt.to_json()["start"] == "2026-11-20T09:00:00-06:00"
    utc = validate_entry(entry(start="2026-11-20T15:00:00Z"), SITE, SECRET)
    assert utc.start == START


def test_an_entry_without_id_gets_a_stable_id_that_hides_the_patient() -> None:
    a = validate_entry(entry(), SITE, SECRET)
    b = validate_entry(entry(last_name="OBRIEN"), SITE, SECRET)
    assert a.id == b.id == derived_id(SECRET, "clinic", START, "O'Brien", "1970-01-02")
    assert "brien" not in a.id.lower()
    assert validate_entry(entry(start="2026-11-20T09:15"), SITE, SECRET).id != a.id


def test_defaults_are_the_first_queue_booked_and_no_code() -> None:
    appt = validate_entry(entry(), SITE, SECRET)
    assert (appt.queue, appt.status, appt.code) == ("reg", "booked", "")


@pytest.mark.parametrize(("changes", "says"), [
    ({"start": None}, "'start' is missing"),
    ({"start": "tomorrow"}, "is not a date and time"),
    ({"start": "2026-11-20"}, "has no time of day"),
    ({"last_name": ""}, "'last_name' is missing"),
    ({"first_name": None}, "'first_name' is missing"),
    ({"last_name": "x" * 101}, "longer than 100"),
    ({"last_name": "--"}, "has no letters"),
    ({"last_name": "Lee\x1b[2J"}, "'last_name' contains control characters"),
    ({"provider": "Dr\x07 Okafor"}, "'provider' contains control characters"),
    ({"birth_date": None}, "'birth_date' is missing"),
    ({"birth_date": "03/04/1970"}, "YYYY-MM-DD"),
    ({"birth_date": "1970-13-01"}, "YYYY-MM-DD"),
    ({"birth_date": "1700-01-01"}, "not a plausible birth date"),
    ({"queue": "xray"}, "use one of reg, lab"),
    ({"status": "maybe"}, "is not one of booked"),
    ({"code": "A!"}, "4 to 12 letters and digits"),
    ({"id": "has space"}, "'id'"),
    ({"site": "elsewhere"}, "is not this site"),
    ({"end": "2026-11-20T08:00"}, "'end' must be after 'start'"),
])
def test_a_bad_entry_is_refused_with_a_sentence_naming_the_field(changes: dict[str, object],
                                                                  says: str) -> None:
    with pytest.raises(EntryError, match=says):
        validate_entry(entry(**changes), SITE, SECRET)


def test_a_birth_date_in_the_future_is_refused() -> None:
    with pytest.raises(EntryError, match="plausible"):
        validate_entry(entry(birth_date="2030-01-01"), SITE, SECRET,
                       now=datetime(2026, 11, 20, tzinfo=UTC))


def test_an_entry_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(EntryError, match="must be an object"):
        validate_entry(["x"], SITE, SECRET)


def test_status_aliases_are_accepted() -> None:
    assert validate_entry(entry(status="Canceled"), SITE, SECRET).status == "cancelled"
    assert validate_entry(entry(status="no-show"), SITE, SECRET).status == "noshow"


def test_stored_fields_round_trip() -> None:
    appt = validate_entry(entry(provider="Dr. Kim", code="abc234", queue="lab"), SITE, SECRET)
    again = Appointment.from_fields(appt.to_fields())
    assert again == appt
    assert appointment_json(appt.to_fields())["code"] == "ABC234"


@pytest.mark.parametrize(("minutes", "flags"), [
    (-31, ["early"]),
    (-30, []),
    (0, []),
    (15, []),
    (16, ["late"]),
])
def test_arrival_window_edges_are_inside(minutes: int, flags: list[str]) -> None:
    assert arrival_flags(START, START + timedelta(minutes=minutes), 30, 15) == flags


def test_arrival_window_compares_instants_not_wall_clocks() -> None:
    now_utc = datetime(2026, 11, 20, 15, 10, tzinfo=UTC)  # 09:10 in Chicago
    assert arrival_flags(START, now_utc, 30, 15) == []
    assert arrival_flags(START, now_utc + timedelta(seconds=301), 30, 15) == ["late"]


def test_arrival_window_across_midnight() -> None:
    late_evening = datetime(2026, 11, 20, 23, 50, tzinfo=CHICAGO)
    after_midnight = datetime(2026, 11, 21, 0, 5, tzinfo=CHICAGO)
    assert arrival_flags(late_evening, after_midnight, 30, 15) == []
    assert window_days(after_midnight, CHICAGO, 30, 15) == ["2026-11-20", "2026-11-21"]
    assert window_days(START, CHICAGO, 30, 15) == ["2026-11-20"]


def test_status_follows_the_linked_visit() -> None:
    assert effective_status("arrived", "done") == "fulfilled"
    assert effective_status("arrived", "no_show") == "noshow"
    assert effective_status("booked", "waiting") == "arrived"
    assert effective_status("cancelled", None) == "cancelled"


def test_query_dates_must_be_yyyy_mm_dd() -> None:
    assert parse_day("2026-11-20") == "2026-11-20"
    for bad in ("2026-2-1", "20261120", "2026-02-30", "today"):
        with pytest.raises(EntryError, match="YYYY-MM-DD"):
            parse_day(bad)


def test_demo_day_has_missed_late_on_time_early_and_cancelled_patients() -> None:
    now = datetime(2026, 11, 20, 16, 2, tzinfo=UTC)  # 10:02 in Chicago
    entries = demo_appointments(SITE, now)
    assert 28 <= len(entries) <= 32
    parsed = [validate_entry(e, SITE, SECRET) for e in entries]
    flags = [arrival_flags(a.start, now, 30, 15) for a in parsed if a.status == "booked"]
    assert ["late"] in flags and [] in flags and ["early"] in flags
    statuses = {a.status for a in parsed}
    assert {"noshow", "cancelled", "booked"} <= statuses
    assert len({a.code for a in parsed}) == len(parsed)
    assert {"O'Brien", "Smith-Jones"} <= {a.last_name for a in parsed}
    assert "José" in {a.first_name for a in parsed}
    examples = kiosk_examples(entries, SITE, now)
    assert examples and all(e["status"] == "booked" for e in examples)
    assert demo_appointments(SITE, now + timedelta(minutes=3))[0]["id"] == entries[0]["id"]
