"""The kiosk's pure flow: decisions after a look-up, what it shows of an appointment, the
answers it reads. No Redis, no server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from helpers import TEST_SITE

from app.appointments.model import Appointment
from app.sites import site_from_dict
from kiosk import flow

SITE = site_from_dict({"id": "s1", **TEST_SITE, "timezone": "America/Chicago"})
NOW = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # 10:00 in Chicago


def appt(minutes: int = 0, status: str = "booked", id_: str = "a1", **kw) -> Appointment:
    return Appointment(id=id_, site="s1", start=NOW + timedelta(minutes=minutes),
                       queue=kw.pop("queue", "nurse"), first_name=kw.pop("first", "Jane"),
                       last_name=kw.pop("last", "Smith"), birth_date="1970-04-03",
                       status=status, **kw)


def test_nothing_found_stays_on_the_step():
    assert flow.decide([], NOW, SITE).step == ""


def test_one_inside_the_window_asks_is_this_you():
    decided = flow.decide([appt(10)], NOW, SITE)
    assert decided.step == flow.CONFIRM and decided.matches[0].id == "a1"


def test_outside_the_window_goes_to_the_desk_saying_early_or_late():
    assert flow.decide([appt(45)], NOW, SITE) == flow.Lookup(flow.DESK, (appt(45),), "early")
    assert flow.decide([appt(-20)], NOW, SITE).reason == "late"


def test_the_window_edges_are_inside():
    assert flow.decide([appt(30)], NOW, SITE).step == flow.CONFIRM
    assert flow.decide([appt(-15)], NOW, SITE).step == flow.CONFIRM


def test_several_inside_the_window_are_chosen_from_in_time_order():
    decided = flow.decide([appt(20, id_="b"), appt(-5, id_="a"), appt(90, id_="c")], NOW, SITE)
    assert decided.step == flow.CHOOSE
    assert [a.id for a in decided.matches] == ["a", "b"]


def test_a_cancelled_appointment_goes_to_the_desk_unlinked():
    decided = flow.decide([appt(0, status="cancelled")], NOW, SITE)
    assert decided == flow.Lookup(flow.DESK, (), flow.NOT_BOOKED)


def test_an_appointment_already_marked_a_no_show_is_a_late_patient_at_the_desk():
    """The no-show sweep may have run before the patient arrived: still "late", linked,
    so the desk sees whose appointment it is."""
    missed = appt(-60, status="noshow")
    assert flow.decide([missed], NOW, SITE) == flow.Lookup(flow.DESK, (missed,), flow.LATE)
    assert flow.decide([appt(0, status="cancelled"), missed], NOW, SITE).reason == flow.LATE


def test_an_appointment_shows_initials_time_and_provider_never_a_name():
    shown = flow.summary(appt(30, first="jane", last="van der Berg", provider="Dr. Ruiz"), SITE)
    assert shown == {"initials": "J. V.", "time": "10:30 AM", "provider": "Dr. Ruiz"}
    assert flow.summary(appt(0), SITE)["provider"] == "Nurse"  # no provider: the service


def test_birth_date_needs_a_real_day_and_a_four_digit_year():
    today = date(2026, 11, 20)
    assert flow.birth_date("4", "3", "1970", today) == "1970-04-03"
    assert flow.birth_date("2", "30", "1970", today) is None
    assert flow.birth_date("4", "3", "70", today) is None
    assert flow.birth_date("", "3", "1970", today) is None
    assert flow.birth_date("12", "1", "2026", today) is None  # not born yet


def test_walk_in_names_are_a_first_name_and_an_initial_or_nothing():
    assert flow.walk_in_name("  Ana  María ", "l") == "Ana María L."
    assert flow.walk_in_name("", "") == ""
    assert flow.walk_in_name("Ana", "") == "Ana"
    assert flow.walk_in_name("ANA", "") == "Ana"  # the on-screen keys are capitals
    assert flow.walk_in_name("McKenzie", "") == "McKenzie"
    assert flow.walk_in_name("R2D2", "") is None
    assert flow.walk_in_name("Ana", "Lopez") is None


def test_a_name_is_limited_after_its_failures_and_a_kiosk_only_slows():
    assert not flow.name_limited(flow.NAME_LIMIT - 1)
    assert flow.name_limited(flow.NAME_LIMIT)
    assert flow.device_pause(flow.DEVICE_SLOW_AFTER - 1) == 0
    assert flow.device_pause(flow.DEVICE_SLOW_AFTER) > 0


def test_a_session_survives_its_json_and_back_goes_one_step_back():
    session = flow.Session(id="x", lang="es", step=flow.CONSENT, matches=("a", "b"),
                           changes=("phone_changed",))
    assert flow.Session.from_json(session.to_json()) == session
    assert flow.back(session).step == flow.CHANGES
    assert flow.back(session.go(flow.TICKET)).step == flow.TICKET  # no way back from a ticket
