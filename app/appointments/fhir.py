"""FHIR R4 out: appointments as Appointment resources, visits as Encounter resources, and
the searchset Bundle around them, with the status mapping of docs/appointments.md.

Pure: dictionaries in the R4 JSON shape, validated in the tests with `fhir.resources.R4B`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from app import clock
from app.appointments.formats import CODE_SYSTEM, QUEUE_SYSTEM
from app.appointments.model import Appointment
from app.sites import Site

TICKET_SYSTEM = "urn:lobbyline:ticket"
ROOM_SYSTEM = "urn:lobbyline:room"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"

# Our appointment statuses are R4 Appointment.status codes already.
APPOINTMENT_STATUS = {s: s for s in ("booked", "arrived", "fulfilled", "noshow", "cancelled")}
# A visit marked no-show was called and never came, and one that left was never seen:
# both end the encounter as cancelled (R4 has no closer code).
ENCOUNTER_STATUS = {
    "waiting": "arrived",
    "called": "in-progress",
    "in_room": "in-progress",
    "checkout": "in-progress",
    "done": "finished",
    "no_show": "cancelled",
    "left": "cancelled",
}


def _queue_concept(site: Site, queue_id: str) -> dict[str, Any]:
    queue = site.queue(queue_id)
    concept: dict[str, Any] = {"coding": [{"system": QUEUE_SYSTEM, "code": queue_id}]}
    if queue is not None:
        concept["coding"][0]["display"] = queue.name
        concept["text"] = queue.name
    return concept


def patient_id(appt: Appointment) -> str:
    """The Patient id an appointment refers to: the EHR's when the import had one."""
    if appt.patient_ref and appt.patient_ref.startswith("Patient/"):
        return appt.patient_ref.removeprefix("Patient/")
    return "pt-" + hashlib.sha256(f"{appt.site}/{appt.id}".encode()).hexdigest()[:24]


def patient_resource(appt: Appointment) -> dict[str, Any]:
    """The appointment's patient as an R4 Patient (for `_include=Appointment:patient`)."""
    return {
        "resourceType": "Patient",
        "id": patient_id(appt),
        "name": [{"use": "official", "family": appt.last_name,
                  "given": appt.first_name.split()}],
        "birthDate": appt.birth_date,
    }


def appointment_resource(appt: Appointment, site: Site,
                         with_patient: bool = False) -> dict[str, Any]:
    """An R4 Appointment: the code as an identifier, the queue as serviceType, the
    patient and the provider as participants. The patient is referenced when the import
    named one or when `with_patient` (its Patient goes in the same bundle)."""
    patient: dict[str, Any] = {"type": "Patient",
                               "display": f"{appt.first_name} {appt.last_name}"}
    if appt.patient_ref or with_patient:
        patient["reference"] = f"Patient/{patient_id(appt)}"
    participants: list[dict[str, Any]] = [{"actor": patient, "status": "accepted"}]
    if appt.provider:
        participants.append({
            "type": [{"coding": [{"system": PARTICIPATION_TYPE, "code": "PPRF",
                                  "display": "primary performer"}]}],
            "actor": {"display": appt.provider},
            "status": "accepted",
        })
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": appt.id,
        "status": APPOINTMENT_STATUS.get(appt.status, "booked"),
        "serviceType": [_queue_concept(site, appt.queue)],
        "start": appt.start.isoformat(),
        "end": appt.finish.isoformat(),
        "participant": participants,
    }
    if appt.code:
        resource["identifier"] = [{"system": CODE_SYSTEM, "value": appt.code,
                                   "type": {"text": "Confirmation code"}}]
    return resource


def _room_location(site: Site, room_id: str, status: str) -> dict[str, Any]:
    room = site.room(room_id)
    return {"location": {"identifier": {"system": ROOM_SYSTEM, "value": room_id},
                         "display": room.name if room else room_id},
            "status": status}


def _history(visit: Mapping[str, str]) -> list[dict[str, Any]]:
    arrived = visit.get("checked_in_at") or ""
    started = visit.get("called_at") or visit.get("roomed_at") or ""
    ended = visit.get("done_at") or ""
    history: list[dict[str, Any]] = []
    if arrived:
        period = {"start": arrived}
        if started or ended:
            period["end"] = started or ended
        history.append({"status": "arrived", "period": period})
    if started:
        period = {"start": started}
        if ended:
            period["end"] = ended
        history.append({"status": "in-progress", "period": period})
    return history


def encounter_resource(visit: Mapping[str, str], site: Site) -> dict[str, Any]:
    """An R4 Encounter for one visit: its status, ticket, queue, periods, the linked
    appointment, and its room as the location (planned when called there, active while
    in it, completed once left)."""
    status = visit.get("status", "")
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": visit["id"],
        "identifier": [{"system": TICKET_SYSTEM, "value": visit.get("ticket", "")}],
        "status": ENCOUNTER_STATUS.get(status, "unknown"),
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "serviceType": _queue_concept(site, visit.get("queue", "")),
    }
    history = _history(visit)
    if history:
        resource["statusHistory"] = history
    if visit.get("name"):
        resource["subject"] = {"type": "Patient", "display": visit["name"]}
    if visit.get("appointment_id"):
        resource["appointment"] = [{"reference": f"Appointment/{visit['appointment_id']}"}]
    if visit.get("checked_in_at"):
        period = {"start": visit["checked_in_at"]}
        if visit.get("done_at"):
            period["end"] = visit["done_at"]
        resource["period"] = period
    room = visit.get("room") or ""
    if room:
        where = "planned" if status == "called" else "active"
        resource["location"] = [_room_location(site, room, where)]
    elif visit.get("last_room"):
        resource["location"] = [_room_location(site, visit["last_room"], "completed")]
    return resource


def searchset(resources: Sequence[dict[str, Any]], base_url: str, self_url: str,
              now: datetime | None = None,
              included: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """An R4 `searchset` Bundle of `resources` (the matches; `total` counts them) and
    `included` resources, each once."""
    unique = {(r["resourceType"], r["id"]): r for r in included}
    included = list(unique.values())
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": clock.iso(now or clock.now()),
        "total": len(resources),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [
            *({"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": r,
               "search": {"mode": "match"}} for r in resources),
            *({"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": r,
               "search": {"mode": "include"}} for r in included),
        ],
    }
