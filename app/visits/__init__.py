"""The visit and what is read of it: statuses and moves (here), the live state, the
lobby-safe view, events, wait estimates, status links, expected arrivals, announcements.

This module: the visit's statuses, the moves between them, and its JSON view.

Pure: no I/O. The Lua scripts apply a move atomically, but which move is allowed from
which status is decided here, once, and handed to the script with each call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STATUSES = ("waiting", "called", "in_room", "checkout", "done", "no_show", "left")
FINAL = frozenset({"done", "no_show", "left"})

# Flags a PSR acts on, with the board's short label. The kiosk sets the `*_changed` ones
# from "has anything changed?" and `see_desk` when a patient could not check in by
# themselves; `early`/`late` come from the appointment's arrival window.
FLAG_LABELS = {
    "insurance_verify": "Verify ins.",
    "copay_due": "Copay due",
    "forms_pending": "Forms",
    "interpreter": "Interpreter",
    "accessibility": "Accessibility",
    "id_check": "Check ID",
    "address_changed": "New address",
    "phone_changed": "New phone",
    "insurance_changed": "New insurance",
    "see_desk": "See desk",
    "early": "Early",
    "late": "Late",
}
# What clearing a flag means, in the words on its button on
# the board and on the audit trail.
FLAG_CLEARED = {
    "insurance_verify": "Insurance verified",
    "forms_pending": "Forms done",
    "interpreter": "Interpreter arranged",
    "accessibility": "Need met",
    "id_check": "ID checked",
    "address_changed": "Address updated",
    "phone_changed": "Phone updated",
    "insurance_changed": "Insurance updated",
    "see_desk": "Seen at desk",
    "early": "Noted",
    "late": "Noted",
}
FLAGS = tuple(FLAG_LABELS)
# Why the kiosk sent a patient to the desk (the visit's `desk_reason`), as the board says it.
DESK_REASONS = {
    "not_found": "no match found",
    "too_many_tries": "too many tries",
    "early": "early for appointment",
    "late": "late for appointment",
    "not_me": "said the booking is not theirs",
    "consent_question": "question about consent",
    "not_booked": "appointment cancelled or already seen",
    "queue_closed": "service closed",
}
PRIORITIES = {0: "normal", 1: "high", 2: "urgent"}
NAME_MAX = 100
LANGUAGE_MAX = 16


@dataclass(frozen=True)
class Move:
    action: str
    allowed_from: frozenset[str]
    to: str
    event: str


def _move(action: str, allowed: str, to: str, event: str) -> Move:
    return Move(action, frozenset(allowed.split()), to, event)


MOVES: dict[str, Move] = {
    m.action: m
    for m in (
        _move("call", "waiting", "called", "visit.called"),
        # The same call made again (the patient did not come): a new call time, so the
        # lobby says it once more as a second call, in the same room.
        _move("recall", "called", "called", "visit.recalled"),
        _move("room", "waiting called", "in_room", "visit.roomed"),
        _move("return", "called in_room", "waiting", "visit.returned"),
        _move("transfer", "waiting called in_room", "waiting", "visit.transferred"),
        _move("checkout", "in_room", "checkout", "visit.checkout"),
        _move("done", "called in_room checkout", "done", "visit.done"),
        _move("no-show", "called", "no_show", "visit.no_show"),
        _move("left", "waiting called", "left", "visit.left"),
    )
}


def visit_json(fields: Mapping[str, Any], position: int | None = None,
               eta: dict[str, int] | None = None) -> dict[str, Any]:
    """The staff view of docs/api.md from a visit's stored fields."""
    status = fields.get("status", "")
    return {
        "id": fields.get("id"),
        "site": fields.get("site"),
        "ticket": fields.get("ticket"),
        "queue": fields.get("queue"),
        "status": status,
        "name": fields.get("name") or None,
        "priority": int(fields.get("priority") or 0),
        "flags": json.loads(fields.get("flags") or "[]"),
        "room": fields.get("room") or None,
        "appointment_id": fields.get("appointment_id") or None,
        "language": fields.get("language") or None,
        "checked_in_at": fields.get("checked_in_at") or None,
        "called_at": fields.get("called_at") or None,
        "roomed_at": fields.get("roomed_at") or None,
        "done_at": fields.get("done_at") or None,
        "note": fields.get("note") or None,
        "copay_cents": int(fields.get("copay_cents") or 0),
        "desk_reason": fields.get("desk_reason") or None,
        "consented_at": fields.get("consented_at") or None,
        "position": position if status == "waiting" else None,
        "eta_minutes": eta if status == "waiting" else None,
    }
