"""The demo site: what `python -m app demo` and `make run` show a newcomer.

Whatever the hour, the demo clinic is in the middle of its morning: its time zone is the
fixed-offset one where it is now late morning, and a clinic with nobody in it is given a
few patients waiting, called and in a room beside its day of appointments.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app import clock
from app.sites import Site, site_from_dict
from app.storage import keys

DEMO_USER = "frontdesk"
DEMO_PASSWORD = "lobbyline-demo"
DEMO_HOUR = 11  # the demo clinic's local hour whenever the demo is started

DEMO_SITE = {
    "id": "demo",
    "name": "Lakeside Family Clinic",
    "queues": [
        {"id": "registration", "name": "Registration", "prefix": "A", "minutes_per_patient": 4},
        {"id": "provider", "name": "Provider", "prefix": "P", "minutes_per_patient": 15},
        {"id": "lab", "name": "Lab", "prefix": "L", "minutes_per_patient": 6},
    ],
    "rooms": [
        {"id": "desk-1", "name": "Desk 1", "kind": "desk"},
        {"id": "desk-2", "name": "Desk 2", "kind": "desk"},
        *({"id": f"room-{n}", "name": f"Room {n}"} for n in range(1, 7)),
        {"id": "lab-1", "name": "Lab chair 1"},
    ],
}

# Walk-ins already in the clinic when the demo starts: queue, name, flags, priority,
# language, minutes since they checked in. Fictional names.
DEMO_PATIENTS: tuple[tuple[str, str, tuple[str, ...], int, str, int], ...] = (
    ("registration", "Harriet Lindqvist", ("insurance_verify",), 0, "", 24),
    ("registration", "Tomás Echeverría", ("interpreter", "copay_due"), 0, "es", 17),
    ("registration", "Priyanka Raman", (), 1, "", 12),
    ("registration", "Walter Okonjo", ("forms_pending",), 0, "", 8),
    ("registration", "Beatriz Salgado", (), 0, "es", 3),
    ("provider", "Declan Murphy", ("copay_due",), 0, "", 31),
    ("provider", "Yuki Matsumoto", (), 0, "", 19),
    ("provider", "Nadia Petrenko", ("id_check",), 2, "", 6),
    ("lab", "Graham Whitaker", (), 0, "", 14),
    ("lab", "Leila Farahani", (), 0, "", 5),
    # These three are then called, called, and roomed (see seed_patients).
    ("registration", "Ruth Abernathy", (), 0, "", 9),
    ("provider", "Kofi Boateng", (), 0, "", 22),
    ("lab", "Ines Carvalho", (), 0, "es", 11),
)
DEMO_MOVES = (("call", "desk-1"), ("call", "room-2"), ("room", "lab-1"))


def demo_zone(now: datetime) -> str:
    """The fixed-offset zone where `now` falls in the hour DEMO_HOUR:00 to DEMO_HOUR:59, so
    the demo opens on a clinic in its late morning at any hour. (`Etc/GMT+6` is six hours
    behind UTC: the sign is POSIX's, the reverse of ISO's.)"""
    behind = (now.astimezone(UTC).hour - DEMO_HOUR) % 24
    if behind > 12:
        behind -= 24  # Etc/ zones run from GMT-14 to GMT+12
    return "Etc/GMT" if behind == 0 else f"Etc/GMT{behind:+d}"


def demo_site(now: datetime | None = None, site_id: str = "demo") -> Site:
    """The demo clinic, in the zone where it is late morning at `now` (default: now)."""
    return site_from_dict({**DEMO_SITE, "id": site_id,
                           "timezone": demo_zone(now or clock.now())})


async def seed_patients(store: Any, site: Site) -> int:
    """Give an empty demo clinic its morning: walk-ins waiting (some for a while), two
    called, one in a room. Does nothing when anyone is already waiting, called or in a
    room; answers how many it checked in."""
    state = await store.snapshot(site)
    if state.active or any(q.total for q in state.queues):
        return 0
    now = clock.now()
    made = []
    for queue, name, flags, priority, language, minutes in DEMO_PATIENTS:
        visit, _ = await store.check_in(site, queue, actor="system:demo", name=name,
                                        flags=list(flags), priority=priority,
                                        language=language)
        made.append(visit)
        # As if they had come in earlier: their waits read like a morning's.
        earlier = now - timedelta(minutes=minutes)
        await store.redis.hset(keys.visit(site.id, visit["id"]), mapping={
            "checked_in_ms": str(clock.ms(earlier)), "checked_in_at": clock.iso(earlier)})
    for visit, (action, room) in zip(made[-len(DEMO_MOVES):], DEMO_MOVES, strict=True):
        await store.move(site, visit["id"], action, actor="system:demo", room=room)
    return len(made)

