"""Site configuration from TOML, with errors a person can act on."""

from __future__ import annotations

import json

import pytest

from app.sites import SiteError, site_from_dict, site_from_stored, site_from_toml

GOOD = """
id = "north"
name = "North Clinic"
timezone = "America/New_York"

[[queues]]
id = "reg"
name = "Registration"
prefix = "A"

[[rooms]]
id = "room-1"
name = "Room 1"

[[rooms]]
id = "desk-1"
name = "Desk 1"
kind = "desk"
"""


def test_a_good_file_loads_and_round_trips():
    site = site_from_toml(GOOD)
    assert site.queue("reg").prefix == "A"
    assert site.room("desk-1").kind == "desk"
    assert site_from_stored(site.to_dict()) == site


@pytest.mark.parametrize(("text", "message"), [
    ("id = ", "not valid TOML"),
    ('id = "Bad Id"\n[[queues]]\nid="a"\nname="A"\nprefix="A"', "id 'Bad Id'"),
    ('id = "x"', "at least one queue"),
    ('id = "x"\ntimezone = "Mars/Base"\n[[queues]]\nid="a"\nname="A"\nprefix="A"',
     "not a known time zone"),
    ('id = "x"\n[[queues]]\nid="a"\nname="A"\nprefix="a1"', "prefix 'a1'"),
    ('id = "x"\n[[queues]]\nid="a"\nname="A"\nprefix="A"\n[[queues]]\nid="b"\nname="B"\n'
     'prefix="A"', "prefix 'A' is used twice"),
    ('id = "x"\n[[queues]]\nid="a"\nprefix="A"', "'name' is missing"),
    ('id = "x"\n[[queues]]\nid="a"\nname="A"\nprefix="A"\n[[rooms]]\nid="r"\nname="R"\n'
     'kind="closet"', "kind 'closet'"),
])
def test_bad_files_say_what_is_wrong(text, message):
    with pytest.raises(SiteError, match=message):
        site_from_toml(text)


def test_arrival_window_must_be_whole_minutes():
    data = {"id": "x", "queues": [{"id": "a", "name": "A", "prefix": "A"}],
            "arrival_window": {"early_minutes": -5}}
    with pytest.raises(SiteError, match="early_minutes"):
        site_from_dict(data)


def test_a_site_writes_times_one_way_chosen_or_from_its_language():
    from datetime import UTC, datetime

    from app.timefmt import hour12, site_clock

    base = {"id": "x", "name": "X", "timezone": "UTC",
            "queues": [{"id": "q", "name": "Q", "prefix": "A"}]}
    moment = datetime(2026, 12, 6, 15, 5, 9, tzinfo=UTC)
    english, spanish = site_from_dict(base), site_from_dict({**base, "language": "es"})
    assert hour12(english) and site_clock(moment, english) == "3:05 PM"
    assert not hour12(spanish) and site_clock(moment, spanish) == "15:05"
    chosen = site_from_dict({**base, "time_format": "24h"})
    assert site_clock(moment, chosen, seconds=True) == "15:05:09"
    with pytest.raises(SiteError, match="time_format"):
        site_from_dict({**base, "time_format": "am/pm"})


def test_the_admin_pages_write_a_day_in_the_sites_language():
    from app.access.admin import local_time

    base = {"id": "x", "name": "X", "timezone": "America/Chicago",
            "queues": [{"id": "q", "name": "Q", "prefix": "A"}]}
    at = "2026-11-27T20:05:00+00:00"  # 2:05 PM in Chicago
    assert local_time(at, site_from_dict(base)) == "Nov 27, 2:05 PM"
    assert local_time(at, site_from_dict({**base, "language": "es"})) == "27 nov, 14:05"
    assert local_time(at, site_from_dict({**base, "language": "de"})) == "27. Nov., 14:05"
    assert local_time(at, site_from_dict({**base, "language": "zz"})) == "Nov 27, 14:05"
    assert local_time("", site_from_dict(base)) == ""


def test_queues_and_rooms_can_carry_names_per_language():
    site = site_from_toml("""
id = "x"
name = "X"
[[queues]]
id = "lab"
name = "Lab"
prefix = "L"
names = { es = "Laboratorio" }
[[rooms]]
id = "draw-1"
name = "Draw chair 1"
names = { es = "Sillón de extracción 1" }
""")
    assert site.queue("lab").name_in("es") == "Laboratorio"
    assert site.queue("lab").name_in("en") == "Lab"
    assert site.room("draw-1").name_in("es-MX") == "Sillón de extracción 1"
    again = site_from_stored(json.loads(json.dumps(site.to_dict())))
    assert again.queue("lab").name_in("es") == "Laboratorio"
    with pytest.raises(SiteError, match="names must be a table"):
        site_from_dict({"id": "x", "name": "X", "queues": [
            {"id": "q", "name": "Q", "prefix": "A", "names": {"es": ""}}]})
