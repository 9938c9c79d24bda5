"""An event of a site's stream, as read back and as docs/api.md shows it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app.appointments.model import appointment_json
from app.visits import visit_json
from app.visits.state import help_call_json


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    at: str
    actor: str
    visit: dict[str, str] | None = None
    room: dict[str, str] | None = None
    queue: dict[str, Any] | None = None
    appointment: dict[str, str] | None = None
    help: dict[str, Any] | None = None  # a kiosk's call for help (app/desk/help_calls.py)

    @classmethod
    def from_stream(cls, event_id: str, fields: dict[str, str]) -> Event:
        def loads(key: str) -> Any:
            return json.loads(fields[key]) if key in fields else None

        return cls(event_id, fields.get("type", ""), fields.get("at", ""),
                   fields.get("actor", ""), loads("visit"), loads("room"), loads("queue"),
                   loads("appointment"), loads("help"))

    def to_json(self) -> dict[str, Any]:
        """docs/api.md's event. The position is the one at the time of the event."""
        body: dict[str, Any] = {"id": self.id, "type": self.type, "at": self.at,
                                "actor": self.actor}
        if self.visit is not None:
            position = self.visit.get("position")
            body["visit"] = visit_json(self.visit, int(position) if position else None)
        if self.room is not None:
            body["room"] = {**self.room, "visit_id": self.room.get("visit_id") or None}
        if self.queue is not None:
            body["queue"] = self.queue
        if self.appointment is not None:
            body["appointment"] = appointment_json(self.appointment)
        if self.help is not None:
            body["help"] = help_call_json(self.help)
        return body
