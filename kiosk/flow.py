"""The kiosk's flow: its steps, what a patient's session holds, and the decisions between
steps (which appointment, or the desk, and why).

Pure: no I/O. kiosk/session.py keeps a session in Redis; kiosk/routes.py runs the steps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import Any

from app.appointments.model import Appointment, arrival_flags, normalise_name
from app.sites import Site
from app.timefmt import site_clock

# The steps, in the order a patient meets them.
WELCOME = "welcome"
CODE = "code"  # confirmation code, typed on the keypad or scanned
NAME = "name"  # last name + date of birth
CHOOSE = "choose"  # several appointments today: pick one by initials, time, provider
CONFIRM = "confirm"  # "Is this you?"
CHANGES = "changes"  # address, phone, insurance
CONSENT = "consent"
SERVICES = "services"  # walk-in: which queue
WALKIN = "walkin"  # walk-in: first name and last initial, both optional
TICKET = "ticket"
DESK = "desk"  # a registration ticket: "Please see the front desk"
STEPS = (WELCOME, CODE, NAME, CHOOSE, CONFIRM, CHANGES, CONSENT, SERVICES, WALKIN, TICKET,
         DESK)
# Where "Back" goes; steps not listed have no way back (a ticket is final).
BACK = {CODE: WELCOME, NAME: CODE, CHOOSE: NAME, CONFIRM: CODE, CHANGES: CONFIRM,
        CONSENT: CHANGES, SERVICES: WELCOME, WALKIN: SERVICES}

# Why the kiosk sent a patient to the desk: stored on the visit (`desk_reason`), never
# anything personal.
NOT_FOUND = "not_found"  # three look-ups in a row found nothing
TOO_MANY = "too_many_tries"  # a session asked for its code, for a name out of look-ups,
# had none
EARLY = "early"
LATE = "late"
NOT_ME = "not_me"  # "Is this you?" No
CONSENT_QUESTION = "consent_question"
NOT_BOOKED = "not_booked"  # cancelled, or already seen today
QUEUE_CLOSED = "queue_closed"  # the appointment's queue closed meanwhile
REASONS = (NOT_FOUND, TOO_MANY, EARLY, LATE, NOT_ME, CONSENT_QUESTION, NOT_BOOKED,
           QUEUE_CLOSED)
# Reasons where the appointment found is the patient's: the desk's ticket is linked to it
# (so it is marked arrived, and early or late shows on the board).
LINKED = frozenset({EARLY, LATE, CONSENT_QUESTION, QUEUE_CLOSED})

CHANGE_FLAGS = {"address": "address_changed", "phone": "phone_changed",
                "insurance": "insurance_changed"}

FAILURES_BEFORE_DESK = 3  # look-ups a session may fail; the third sends it to the desk
DEVICE_SLOW_AFTER = 5  # failed look-ups per kiosk per LIMIT_SECONDS before it slows down
DEVICE_PAUSE_MAX = 8.0  # seconds
NAME_LIMIT = 3  # failed look-ups per last name per LIMIT_SECONDS, whatever the birth date
LIMIT_SECONDS = 600
FIRST_NAME_MAX = 30
BIRTH_YEAR_MIN = 1880
NAME_RE = re.compile(r"^[^\W\d_]+(?:[ '\u2019.-][^\W\d_]+)*$")


@dataclass(frozen=True)
class Session:
    """One patient's way through the kiosk. Lives in Redis under its cookie's hash and is
    replaced by a fresh one at every return to the welcome screen."""

    id: str
    lang: str
    step: str = WELCOME
    failures: int = 0
    matches: tuple[str, ...] = ()  # appointment ids to choose from
    appointment_id: str = ""
    changes: tuple[str, ...] = ()  # flags from "has anything changed?"
    queue: str = ""  # the walk-in's service
    visit_id: str = ""
    reason: str = ""  # why at the desk
    notice: str = ""  # a message for the current step, e.g. the failed look-up
    code_only: bool = False  # the name it gave is out of look-ups: a code, or the desk

    @property
    def idempotency_key(self) -> str:
        """One visit per session, however often a button is tapped."""
        return "kiosk:" + self.id

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> Session:
        data = json.loads(raw)
        for name in ("matches", "changes"):
            data[name] = tuple(data.get(name) or ())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def go(self, step: str, **changes: Any) -> Session:
        """The session on `step`, with no notice unless one is given."""
        return replace(self, step=step, notice=changes.pop("notice", ""), **changes)


def back(session: Session) -> Session:
    return session.go(BACK.get(session.step, session.step))


@dataclass(frozen=True)
class Lookup:
    """What a look-up decided: `step` is CONFIRM, CHOOSE, DESK, or the same step again
    with a notice (nothing found)."""

    step: str
    matches: tuple[Appointment, ...] = ()
    reason: str = ""


def decide(found: Sequence[Appointment], now: datetime, site: Site) -> Lookup:
    """The step after a look-up found `found` (that day's appointments of one code, or of
    one last name and birth date). Only a booked (or already arrived) appointment inside
    the arrival window checks in here; one outside it goes to the desk with the reason.
    One already marked a no-show is a late patient after all: the desk sees "late"."""
    usable = [a for a in found if a.status in ("booked", "arrived")]
    if not found:
        return Lookup(step="")
    if not usable:
        missed = [a for a in found if a.status == "noshow"]
        if missed:
            return Lookup(DESK, (max(missed, key=lambda a: a.start),), LATE)
        return Lookup(DESK, reason=NOT_BOOKED)
    inside = [a for a in usable if not window(a, now, site)]
    if not inside:
        nearest = min(usable, key=lambda a: abs(a.start - now))
        return Lookup(DESK, (nearest,), window(nearest, now, site))
    if len(inside) == 1:
        return Lookup(CONFIRM, (inside[0],))
    return Lookup(CHOOSE, tuple(sorted(inside, key=lambda a: a.start)))


def window(appointment: Appointment, now: datetime, site: Site) -> str:
    """"early", "late" or "" (inside the site's arrival window)."""
    flags = arrival_flags(appointment.start, now, site.arrival_early_minutes,
                          site.arrival_late_minutes)
    return flags[0] if flags else ""


def initials(first: str, last: str) -> str:
    """"J. S." for Jane Smith: enough for a patient to know themselves, too little for a
    stranger reading over a shoulder."""
    return " ".join(f"{n.strip()[0].upper()}." for n in (first, last) if n.strip())


def summary(appointment: Appointment, site: Site) -> dict[str, str]:
    """What the kiosk shows of an appointment: initials, local time, provider (or the
    queue's name when none is booked)."""
    local = appointment.start.astimezone(site.tz)
    queue = site.queue(appointment.queue)
    return {
        "initials": initials(appointment.first_name, appointment.last_name),
        "time": site_clock(local, site),
        "provider": appointment.provider or (queue.name if queue else ""),
    }


def birth_date(month: str, day: str, year: str, today: date) -> str | None:
    """YYYY-MM-DD from the three answers of the birth-date keys, or None when they do not
    make a plausible date."""
    try:
        born = date(int(year), int(month), int(day))
    except (TypeError, ValueError):
        return None
    if not (born.year >= BIRTH_YEAR_MIN and born <= today) or len(year.strip()) != 4:
        return None
    return born.isoformat()


def plausible_last_name(text: str) -> bool:
    """Whether `text` could be a last name (letters, with spaces, hyphens or apostrophes)."""
    return bool(normalise_name(text)) and len(text) <= 100


def name_too_long(first: str) -> bool:
    """Whether a walk-in's first name is longer than the board keeps (FIRST_NAME_MAX)."""
    return len(" ".join(first.split())) > FIRST_NAME_MAX


def walk_in_name(first: str, last_initial: str) -> str | None:
    """"Ana L." from a walk-in's optional answers ("" when both are empty); None when what
    was typed is not a name."""
    first = " ".join(first.split())
    initial = last_initial.strip().rstrip(".")
    if first and (len(first) > FIRST_NAME_MAX or not NAME_RE.match(first)):
        return None
    if initial and (len(initial) != 1 or not initial.isalpha()):
        return None
    if first.isupper() or first.islower():  # typed on the capital keys, or all small
        first = first.title()
    return " ".join(p for p in (first, f"{initial.upper()}." if initial else "") if p)


def desk_queue(site: Site) -> str:
    """The queue a patient sent to the desk joins: the site's first (registration, by
    convention)."""
    return site.queues[0].id


def device_pause(device_failures: int) -> float:
    """Seconds a kiosk waits before each look-up after `device_failures` failed look-ups
    (of any patients) in LIMIT_SECONDS: none at first, then 1, 2, 4, at most
    DEVICE_PAUSE_MAX. It slows someone guessing codes at the kiosk and refuses no one: the
    next patient's right code still checks in."""
    if device_failures < DEVICE_SLOW_AFTER:
        return 0.0
    return min(2.0 ** (device_failures - DEVICE_SLOW_AFTER), DEVICE_PAUSE_MAX)


def name_limited(name_failures: int) -> bool:
    """Whether a last name has used up its failed look-ups: a session giving it is asked
    for its confirmation code instead (or goes to the desk), so birth dates cannot be
    guessed for that name; other sessions and other names are not affected."""
    return name_failures >= NAME_LIMIT
