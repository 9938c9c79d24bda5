"""The demo site: what `python -m app demo` and `make run` show a newcomer."""

from __future__ import annotations

from app.sites import Site, site_from_dict

DEMO_USER = "frontdesk"
DEMO_PASSWORD = "lobbyline-demo"

DEMO_SITE = {
    "id": "demo",
    "name": "Lakeside Family Clinic",
    "timezone": "America/Chicago",
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


def demo_site() -> Site:
    return site_from_dict(DEMO_SITE)
