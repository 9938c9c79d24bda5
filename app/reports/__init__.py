"""The day after the fact: its money and trail (here), its numbers and charts with their
JSON (day_stats, charts, stats_api), and closing it at the site's hour (day_close).

This module: the day's money and trail, from the per-day audit log (no personal fields).

Pure: takes the audit entries (what lib.lua's `emit` wrote) and answers the rows and sums
the report pages and the CSV show.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app import timefmt
from app.desk.records import PAYMENT_METHODS
from app.sites import Site
from app.visits import FLAG_CLEARED, FLAG_LABELS

Entry = Mapping[str, Any]
COPAY = "visit.copay_recorded"
# What each event type means on the audit page, in a person's words.
ACTIONS = {
    "visit.checked_in": "checked in", "visit.called": "called", "visit.recalled": "called again",
    "visit.roomed": "taken to a room", "visit.returned": "sent back to the queue",
    "visit.transferred": "moved to another queue",
    "visit.checkout": "sent to check-out", "visit.done": "done", "visit.no_show": "no-show",
    "visit.left": "left", "visit.flag_cleared": "flag dealt with",
    "visit.copay_recorded": "copay recorded", "visit.noted": "note changed",
    "visit.priority_changed": "priority changed", "room.updated": "room changed",
    "queue.updated": "queue opened or closed", "appointment.imported": "appointment imported",
    "appointment.arrived": "appointment arrived", "appointment.no_show": "appointment missed",
    "appointment.cancelled": "appointment cancelled", "day.closed": "day closed",
    "site.updated": "site settings saved", "site.message": "lobby message changed",
    "kiosk.help": "help asked for at a kiosk", "kiosk.help_answered": "kiosk's call answered",
    "device.paired": "device paired", "device.revoked": "device unpaired",
    "user.signin_failures": "sign-ins failing for a user",
}
# The audit page's "What" filter: each kind of row and the event types it holds.
KINDS = {
    "visits": ("Patients' visits", ("visit.checked_in", "visit.called", "visit.recalled",
               "visit.roomed", "visit.returned", "visit.transferred", "visit.checkout",
               "visit.done", "visit.no_show", "visit.left", "visit.flag_cleared",
               "visit.noted", "visit.priority_changed")),
    "money": ("Copays", ("visit.copay_recorded",)),
    "appointments": ("Appointments", ("appointment.imported", "appointment.arrived",
                     "appointment.no_show", "appointment.cancelled")),
    "rooms": ("Rooms and queues", ("room.updated", "queue.updated")),
    "screens": ("Kiosks, screens and messages", ("kiosk.help", "kiosk.help_answered",
                "device.paired", "device.revoked", "site.message")),
    "site": ("Settings and the day", ("site.updated", "day.closed")),
    "signins": ("Sign-ins", ("user.signin_failures",)),
}
ROOM_STATES = {"available": "available", "occupied": "in use",
               "needs_cleaning": "needs cleaning", "closed": "closed"}
ROLES = {"kiosk": "kiosk", "display": "lobby display"}
PRIORITY_WORDS = {0: "normal", 1: "high", 2: "urgent"}


def who(actor: str, devices: Mapping[str, str] | None = None) -> str:
    """An actor as a person reads it: `user:pat` is pat, a device is its name ("Kiosk by
    the door"), `system:day-close` is the system."""
    kind, _, name = actor.partition(":")
    if not name:
        return actor
    if kind == "device":
        return (devices or {}).get(name) or "a paired device"
    return {"user": name, "token": f"API token {name}",
            "system": f"the system ({name.removeprefix('system:')})"}.get(kind, actor)


def local_time(iso: str, tz: ZoneInfo, twelve: bool = False) -> str:
    """"14:05:09" (or, on a 12-hour site, "2:05:09 PM") in the site's time zone ("" when
    unreadable)."""
    try:
        return timefmt.clock(datetime.fromisoformat(iso), tz, twelve, seconds=True)
    except (TypeError, ValueError):
        return ""


def dollars(cents: int) -> str:
    return f"{cents / 100:,.2f}"


@dataclass
class Reconciliation:
    """One day's copays: each payment, and sums by method and by PSR."""

    payments: list[dict[str, Any]] = field(default_factory=list)
    by_method: dict[str, int] = field(default_factory=dict)
    by_actor: dict[str, dict[str, int]] = field(default_factory=dict)
    total: int = 0


def reconcile(entries: Iterable[Entry], tz: ZoneInfo, twelve: bool = False) -> Reconciliation:
    """Copays of the day from its audit entries, in the order they were taken."""
    out = Reconciliation(by_method={m: 0 for m in PAYMENT_METHODS})
    for e in entries:
        if e.get("type") != COPAY:
            continue
        cents, method, actor = int(e.get("amount_cents") or 0), str(e.get("method")), who(
            str(e.get("actor", "")))
        out.payments.append({"time": local_time(str(e.get("at", "")), tz, twelve),
                             "ticket": e.get("ticket") or "", "method": method,
                             "cents": cents, "actor": actor})
        out.by_method[method] = out.by_method.get(method, 0) + cents
        row = out.by_actor.setdefault(actor, {**{m: 0 for m in PAYMENT_METHODS}, "total": 0})
        row[method] = row.get(method, 0) + cents
        row["total"] += cents
        out.total += cents
    return out


def reconciliation_csv(day: str, rec: Reconciliation) -> str:
    """The day's payments as CSV (one row each), then the totals by method."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["date", "time", "ticket", "method", "amount", "recorded_by"])
    for p in rec.payments:
        w.writerow([day, p["time"], p["ticket"], p["method"], f"{p['cents'] / 100:.2f}",
                    p["actor"]])
    for method, cents in rec.by_method.items():
        w.writerow([day, "", "", f"total {method}", f"{cents / 100:.2f}", ""])
    w.writerow([day, "", "", "total", f"{rec.total / 100:.2f}", ""])
    return buf.getvalue()


def detail(e: Entry, site: Site | None = None) -> str:
    """The particulars of one audit entry, in words, with the site's names for its rooms,
    queues and flags (never a personal field: there is none in the log)."""
    kind = e.get("type")

    def room_name(room_id: str) -> str:
        room = site.room(room_id) if site else None
        return room.name if room else room_id

    def queue_name(queue_id: str) -> str:
        queue = site.queue(queue_id) if site else None
        return queue.name if queue else queue_id

    parts = []
    if e.get("type") == "user.signin_failures":
        parts.append(f"user {e.get('user')}, {e.get('failures')} wrong passwords in a row")
    if e.get("room"):
        state = ROOM_STATES.get(str(e.get("status") or ""))
        parts.append(room_name(str(e["room"])) + (f" now {state}" if state and
                                                  kind == "room.updated" else ""))
    if e.get("queue"):
        parts.append(queue_name(str(e["queue"])))
    if e.get("flag"):
        flag = str(e["flag"])
        parts.append(FLAG_CLEARED.get(flag, FLAG_LABELS.get(flag, flag)).lower()
                     if kind == "visit.flag_cleared" else FLAG_LABELS.get(flag, flag))
    if e.get("amount_cents"):
        parts.append(f"${dollars(int(e['amount_cents']))} by {e.get('method')}")
    if e.get("priority") is not None and kind == "visit.priority_changed":
        try:
            parts.append(f"now {PRIORITY_WORDS[int(e['priority'])]}")
        except (KeyError, TypeError, ValueError):
            parts.append(f"now {e['priority']}")
    if e.get("role"):
        role = ROLES.get(str(e["role"]), str(e["role"]))
        parts.append(f"{role} “{e['name']}”" if e.get("name") else role)
    if e.get("reason"):
        parts.append(str(e["reason"]))
    return ", ".join(parts)


def device_names(entries: Iterable[Entry], devices: Iterable[Mapping[str, Any]] = ()
                 ) -> dict[str, str]:
    """Device id -> name, from the devices paired now and the pairings on the trail (a
    device unpaired since keeps the name it had)."""
    names = {str(d["id"]): str(d.get("name") or "") for d in devices if d.get("name")}
    for e in entries:
        if e.get("type") == "device.paired" and e.get("name"):
            names.setdefault(str(e.get("device")), str(e["name"]))
    return names


def audit_rows(entries: Iterable[Entry], tz: ZoneInfo, ticket: str = "",
               actor: str = "", twelve: bool = False, kind: str = "",
               site: Site | None = None,
               devices: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """The entries matching a ticket (exact, any case), an actor (part of the name, any
    case) and a kind (a key of KINDS), oldest first, as the audit page shows them: in
    words, a device by its name, and a run of appointments imported together (one import
    by one actor) as one row saying how many."""
    ticket, actor = ticket.strip().upper(), actor.strip().lower()
    types = KINDS[kind][1] if kind in KINDS else None
    rows: list[dict[str, str]] = []
    run: dict[str, Any] | None = None
    for e in entries:
        if ticket and str(e.get("ticket") or "").upper() != ticket:
            continue
        event = str(e.get("type", ""))
        if types is not None and event not in types:
            continue
        name = who(str(e.get("actor", "")), devices)
        if actor and actor not in name.lower() and actor not in str(e.get("actor", "")).lower():
            continue
        if event == "appointment.imported" and not ticket:
            if run is not None and run["actor"] == e.get("actor") and rows[-1] is run["row"]:
                run["count"] += 1
                run["row"]["action"] = f"{run['count']} appointments imported"
                continue
            row = {"time": local_time(str(e.get("at", "")), tz, twelve), "ticket": "",
                   "action": "1 appointment imported", "actor": name, "detail": ""}
            rows.append(row)
            run = {"actor": e.get("actor"), "count": 1, "row": row}
            continue
        rows.append({"time": local_time(str(e.get("at", "")), tz, twelve),
                     "ticket": e.get("ticket") or "",
                     "action": ACTIONS.get(event, event.replace(".", " ").replace("_", " ")),
                     "actor": name, "detail": detail(e, site)})
    return rows


def day_numbers(stats: Mapping[str, str]) -> list[tuple[str, int]]:
    """The day's counts from its stats hash, in the order a person reads them."""
    names = (("checked_in", "Checked in"), ("call", "Called"), ("done", "Done"),
             ("no-show", "No-show"), ("left", "Left without being seen"),
             ("day_closed", "Still open at day close (counted in Left)"), ("copays", "Copays"))
    return [(label, int(stats.get(key) or 0)) for key, label in names]
