"""The front-desk board: its page, and the fragments its socket receives.

Every board of a site gets the same fragments (rendered once per change by the hub);
what differs per PSR (their desk, filters, sound) lives in the browser (static/js/board.js).
Times are shown in the site's time zone; timers tick in the browser from the epoch-ms
timestamps in the markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from babel import Locale, UnknownLocaleError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.access.screens import screen_access
from app.desk.records import PAYMENT_METHODS
from app.sites import Queue, Room, Site
from app.templating import macro, templates
from app.timefmt import hour12, site_clock_ms
from app.visits import DESK_REASONS, FLAG_CLEARED, FLAG_LABELS, MOVES, PRIORITIES
from app.visits.state import QueueState, RoomState, SiteState

T = TypeVar("T", Queue, Room, QueueState, RoomState)

MACROS = "board_macros.html"
CLEARED = FLAG_CLEARED
MAIN_MOVES = {"waiting": ("call",), "called": ("done", "no-show"),
              "in_room": ("checkout", "done"), "checkout": ("done",)}
MOVE_LABELS = {"call": "Call", "recall": "Recall", "room": "Room", "return": "Return",
               "transfer": "Transfer", "checkout": "Check-out", "done": "Done",
               "no-show": "No-show", "left": "Left"}
RECALL_AFTER_MS = 3 * 60_000  # called and not roomed this long: the row asks "Recall?"


def local_hm(ms: int | str | None, site: Site) -> str:
    """Epoch ms as the site writes a time of day ("3:05 PM" or "15:05"; "" for none)."""
    return site_clock_ms(ms, site)


def language_mark(code: str, site: Site) -> dict[str, str] | None:
    """The patient's language beside their name, when it is not the site's own:
    {"code": "ES", "name": "Spanish"}; None otherwise."""
    code = code.strip()
    ours = site.language
    if not code or code.split("-")[0].lower() == ours.split("-")[0].lower():
        return None
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name("en") or code
    except (ValueError, TypeError, UnknownLocaleError):
        name = code
    return {"code": code.upper(), "name": name}


def row(v: Mapping[str, Any], site: Site, appts: Mapping[str, Mapping[str, str]],
        position: int | None = None) -> dict[str, Any]:
    """What a visit's row shows, from its stored fields."""
    appt = appts.get(v.get("appointment_id") or "") or {}
    flags = json.loads(v.get("flags") or "[]")
    status = v.get("status", "")
    language = v.get("language") or ""
    chips = []
    for f in flags:
        label = FLAG_LABELS.get(f, f)
        if f == "interpreter" and language:
            label = f"Interp: {language.upper()}"
        if f == "see_desk" and v.get("desk_reason") in DESK_REASONS:
            label = f"See desk: {DESK_REASONS[v['desk_reason']]}"
        chips.append({"flag": f, "label": label, "cleared": CLEARED.get(f)})
    room = site.room(v.get("room") or "")
    moves = [m for m, move in MOVES.items() if status in move.allowed_from]
    return {
        "id": v.get("id"), "ticket": v.get("ticket"), "queue": v.get("queue"),
        "status": status, "name": v.get("name") or "", "priority": int(v.get("priority") or 0),
        "chips": chips, "room": room.name_in(site.language) if room else "",
        "note": v.get("note") or "",
        "copay_cents": int(v.get("copay_cents") or 0),
        "since_ms": v.get("called_ms") if status == "called" else v.get("checked_in_ms"),
        "recall_due_ms": int(v["called_ms"]) + RECALL_AFTER_MS
        if status == "called" and v.get("called_ms") else None,
        "checked_in_ms": v.get("checked_in_ms") or "",
        "checked_in": local_hm(v.get("checked_in_ms"), site),
        "appt_time": local_hm(appt.get("start_ms"), site), "provider": appt.get("provider", ""),
        "language": language_mark(language, site),
        "position": position, "main": [m for m in MAIN_MOVES.get(status, ()) if m in moves],
        "more": [m for m in moves if m not in MAIN_MOVES.get(status, ())],
    }


def in_site_language(things: Iterable[T], site: Site) -> list[T]:
    """Queues or rooms (configured or live) named as the site translates them into its
    own language (`names`), the language the board is read in."""
    out = []
    for thing in things:
        config = site.queue(thing.id) if isinstance(thing, (Queue, QueueState)) \
            else site.room(thing.id)
        out.append(replace(thing, name=config.name_in(site.language)) if config else thing)
    return out


def context(state: SiteState) -> dict[str, Any]:
    """What the board's page and its fragments are rendered from."""
    site = state.site
    appts = {a["id"]: a for a in state.appointments}
    queues = [(q, [{**row(v, site, appts, i), "eta": q.eta(i)}
                   for i, v in enumerate(q.waiting, start=1)])
              for q in in_site_language(state.queues, site)]
    active = [row(v, site, appts) for v in state.active]
    expected = [{**a, "time": local_hm(a.get("start_ms"), site)}
                for a in state.appointments if a.get("status") == "booked"]
    long_queues = [q for q, _ in queues
                   if site.alert_queue_length and q.total > site.alert_queue_length]
    return {
        "site": site, "queues": queues, "active": active,
        "rooms": in_site_language(state.rooms, site),
        "expected": expected, "long_queues": long_queues, "message": state.message,
        "help_calls": [{**c, "time": local_hm(c["at_ms"], site)} for c in state.help_calls],
        "all_queues": in_site_language(site.queues, site),
        "room_list": in_site_language(site.rooms, site),
        "desks": in_site_language((r for r in site.rooms if r.kind == "desk"), site),
        "priorities": PRIORITIES, "methods": PAYMENT_METHODS, "labels": MOVE_LABELS,
        "providers": sorted({a["provider"] for a in state.appointments if a.get("provider")}),
    }


def fragments(state: SiteState) -> dict[str, str]:
    """Element id -> markup for the board socket."""
    ctx = context(state)

    def render(name: str, *args: Any) -> str:
        return str(macro(MACROS, name)(ctx, *args))

    out = {f"board-queue-{q.id}": render("queue", q, rows) for q, rows in ctx["queues"]}
    out["board-active"] = render("active")
    out["board-rooms"] = render("rooms")
    out["board-expected"] = render("expected")
    out["board-alerts"] = render("alerts")
    out["board-message"] = render("message")
    return out


async def page(request: Request) -> Response:
    access = await screen_access(request, ("desk",), "/login")
    if isinstance(access, Response):
        return access
    principal, site = access
    state = await request.app.state.store.snapshot(site)
    user = principal.actor.partition(":")[2] or principal.actor
    ctx = context(state)
    return templates.TemplateResponse(request, "board.html", {
        **ctx, "ctx": ctx, "user": user, "role": principal.role, "flag_labels": FLAG_LABELS,
        "undo_seconds": request.app.state.settings.board_undo_seconds,
        "hour12": hour12(site)})


routes = [Route("/sites/{site}/board", page)]
