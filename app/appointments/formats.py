"""Schedules in: our JSON list, CSV with documented columns, and a FHIR R4 Bundle of
Appointment resources with their Patient resources.

Pure: text or decoded JSON in, appointments and per-entry errors out. A problem with
the whole document raises ScheduleError; a bad entry becomes {"index", "detail"} and the
good entries are kept. FHIR is validated with `fhir.resources.R4B` (FHIR 4.3.0): version
8 of the package models R5 by default and has no 4.0.1 module, and R4B's Appointment,
Patient, Encounter and Bundle are R4's.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from pydantic import ValidationError

from app.appointments.model import Appointment, EntryError, validate_entry
from app.sites import Site
from app.text import unpaired_surrogate

MAX_ENTRIES = 5000
CSV_COLUMNS = ("id", "start", "date", "time", "end", "queue", "provider", "first_name",
               "last_name", "birth_date", "code", "status")
CSV_REQUIRED = ("first_name", "last_name", "birth_date")
# FHIR R4 Appointment.status -> ours. proposed, pending and waitlist are not booked yet.
FHIR_STATUS = {"booked": "booked", "arrived": "arrived", "checked-in": "arrived",
               "fulfilled": "fulfilled", "cancelled": "cancelled", "noshow": "noshow",
               "entered-in-error": "cancelled"}
CODE_SYSTEM = "urn:lobbyline:confirmation-code"
QUEUE_SYSTEM = "urn:lobbyline:queue"


class ScheduleError(ValueError):
    """The document as a whole cannot be read; the message says what to send instead."""


class BadJson(ScheduleError):
    """The document is not JSON at all."""


@dataclass
class Parsed:
    """The good entries, each with its position, and one error per bad entry."""

    appointments: list[tuple[int, Appointment]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, index: int, make: Any) -> None:
        try:
            appointment = make()
        except EntryError as exc:
            self.errors.append({"index": index, "detail": str(exc)})
            return
        seen = {a.id: i for i, a in self.appointments}
        if appointment.id in seen:
            self.errors.append({"index": index, "detail": (
                f"appointment id {appointment.id!r} is also entry {seen[appointment.id]}; "
                "each appointment may appear once.")})
            return
        self.appointments.append((index, appointment))


def _check_size(n: int) -> None:
    if n > MAX_ENTRIES:
        raise ScheduleError(f"{n} appointments in one import is more than {MAX_ENTRIES}; "
                            "split the schedule by day.")


def parse_json_list(data: Any, site: Site, secret: str, now: datetime) -> Parsed:
    """Our JSON format: a list of docs/api.md appointment objects (`id`, `code`, `queue`,
    `provider` and `status` optional)."""
    if not isinstance(data, list):
        raise ScheduleError("send a JSON list of appointments, or a FHIR R4 Bundle.")
    _check_size(len(data))
    parsed = Parsed()
    for i, raw in enumerate(data):
        parsed.add(i, lambda raw=raw: validate_entry(raw, site, secret, now))
    return parsed


def _csv_header(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def parse_csv(text: str, site: Site, secret: str, now: datetime) -> Parsed:
    """CSV whose first line names the columns (docs/appointments.md). `index` counts data
    rows from 0; each detail starts with the file's line number."""
    text = text.lstrip("\ufeff")
    first_line = text.split("\n", 1)[0]
    if not first_line.strip():
        raise ScheduleError("the CSV is empty; its first line must name the columns "
                            f"({', '.join(CSV_COLUMNS)}).")
    delimiter = max((",", ";", "\t"), key=first_line.count)
    # newline="": the csv module reads a lone \r (old Mac files) as a line end itself.
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _read_csv(reader, site, secret, now)
    except csv.Error as exc:
        raise ScheduleError(f"the CSV cannot be read at line {reader.line_num} ({exc}).") \
            from None


def _read_csv(reader: csv.DictReader, site: Site, secret: str, now: datetime) -> Parsed:
    reader.fieldnames = [_csv_header(h) for h in reader.fieldnames or []]
    columns = set(reader.fieldnames)
    missing = [c for c in CSV_REQUIRED if c not in columns]
    if "start" not in columns and not {"date", "time"} <= columns:
        missing.insert(0, "start")
    if missing:
        raise ScheduleError(f"the CSV has no {', '.join(repr(m) for m in missing)} column; "
                            f"its first line must name the columns ({', '.join(CSV_COLUMNS)}).")
    parsed = Parsed()
    index = 0
    for row in reader:
        line = reader.line_num
        if not any((v or "").strip() for k, v in row.items() if k is not None):
            continue
        if index >= MAX_ENTRIES:
            _check_size(index + 1)

        def make(row: dict[str, Any] = row, line: int = line) -> Appointment:
            try:
                if None in row:
                    raise EntryError("it has more values than the first line has columns.")
                entry = {k: (v or "").strip() for k, v in row.items()}
                if not entry.get("start") and entry.get("date"):
                    entry["start"] = f"{entry['date']}T{entry.get('time', '')}"
                return validate_entry(entry, site, secret, now)
            except EntryError as exc:
                raise EntryError(f"line {line}: {exc}") from None

        parsed.add(index, make)
        index += 1
    return parsed


# FHIR R4


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _patient_key(reference: str) -> str:
    """'Patient/p1' from 'Patient/p1', '.../fhir/Patient/p1' or 'Patient/p1/_history/2'."""
    ref = reference.split("/_history/", 1)[0]
    parts = ref.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else ref


@dataclass(frozen=True)
class _PatientEntry:
    index: int
    patient: Patient | None
    problem: str = ""


def _index_patients(entries: list[Any]) -> dict[str, _PatientEntry]:
    found: dict[str, _PatientEntry] = {}
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping) or resource.get("resourceType") != "Patient":
            continue
        try:
            value = _PatientEntry(i, Patient.model_validate(resource))
        except ValidationError as exc:
            value = _PatientEntry(i, None, f"is not valid FHIR R4 ({_first_error(exc)})")
        if isinstance(entry.get("fullUrl"), str):
            found[entry["fullUrl"]] = value
        if isinstance(resource.get("id"), str):
            found[f"Patient/{resource['id']}"] = value
    return found


def _patient_of(appointment: FhirAppointment,
                patients: dict[str, _PatientEntry]) -> tuple[str, Patient]:
    references = [p.actor.reference for p in appointment.participant or []
                  if p.actor is not None and p.actor.reference]
    for ref in references:
        entry = patients.get(ref) or patients.get(_patient_key(ref))
        if entry is not None:
            if entry.patient is None:
                raise EntryError(f"its patient {ref} (entry {entry.index}) {entry.problem}.")
            return ref, entry.patient
    for ref in references:
        if ref.startswith("urn:uuid:") or _patient_key(ref).startswith("Patient/"):
            raise EntryError(f"its patient {ref} is not in the bundle; export each "
                             "Appointment together with its Patient resource.")
    raise EntryError("it has no patient participant; add a participant whose "
                     "actor.reference points to a Patient in the bundle.")


def _names(patient: Patient, ref: str) -> tuple[str, str]:
    names = patient.name or []
    chosen = next((n for n in names if n.use == "official"), None) or next(
        (n for n in names if n.use in (None, "usual")), None) or (names[0] if names else None)
    if chosen is None or not chosen.family:
        raise EntryError(f"its patient {ref} has no family name (Patient.name.family).")
    given = " ".join(chosen.given or [])
    if not given:
        raise EntryError(f"its patient {ref} has no given name (Patient.name.given).")
    return given, chosen.family


def _provider(appointment: FhirAppointment, bundle_names: dict[str, str]) -> str:
    for p in appointment.participant or []:
        ref = p.actor.reference if p.actor is not None else None
        if ref and _patient_key(ref).split("/")[0] in ("Practitioner", "PractitionerRole"):
            return p.actor.display or bundle_names.get(ref) or bundle_names.get(
                _patient_key(ref), "")
    return ""


def _queue(appointment: FhirAppointment, site: Site) -> str:
    """The site queue named by serviceType, appointmentType or specialty (code, display
    or text, any case); empty for the site's first queue."""
    by_name = {q.id.lower(): q.id for q in site.queues}
    by_name.update({q.name.lower(): q.id for q in site.queues})
    concepts = [*(appointment.serviceType or []), *(appointment.specialty or [])]
    if appointment.appointmentType is not None:
        concepts.append(appointment.appointmentType)
    for concept in concepts:
        labels = [concept.text, *((c.code, c.display) for c in concept.coding or [])]
        flat = [x for label in labels for x in (label if isinstance(label, tuple) else (label,))]
        for label in flat:
            if label and label.lower() in by_name:
                return by_name[label.lower()]
    return ""


def _code(appointment: FhirAppointment) -> str:
    for identifier in appointment.identifier or []:
        kind = " ".join(filter(None, [identifier.system or "",
                                      identifier.type.text if identifier.type else ""]))
        if "confirmation" in kind.lower() and identifier.value:
            return identifier.value
    return ""


def _appointment_from_fhir(resource: Mapping[str, Any], patients: dict[str, _PatientEntry],
                           bundle_names: dict[str, str], site: Site, secret: str,
                           now: datetime) -> Appointment:
    try:
        fhir = FhirAppointment.model_validate(resource)
    except ValidationError as exc:
        raise EntryError(f"it is not a valid FHIR R4 Appointment ({_first_error(exc)}).") \
            from None
    status = FHIR_STATUS.get(fhir.status)
    if status is None:
        raise EntryError(f"its status is {fhir.status!r}: only booked appointments (and "
                         "cancelled, arrived, fulfilled or noshow ones) are imported.")
    if fhir.start is None:
        raise EntryError("it has no start time (Appointment.start, with its UTC offset).")
    ref, patient = _patient_of(fhir, patients)
    first_name, last_name = _names(patient, ref)
    if patient.birthDate is None:
        raise EntryError(f"its patient {ref} has no birthDate; the kiosk needs it to find "
                         "the patient. Add it in the EHR and export again.")
    end = fhir.end
    if end is None and fhir.minutesDuration:
        end = fhir.start + timedelta(minutes=fhir.minutesDuration)
    return validate_entry({
        "id": fhir.id or "",
        "start": fhir.start,
        "end": end,
        "queue": _queue(fhir, site),
        "provider": _provider(fhir, bundle_names),
        "first_name": first_name,
        "last_name": last_name,
        "birth_date": patient.birthDate.isoformat(),
        "code": _code(fhir),
        "status": status,
        "patient_ref": f"Patient/{patient.id}" if patient.id else "",
    }, site, secret, now)


def _practitioner_names(entries: list[Any]) -> dict[str, str]:
    """Display names of the bundle's (valid) Practitioner resources, by reference."""
    names: dict[str, str] = {}
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping) or resource.get("resourceType") != "Practitioner":
            continue
        try:
            practitioner = Practitioner.model_validate(resource)
        except ValidationError:
            continue
        name = (practitioner.name or [None])[0]
        if name is None:
            continue
        text = name.text or " ".join([*(name.prefix or []), *(name.given or []),
                                      name.family or ""]).strip()
        for key in (f"Practitioner/{practitioner.id}", entry.get("fullUrl")):
            if isinstance(key, str) and text:
                names[key] = text
    return names


def parse_fhir_bundle(data: Any, site: Site, secret: str, now: datetime) -> Parsed:
    """A FHIR R4 Bundle (any type) of Appointment resources whose patients are Patient
    resources of the same bundle, referenced as `Patient/<id>`, by full URL or by
    `urn:uuid:`. `index` is the position in `Bundle.entry`; other resources are ignored."""
    if not isinstance(data, Mapping) or data.get("resourceType") != "Bundle":
        raise ScheduleError("a FHIR import must be a Bundle (resourceType 'Bundle') of "
                            "Appointment and Patient resources.")
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        raise ScheduleError("Bundle.entry must be a list.")
    try:
        Bundle.model_validate({k: v for k, v in data.items() if k != "entry"})
    except ValidationError as exc:
        raise ScheduleError(f"the Bundle is not valid FHIR R4 ({_first_error(exc)}).") from None
    _check_size(len(entries))
    patients = _index_patients(entries)
    practitioners = _practitioner_names(entries)
    parsed = Parsed()
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping):
            parsed.errors.append({"index": i, "detail": "this entry has no resource."})
            continue
        if resource.get("resourceType") != "Appointment":
            continue
        label = f"Appointment/{resource.get('id')}" if resource.get("id") else "Appointment"

        def make(resource: Mapping[str, Any] = resource, label: str = label) -> Appointment:
            try:
                return _appointment_from_fhir(resource, patients, practitioners, site,
                                              secret, now)
            except EntryError as exc:
                raise EntryError(f"{label}: {exc}") from None

        parsed.add(i, make)
    return parsed


def loads(text: str) -> Any:
    """JSON, or BadJson naming where it breaks."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadJson(f"the body is not valid JSON ({exc.msg} at line {exc.lineno}, "
                      f"column {exc.colno}).") from None
    except RecursionError:
        raise BadJson("the body is JSON nested too deeply to be a schedule.") from None
    if unpaired_surrogate(data):
        raise BadJson("the body is not valid JSON: it spells a character that does not "
                      "exist (an unpaired surrogate such as \\ud800).")
    return data


def parse_json_document(data: Any, site: Site, secret: str, now: datetime,
                        fhir: bool = False) -> Parsed:
    """Our JSON list, or a FHIR Bundle (a JSON object whose resourceType is Bundle)."""
    if isinstance(data, Mapping) and data.get("resourceType") == "Bundle":
        return parse_fhir_bundle(data, site, secret, now)
    if fhir:
        raise ScheduleError("a FHIR import must be a Bundle (resourceType 'Bundle') of "
                            "Appointment and Patient resources.")
    return parse_json_list(data, site, secret, now)


def parse_document(text: str, site: Site, secret: str, now: datetime, *,
                   name: str = "", content_type: str = "") -> Parsed:
    """Any of the three formats: CSV by file name or content type, else JSON (our list
    or a FHIR Bundle) when the text starts like JSON, else CSV."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if name.lower().endswith(".csv") or kind == "text/csv":
        return parse_csv(text, site, secret, now)
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("[", "{") or name.lower().endswith(".json") or kind.endswith("json"):
        return parse_json_document(loads(stripped), site, secret, now,
                                   fhir=kind == "application/fhir+json")
    return parse_csv(text, site, secret, now)
