"""The demo site's day of appointments: early, on time, late and missed patients at once,
around the moment `python -m app demo` runs. Pure: it builds our JSON import format."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from app.access.codes import code_from_bytes
from app.appointments.model import CODE_LENGTH, arrival_flags
from app.sites import Site

PATIENTS = (
    ("Maeve", "O'Brien", "1958-03-14"), ("José", "Núñez", "1984-11-02"),
    ("Olivia", "Smith-Jones", "1991-07-23"), ("Liam", "Nguyen", "1976-01-30"),
    ("Aisha", "Rahman", "2001-05-17"), ("Noah", "Kowalski", "1969-09-08"),
    ("Sofia", "García", "1988-12-19"), ("Ethan", "Brooks", "2015-04-04"),
    ("Chloé", "Dubois", "1995-02-11"), ("Mateo", "Hernández", "1979-06-25"),
    ("Grace", "Okafor", "1963-10-31"), ("Lucas", "Schmidt", "1999-08-13"),
    ("Zoë", "Van der Berg", "1986-03-03"), ("Omar", "Haddad", "1972-07-07"),
    ("Hannah", "Cohen", "1990-01-15"), ("Kenji", "Tanaka", "1955-12-01"),
    ("Fatima", "Al-Sayed", "1982-09-29"), ("Daniel", "McAllister", "1947-05-05"),
    ("Priya", "Patel", "1993-11-21"), ("Samuel", "D'Angelo", "1968-02-28"),
    ("Ingrid", "Løvås", "1977-04-16"), ("Marcus", "Johnson", "2009-10-10"),
    ("Elena", "Popescu", "1960-06-06"), ("Tyler", "Whitfield", "1998-03-27"),
    ("Amara", "Mensah", "1987-08-08"), ("Connor", "O'Neill", "1974-12-12"),
    ("Yusuf", "Demir", "1952-01-09"), ("Lily", "Chen", "2012-09-14"),
    ("Rosa", "Delgado", "1981-05-30"), ("Ben", "Carter", "1966-11-11"),
)
PROVIDERS = ("Dr. Amara Okafor", "Dr. Daniel Kim", "NP Rosa Alvarez")
SLOT_MINUTES = 10
FIRST_OFFSET = -75
MISSED_MARGIN_MINUTES = 30
CANCELLED = (9, 22)


def _code(site_id: str, day: str, index: int) -> str:
    digest = hashlib.sha256(f"{site_id}|{day}|{index}".encode()).digest()
    return code_from_bytes(digest[:CODE_LENGTH])


def demo_appointments(site: Site, now: datetime) -> list[dict[str, Any]]:
    """About 30 appointments every 10 minutes from 75 minutes ago: a few already missed
    (`noshow`), some late, some inside the arrival window, most still to come, two
    cancelled. Ids and codes are stable for the day, so running it again updates."""
    local_now = now.astimezone(site.tz).replace(second=0, microsecond=0)
    base = local_now - timedelta(minutes=local_now.minute % 5)
    day = base.date().isoformat()
    lab = site.queue("lab")
    entries = []
    for i, (first, last, born) in enumerate(PATIENTS):
        start = base + timedelta(minutes=FIRST_OFFSET + SLOT_MINUTES * i)
        missed = start < now - timedelta(
            minutes=site.arrival_late_minutes + MISSED_MARGIN_MINUTES)
        status = "cancelled" if i in CANCELLED else "noshow" if missed else "booked"
        entries.append({
            "id": f"demo-{day}-{i:02d}",
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=20)).isoformat(),
            "queue": lab.id if lab is not None and i % 7 == 3 else site.queues[0].id,
            "provider": PROVIDERS[i % len(PROVIDERS)],
            "first_name": first,
            "last_name": last,
            "birth_date": born,
            "code": _code(site.id, day, i),
            "status": status,
        })
    return entries


def kiosk_examples(entries: list[dict[str, Any]], site: Site, now: datetime,
                   k: int = 3) -> list[dict[str, Any]]:
    """Up to `k` of `entries` a kiosk would check in right now (booked, inside the
    arrival window): what the demo prints for a newcomer to try."""
    ready = [
        e for e in entries
        if e["status"] == "booked" and not arrival_flags(
            datetime.fromisoformat(e["start"]), now, site.arrival_early_minutes,
            site.arrival_late_minutes)
    ]
    return ready[:k]
