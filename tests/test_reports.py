"""The day's reconciliation (page and CSV) and the audit trail, from the audit log."""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

from app import reports
from app.sites import site_from_dict

TZ = ZoneInfo("America/Chicago")
ENTRIES = [
    {"type": "visit.checked_in", "actor": "user:pat", "at": "2026-03-02T15:00:00+00:00",
     "ticket": "A042", "queue": "reg"},
    {"type": "visit.called", "actor": "user:sam", "at": "2026-03-02T15:05:00+00:00",
     "ticket": "A042", "queue": "reg", "room": "desk-1"},
    {"type": "visit.copay_recorded", "actor": "user:pat", "at": "2026-03-02T15:06:00+00:00",
     "ticket": "A042", "amount_cents": 2500, "method": "card"},
    {"type": "visit.copay_recorded", "actor": "user:sam", "at": "2026-03-02T16:00:00+00:00",
     "ticket": "A043", "amount_cents": 1000, "method": "cash"},
]


def test_copays_are_summed_by_method_and_by_staff_member():
    rec = reports.reconcile(ENTRIES, TZ)
    assert rec.total == 3500
    assert rec.by_method == {"cash": 1000, "card": 2500, "check": 0}
    assert rec.by_actor["pat"]["card"] == 2500
    assert rec.by_actor["sam"]["total"] == 1000
    assert rec.payments[0]["time"] == "09:06:00"  # the site's time, not UTC


def test_the_csv_has_a_row_per_payment_and_the_totals():
    rows = list(csv.reader(io.StringIO(reports.reconciliation_csv(
        "2026-03-02", reports.reconcile(ENTRIES, TZ)))))
    assert rows[0] == ["date", "time", "ticket", "method", "amount", "recorded_by"]
    assert rows[1] == ["2026-03-02", "09:06:00", "A042", "card", "25.00", "pat"]
    assert rows[-1][3:5] == ["total", "35.00"]


def test_the_audit_trail_finds_who_called_a_ticket():
    rows = reports.audit_rows(ENTRIES, TZ, ticket="a042", actor="sam")
    assert [(r["action"], r["actor"], r["detail"]) for r in rows] == [
        ("called", "sam", "desk-1, reg")]


async def test_a_copay_shows_in_the_day_report_and_its_csv(api):
    visit = await api.check_in(name="Ana Lima", flags=["copay_due"])
    await api.post(f"/visits/{visit['id']}/copay", {"amount": "30", "method": "check"})
    page = await api.client.get(f"/sites/{api.site.id}/reports/day", headers=api.auth())
    assert page.status_code == 200
    assert "$30.00" in page.text
    assert "Ana" not in page.text  # the money survives the visit: no name in it
    got = await api.client.get(f"/sites/{api.site.id}/reports/day.csv", headers=api.auth())
    assert got.headers["content-type"].startswith("text/csv")
    assert f"{visit['ticket']},check,30.00" in got.text


async def test_the_audit_page_filters_by_ticket_and_a_bad_date_is_a_sentence(api):
    visit = await api.check_in(name="Ana Lima")
    await api.post(f"/visits/{visit['id']}/call", {"room": "room-1"})
    page = await api.client.get(f"/sites/{api.site.id}/reports/audit",
                                params={"ticket": visit["ticket"]}, headers=api.auth())
    assert page.status_code == 200
    assert "called" in page.text and "checked in" in page.text
    rooms = await api.client.get(f"/sites/{api.site.id}/reports/audit",
                                 params={"kind": "rooms"}, headers=api.auth())
    assert rooms.status_code == 200 and "room changed" in rooms.text
    assert "checked in" not in rooms.text
    assert f"<td>{visit['ticket']}</td><td>room changed" in rooms.text
    bad = await api.client.get(f"/sites/{api.site.id}/reports/audit",
                               params={"date": "yesterday"}, headers=api.auth())
    assert bad.status_code == 422
    assert "is not a date" in bad.text
    assert (await api.client.get(f"/sites/{api.site.id}/reports/day",
                                 headers=api.auth("kiosk"))).status_code == 403


SITE = site_from_dict({
    "id": "s", "name": "S", "timezone": "America/Chicago",
    "queues": [{"id": "reg", "name": "Registration", "prefix": "A"},
               {"id": "lab", "name": "Lab", "prefix": "L"}],
    "rooms": [{"id": "room-3", "name": "Room 3"}, {"id": "desk-1", "name": "Desk 1",
                                                    "kind": "desk"}]})
AT = "2026-03-02T15:00:00+00:00"
TRAIL = [
    *({"type": "appointment.imported", "actor": "system:demo", "at": AT} for _ in range(30)),
    {"type": "device.paired", "actor": "user:ana", "at": AT, "device": "d1", "role": "kiosk",
     "name": "Kiosk by the door"},
    {"type": "visit.checked_in", "actor": "device:d1", "at": AT, "ticket": "A001",
     "queue": "reg"},
    {"type": "visit.flag_cleared", "actor": "user:pat", "at": AT, "ticket": "A001",
     "flag": "insurance_verify"},
    {"type": "visit.roomed", "actor": "user:pat", "at": AT, "ticket": "A001", "queue": "reg",
     "room": "room-3"},
    {"type": "room.updated", "actor": "user:pat", "at": AT, "ticket": "A001",
     "room": "room-3", "status": "occupied"},
    {"type": "visit.priority_changed", "actor": "user:pat", "at": AT, "ticket": "A001",
     "priority": 2},
    *({"type": "appointment.imported", "actor": "user:ana", "at": AT} for _ in range(2)),
]


def test_the_audit_trail_reads_as_sentences_with_names_and_a_ticket_on_visit_rows():
    rows = reports.audit_rows(TRAIL, TZ, site=SITE,
                              devices=reports.device_names(TRAIL))
    said = [(r["ticket"], r["action"], r["actor"], r["detail"]) for r in rows]
    assert said == [
        ("", "30 appointments imported", "the system (demo)", ""),
        ("", "device paired", "ana", "kiosk “Kiosk by the door”"),
        ("A001", "checked in", "Kiosk by the door", "Registration"),
        ("A001", "flag dealt with", "pat", "insurance verified"),
        ("A001", "taken to a room", "pat", "Room 3, Registration"),
        ("A001", "room changed", "pat", "Room 3 now in use"),
        ("A001", "priority changed", "pat", "now urgent"),
        ("", "2 appointments imported", "ana", ""),
    ]
    text = repr(said)
    for raw in ("device.paired", "insurance_verify", "room-3", "device:d1", "paired device"):
        assert raw not in text


def test_the_audit_trail_filters_by_kind():
    rows = reports.audit_rows(TRAIL, TZ, kind="rooms", site=SITE)
    assert [r["action"] for r in rows] == ["room changed"]
    assert [r["action"] for r in reports.audit_rows(TRAIL, TZ, kind="screens")] == [
        "device paired"]
    assert len(reports.audit_rows(TRAIL, TZ, kind="nonsense")) == len(
        reports.audit_rows(TRAIL, TZ))
