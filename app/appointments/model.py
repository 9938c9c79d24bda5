"""The appointment: its fields, validation of one imported entry, the kiosk's look-up keys
and the arrival window.

Pure: no I/O. The store (app/appointments/store.py) writes what this module builds.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.access import codes
from app.sites import Site
from app.text import refused_character
from app.visits import LANGUAGE_MAX, NAME_MAX

STATUSES = ("booked", "arrived", "fulfilled", "noshow", "cancelled")
STATUS_ALIASES = {"canceled": "cancelled", "no-show": "noshow", "no_show": "noshow"}
CODE_ALPHABET = codes.ALPHABET
CODE_LENGTH = 6
CODE_RE = re.compile(r"^[A-Z0-9]{4,12}$")
ID_RE = re.compile(r"^[A-Za-z0-9.-]{1,64}$")
DEFAULT_MINUTES = 15
OLDEST_BIRTH_YEAR = 1880


class EntryError(ValueError):
    """One entry of a schedule is invalid; the message is a sentence a person can act on."""


@dataclass(frozen=True)
class Appointment:
    """A booked appointment at a site. `start` and `end` are aware datetimes."""

    id: str
    site: str
    start: datetime
    queue: str
    first_name: str
    last_name: str
    birth_date: str
    end: datetime | None = None
    code: str = ""
    status: str = "booked"
    provider: str | None = None
    patient_ref: str | None = None
    visit_id: str | None = None
    language: str | None = None  # the patient's preferred language; their visit takes it

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def finish(self) -> datetime:
        return self.end or self.start + timedelta(minutes=DEFAULT_MINUTES)

    def to_json(self) -> dict[str, Any]:
        """docs/api.md's appointment (plus `end` and `visit_id`)."""
        return {
            "id": self.id,
            "site": self.site,
            "start": self.start.isoformat(),
            "end": self.finish.isoformat(),
            "queue": self.queue,
            "provider": self.provider,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "birth_date": self.birth_date,
            "code": self.code,
            "status": self.status,
            "visit_id": self.visit_id,
            "language": self.language,
        }

    def to_fields(self) -> dict[str, str]:
        """The stored hash fields (the store adds the index fields)."""
        return {
            "id": self.id,
            "site": self.site,
            "start": self.start.isoformat(),
            "start_ms": str(self.start_ms),
            "end": self.finish.isoformat(),
            "queue": self.queue,
            "provider": self.provider or "",
            "first_name": self.first_name,
            "last_name": self.last_name,
            "birth_date": self.birth_date,
            "code": self.code,
            "status": self.status,
            "patient_ref": self.patient_ref or "",
            "language": self.language or "",
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> Appointment:
        """Rebuild from stored hash fields (or an event's `appointment` JSON)."""
        end = fields.get("end")
        return cls(
            id=fields["id"],
            site=fields.get("site", ""),
            start=datetime.fromisoformat(fields["start"]),
            end=datetime.fromisoformat(end) if end else None,
            queue=fields.get("queue", ""),
            first_name=fields.get("first_name", ""),
            last_name=fields.get("last_name", ""),
            birth_date=fields.get("birth_date", ""),
            code=fields.get("code", ""),
            status=fields.get("status", "booked"),
            provider=fields.get("provider") or None,
            patient_ref=fields.get("patient_ref") or None,
            visit_id=fields.get("visit_id") or None,
            language=fields.get("language") or None,
        )


def appointment_json(fields: Mapping[str, str]) -> dict[str, Any]:
    """docs/api.md's appointment from stored fields: what an `appointment.*` event carries."""
    return Appointment.from_fields(fields).to_json()


def effective_status(status: str, visit_status: str | None) -> str:
    """The appointment's status in the light of its visit (docs/appointments.md, "FHIR
    out"): a visit that is done fulfils it, a visit marked no-show makes it `noshow`."""
    if visit_status == "done":
        return "fulfilled"
    if visit_status == "no_show":
        return "noshow"
    if visit_status and status == "booked":
        return "arrived"
    return status


# Names and codes


def normalise_name(name: str) -> str:
    """The form names are compared in: "O'Brien" == "obrien", "José" == "jose",
    "Smith-Jones" == "smith jones"."""
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in letters.casefold() if ch.isalnum())


# Confirmation codes are read the way pairing codes are: one rule for both.
normalise_code = codes.normalise


def new_code() -> str:
    """A fresh confirmation code of CODE_LENGTH characters."""
    return codes.new_code(CODE_LENGTH)


def code_candidates(n: int = 4) -> list[str]:
    """Fresh codes for the store to try in order; the first one free that day is used."""
    return [new_code() for _ in range(n)]


def who_digest(secret: str, site_id: str, last_name: str, birth_date: str) -> str:
    """The name-and-birth-date index key: an HMAC, so Redis key names never hold either."""
    message = f"{site_id}\x1f{normalise_name(last_name)}\x1f{birth_date}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def derived_id(secret: str, site_id: str, start: datetime, last_name: str,
               birth_date: str) -> str:
    """A stable id for an entry sent without one, so a re-import updates it. Keyed, so an
    id in an event or a URL says nothing about the patient."""
    moment = int(start.timestamp())
    message = f"{site_id}\x1f{moment}\x1f{normalise_name(last_name)}\x1f{birth_date}"
    return "a-" + hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()[:20]


# The arrival window


def arrival_flags(start: datetime, now: datetime, early_min: int, late_min: int) -> list[str]:
    """[] inside [start - early, start + late] (edges included), else ["early"] or ["late"]."""
    if now < start - timedelta(minutes=early_min):
        return ["early"]
    if now > start + timedelta(minutes=late_min):
        return ["late"]
    return []


def window_days(now: datetime, tz: ZoneInfo, early_min: int, late_min: int) -> list[str]:
    """The local days whose appointments may be inside the window now (two around
    midnight), for the kiosk's look-ups."""
    first = (now - timedelta(minutes=late_min)).astimezone(tz).date()
    last = (now + timedelta(minutes=early_min)).astimezone(tz).date()
    days = [first]
    while days[-1] < last:
        days.append(days[-1] + timedelta(days=1))
    return [d.isoformat() for d in days]


def parse_day(value: str) -> str:
    """A YYYY-MM-DD query value; EntryError otherwise."""
    if len(value) == 10:
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise EntryError(f"'{value}' is not a date; write it YYYY-MM-DD, e.g. 2026-11-20.")


# Validation of one imported entry


def parse_start(value: Any, tz: ZoneInfo, what: str = "start") -> datetime:
    """An ISO 8601 date and time; one with an offset keeps its instant, a naive one is
    taken in the site's time zone. Answers it in the site's time zone."""
    if isinstance(value, datetime):
        moment = value
    else:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise EntryError(f"'{what}' is missing; give the date and time, "
                             "e.g. 2026-11-20T09:30 (site time) or 2026-11-20T15:30:00Z.")
        if not isinstance(value, str):
            raise EntryError(f"'{what}' must be text such as 2026-11-20T09:30.")
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text.replace(" ", "T", 1))
        except ValueError:
            raise EntryError(f"'{what}' {text!r} is not a date and time; write it like "
                             "2026-11-20T09:30 (site time) or 2026-11-20T15:30:00Z.") from None
        if len(text) <= 10:
            raise EntryError(f"'{what}' {text!r} has no time of day; write it like "
                             "2026-11-20T09:30.")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(tz)


def parse_birth_date(value: Any, today: date | None = None) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise EntryError("'birth_date' is missing; the kiosk needs it to find the patient "
                         "(write it YYYY-MM-DD).")
    text = str(value).strip()
    try:
        born = date.fromisoformat(text)
        if len(text) != 10:
            raise ValueError
    except ValueError:
        raise EntryError(f"'birth_date' {text!r} is not a date written YYYY-MM-DD "
                         "(for example 1970-04-03).") from None
    if born.year < OLDEST_BIRTH_YEAR or (today is not None and born > today):
        raise EntryError(f"'birth_date' {text} is not a plausible birth date; check it.")
    return born.isoformat()


def _name(raw: Mapping[str, Any], key: str, what: str) -> str:
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise EntryError(f"'{key}' is missing; add the patient's {what}.")
    if not isinstance(value, str):
        raise EntryError(f"'{key}' must be text.")
    value = " ".join(value.split())
    if len(value) > NAME_MAX:
        raise EntryError(f"'{key}' is longer than {NAME_MAX} characters.")
    if refused_character(value):
        raise EntryError(f"'{key}' contains control characters.")
    if not normalise_name(value):
        raise EntryError(f"'{key}' {value!r} has no letters in it.")
    return value


def _optional_text(raw: Mapping[str, Any], key: str, max_len: int = NAME_MAX) -> str:
    value = raw.get(key)
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise EntryError(f"'{key}' must be text.")
    value = " ".join(value.split())
    if len(value) > max_len:
        raise EntryError(f"'{key}' is longer than {max_len} characters.")
    if refused_character(value):
        raise EntryError(f"'{key}' contains control characters.")
    return value


def parse_status(value: Any) -> str:
    if value is None or value == "":
        return "booked"
    status = str(value).strip().lower()
    status = STATUS_ALIASES.get(status, status)
    if status not in STATUSES:
        raise EntryError(f"'status' {value!r} is not one of {', '.join(STATUSES)}.")
    return status


def parse_queue(value: Any, site: Site) -> str:
    """The entry's queue, by id or name (any case); the site's first queue when none."""
    if value is None or value == "":
        return site.queues[0].id
    queue = str(value).strip()
    for q in site.queues:
        if queue.casefold() in (q.id.casefold(), q.name.casefold()):
            return q.id
    known = ", ".join(q.id for q in site.queues)
    raise EntryError(f"'queue' {queue!r} is not a queue of this site; use one of {known}.")


def parse_code(value: Any) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise EntryError("'code' must be text.")
    code = normalise_code(value)
    if not CODE_RE.match(code):
        raise EntryError(f"'code' {value!r} must be 4 to 12 letters and digits "
                         "(leave it out and one is made).")
    return code


def parse_id(value: Any) -> str:
    text = str(value).strip() if value is not None else ""
    if not ID_RE.match(text):
        raise EntryError(f"'id' {value!r} must be 1 to 64 letters, digits, '-' or '.'.")
    return text


def validate_entry(raw: Any, site: Site, secret: str, now: datetime | None = None) -> Appointment:
    """One appointment from one entry of our JSON or CSV format; EntryError says what to
    fix. A naive start is in the site's time zone; no id means a stable derived one."""
    if not isinstance(raw, Mapping):
        raise EntryError("each appointment must be an object with start, first_name, "
                         "last_name and birth_date.")
    if raw.get("site") not in (None, "", site.id):
        raise EntryError(f"'site' {raw.get('site')!r} is not this site ({site.id}).")
    tz = site.tz
    start = parse_start(raw.get("start"), tz)
    end = parse_start(raw["end"], tz, "end") if raw.get("end") else None
    if end is not None and end <= start:
        raise EntryError("'end' must be after 'start'.")
    end = end or start + timedelta(minutes=DEFAULT_MINUTES)
    last_name = _name(raw, "last_name", "family name")
    first_name = _name(raw, "first_name", "given name")
    today = now.astimezone(tz).date() if now else None
    birth_date = parse_birth_date(raw.get("birth_date"), today)
    raw_id = raw.get("id")
    appointment_id = (parse_id(raw_id) if raw_id not in (None, "")
                      else derived_id(secret, site.id, start, last_name, birth_date))
    return Appointment(
        id=appointment_id,
        site=site.id,
        start=start,
        end=end,
        queue=parse_queue(raw.get("queue"), site),
        first_name=first_name,
        last_name=last_name,
        birth_date=birth_date,
        code=parse_code(raw.get("code")),
        status=parse_status(raw.get("status")),
        provider=_optional_text(raw, "provider") or None,
        patient_ref=_optional_text(raw, "patient_ref", 200) or None,
        language=_optional_text(raw, "language", LANGUAGE_MAX) or None,
    )
