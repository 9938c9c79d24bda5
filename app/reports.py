"""The day's money and trail, from the per-day audit log (no personal fields).

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

from app.desk import PAYMENT_METHODS

Entry = Mapping[str, Any]
COPAY = "visit.copay_recorded"
# What each event type means on the audit page.
ACTIONS = {
    "visit.checked_in": "checked in", "visit.called": "called", "visit.recalled": "called again",
    "visit.roomed": "roomed", "visit.returned": "returned to the queue",
    "visit.transferred": "transferred",
    "visit.checkout": "sent to check-out", "visit.done": "done", "visit.no_show": "no-show",
    "visit.left": "left", "visit.flag_cleared": "flag cleared",
    "visit.copay_recorded": "copay recorded", "visit.noted": "note changed",
    "visit.priority_changed": "priority changed", "room.updated": "room changed",
    "queue.updated": "queue opened or closed", "appointment.imported": "appointment imported",
    "appointment.arrived": "appointment arrived", "appointment.no_show": "appointment missed",
    "appointment.cancelled": "appointment cancelled", "day.closed": "day closed",
    "site.updated": "site settings saved", "site.message": "lobby message changed",
    "kiosk.help": "help asked for at a kiosk", "kiosk.help_answered": "kiosk's call answered",
    "user.signin_failures": "sign-ins failing for a user",
}


def who(actor: str) -> str:
    """An actor as a person reads it: `user:pat` is pat."""
    kind, _, name = actor.partition(":")
    return {"user": name, "token": f"API token {name}", "device": "paired device",
            "system": f"system ({name})"}.get(kind, actor) if name else actor


def local_time(iso: str, tz: ZoneInfo) -> str:
    """"14:05:09" in the site's time zone ("" when unreadable)."""
    try:
        return datetime.fromisoformat(iso).astimezone(tz).strftime("%H:%M:%S")
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


def reconcile(entries: Iterable[Entry], tz: ZoneInfo) -> Reconciliation:
    """Copays of the day from its audit entries, in the order they were taken."""
    out = Reconciliation(by_method={m: 0 for m in PAYMENT_METHODS})
    for e in entries:
        if e.get("type") != COPAY:
            continue
        cents, method, actor = int(e.get("amount_cents") or 0), str(e.get("method")), who(
            str(e.get("actor", "")))
        out.payments.append({"time": local_time(str(e.get("at", "")), tz),
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


def detail(e: Entry) -> str:
    """The particulars of one audit entry, in words (never a personal field: there is
    none in the log)."""
    parts = []
    if e.get("type") == "user.signin_failures":
        parts.append(f"user {e.get('user')}, {e.get('failures')} wrong passwords in a row")
    if e.get("room"):
        parts.append(f"room {e['room']}")
    if e.get("queue") and e.get("type") != "queue.updated":
        parts.append(f"queue {e['queue']}")
    if e.get("flag"):
        parts.append(f"flag {e['flag']}")
    if e.get("amount_cents"):
        parts.append(f"${dollars(int(e['amount_cents']))} by {e.get('method')}")
    if e.get("priority") is not None and e.get("type") == "visit.priority_changed":
        parts.append(f"priority {e['priority']}")
    if e.get("reason"):
        parts.append(str(e["reason"]))
    if e.get("type") == "queue.updated" and e.get("queue"):
        parts.append(f"queue {e['queue']}")
    return ", ".join(parts)


def audit_rows(entries: Iterable[Entry], tz: ZoneInfo, ticket: str = "",
               actor: str = "") -> list[dict[str, str]]:
    """The entries matching a ticket (exact, any case) and an actor (part of the name,
    any case), oldest first, as the audit page shows them."""
    ticket, actor = ticket.strip().upper(), actor.strip().lower()
    rows = []
    for e in entries:
        if ticket and str(e.get("ticket") or "").upper() != ticket:
            continue
        name = who(str(e.get("actor", "")))
        if actor and actor not in name.lower() and actor not in str(e.get("actor", "")).lower():
            continue
        kind = str(e.get("type", ""))
        rows.append({"time": local_time(str(e.get("at", "")), tz), "ticket": e.get("ticket") or "",
                     "action": ACTIONS.get(kind, kind), "actor": name, "detail": detail(e)})
    return rows


def day_numbers(stats: Mapping[str, str]) -> list[tuple[str, int]]:
    """The day's counts from its stats hash, in the order a person reads them."""
    names = (("checked_in", "Checked in"), ("call", "Called"), ("done", "Done"),
             ("no-show", "No-show"), ("left", "Left without being seen"),
             ("day_closed", "Still open at day close (counted in Left)"), ("copays", "Copays"))
    return [(label, int(stats.get(key) or 0)) for key, label in names]
