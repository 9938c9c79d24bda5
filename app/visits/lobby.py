"""The lobby-safe view: what a waiting room may see.

Its types have no field for a name, a birth date, a reason or a flag, so nothing
personal can reach a lobby screen by accident: the lobby templates get only these.
The patient's phone page has its own such type (`PatientStatus`): its ticket, place and
wait, and where to go once called, never a name. Pure: built from a SiteState or a visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from app.sites import Site, translated
from app.timefmt import hour12, site_clock_ms
from app.visits.announce import Announcement, announcements, site_language
from app.visits.state import SiteState

CALLING_SHOWN = 6
TICKETS_SHOWN = 24  # what a TV can show legibly; the rest are counted
# Recent calls kept per queue, so a display limited to any of the queues still has a full
# list of five besides the newest (the page shows the last 30 minutes' of them).
RECENT_PER_QUEUE = 6
# A patient roomed without a call (or after a call to a desk) is shown in the Now-calling
# panel this long, unless a newer call takes it: the patient needs time to see and go.
ROOM_CALL_HOLD_MS = 2 * 60_000


@dataclass(frozen=True)
class LobbyTicket:
    ticket: str
    eta_low: int
    eta_high: int


@dataclass(frozen=True)
class LobbyCall:
    ticket: str
    room: str | None
    called_at: str
    called_ms: int
    queue: str = ""
    called_local: str = ""  # the call's time as the site writes it ("3:05 PM", "15:05")
    current: bool = True  # still where the call sent them: a candidate for the hero
    kind: str = "call"  # call, recall, or room (roomed without a call to that room)
    hold_until_ms: int = 0  # a room call leaves the hero then; 0: when the visit moves
    # What the displays say aloud: the site's language first, then the patient's choice
    # (a language code, like the ticket, says nothing about who the patient is).
    says: tuple[Announcement, ...] = ()

    @property
    def spoken(self) -> list[dict[str, str]]:
        """`says` as plain data, for the page's speech."""
        return [{"lang": a.lang, "text": a.text, "recall": a.recall} for a in self.says]


@dataclass(frozen=True)
class LobbyQueue:
    id: str
    label: str  # the queue's name in the lobby's (the site's) language; no lobby type has
    # a field called "name" at all
    open: bool
    tickets: tuple[LobbyTicket, ...]
    waiting: int  # all waiting, including those beyond `tickets`
    new_eta: tuple[int, int]  # the wait of someone checking in now, low to high
    names: tuple[tuple[str, str], ...] = ()  # the site's translations of the queue's name
    configured: str = ""  # its name as configured, for a language `names` does not give

    def name_in(self, lang: str) -> str:
        """The queue's name in `lang` when the site gives one (the kiosk's screens)."""
        return translated(self.configured or self.label, self.names, lang)


@dataclass(frozen=True)
class LobbyView:
    site_name: str
    event_id: str
    queues: tuple[LobbyQueue, ...]
    calling: tuple[LobbyCall, ...]  # still called, the newest first
    recent: tuple[LobbyCall, ...] = ()  # every recent call, newest first
    message: str | None = None  # the desk's broadcast line
    message_expires_ms: int = 0
    timezone: str = "UTC"
    language: str = "en"
    hour12: bool = True  # the site writes times on a 12-hour clock

    def to_json(self) -> dict[str, Any]:
        """docs/api.md's lobby view."""
        return {
            "event_id": self.event_id,
            "queues": [
                {"id": q.id, "name": q.label, "waiting": [
                    {"ticket": t.ticket, "eta_minutes": {"low": t.eta_low, "high": t.eta_high}}
                    for t in q.tickets]}
                for q in self.queues
            ],
            "calling": [{"ticket": c.ticket, "room": c.room, "called_at": c.called_at}
                        for c in self.calling if c.kind != "room"],
            "recent": [{"ticket": c.ticket, "room": c.room, "called_at": c.called_at,
                        "queue": c.queue, "called": c.current and c.kind != "room",
                        "kind": c.kind,
                        "announce": [{"lang": a.lang, "text": a.text} for a in c.says]}
                       for c in self.recent],
            "message": None if self.message is None else {
                "text": self.message, "expires_ms": self.message_expires_ms},
        }


def announces_rooming(site: Site) -> bool:
    """Whether the site's lobby shows and says a rooming as a call (`[lobby]
    announce_rooming`, on by default)."""
    table = site.extra.get("lobby")
    return not isinstance(table, dict) or table.get("announce_rooming", True) is not False


def lobby_calls(state: SiteState) -> list[dict[str, Any]]:
    """The latest call of each visit on the lobby's list, newest first: a return or a
    transfer withdraws a visit's call; a rooming counts unless the site turns it off."""
    rooming = announces_rooming(state.site)
    latest: dict[str, dict[str, Any]] = {}
    for c in reversed(state.lobby_calls):  # oldest first
        kind = c.get("kind")
        if kind == "withdrawn":
            latest.pop(c["visit"], None)
        elif kind in ("call", "recall") or (kind == "room" and rooming):
            latest.pop(c["visit"], None)
            latest[c["visit"]] = c
    return sorted(latest.values(), key=lambda c: int(c.get("ms") or 0), reverse=True)


class _Call(NamedTuple):
    """A call on the lobby's list before it is built into a `LobbyCall`."""

    ticket: str
    room_id: str
    ms: int
    at: str
    queue: str
    language: str | None
    current: bool
    kind: str


def lobby_view(state: SiteState, only: tuple[str, ...] = ()) -> LobbyView:
    """The lobby-safe view of `state`; with `only`, just those queues and their calls."""
    rooms = {r.id: r for r in state.site.rooms}
    lang = site_language(state.site)
    queues = []
    for q in state.queues:
        if only and q.id not in only:
            continue
        tickets = []
        for position, visit in enumerate(q.waiting[:TICKETS_SHOWN], start=1):
            eta = q.eta(position)
            tickets.append(LobbyTicket(visit["ticket"], eta["low"], eta["high"]))
        new = q.eta(q.total + 1)
        config = state.site.queue(q.id)
        # The lobby is in the site's language: a queue's name as the site translates it.
        label = config.name_in(state.site.language) if config else q.name
        queues.append(LobbyQueue(q.id, label, q.open, tuple(tickets), q.total,
                                 (new["low"], new["high"]), config.names if config else (),
                                 q.name))

    def call(m: _Call) -> LobbyCall:
        room = rooms.get(m.room_id)
        return LobbyCall(
            m.ticket, room.name_in(state.site.language) if room else None, m.at, m.ms,
            m.queue, site_clock_ms(m.ms, state.site), m.current,
            kind=m.kind, hold_until_ms=m.ms + ROOM_CALL_HOLD_MS if m.kind == "room" else 0,
            says=announcements(lang, m.language, m.ticket, room.name if room else None,
                               room.kind if room else None, room.names if room else ()))

    # What each call is made of, chosen before any is built: a busy day's list holds
    # dozens of calls, the lobby shows `RECENT_PER_QUEUE` of each queue, and building one
    # (its time in the site's words, its announcements) is the costly part.
    active = {v.get("id"): v for v in state.active}
    made: list[_Call] = []
    seen = set()
    for c in lobby_calls(state):
        v = active.get(c["visit"]) or {}
        status = v.get("status")
        if c["kind"] == "room":
            current = status == "in_room" and v.get("room") == c.get("room")
        else:
            current = status == "called"
        seen.add(c["visit"])
        made.append(_Call(str(c["ticket"]), str(c.get("room") or ""), int(c["ms"]),
                          str(c.get("at") or ""), str(c.get("queue") or ""),
                          c.get("lang") or None, current, c["kind"]))
    # A visit called and still called or in its room whose call is not on the list (made
    # more than an hour ago, when the list has expired): from the visit as it stands.
    for v in state.active:
        if v.get("called_ms") and v.get("status") in ("called", "in_room") \
                and v.get("id") not in seen:
            made.append(_Call(v["ticket"], v.get("room") or "", int(v["called_ms"]),
                              v.get("called_at", ""), v.get("queue", ""), v.get("language"),
                              v.get("status") == "called", "call"))
    made.sort(key=lambda m: m.ms, reverse=True)
    per_queue: dict[str, int] = {}
    recent = []
    for m in made:
        if only and m.queue not in only:
            continue
        seen_q = per_queue.get(m.queue, 0)
        if seen_q < RECENT_PER_QUEUE:
            per_queue[m.queue] = seen_q + 1
            recent.append(call(m))
    calling = tuple(c for c in recent if c.current)[:CALLING_SHOWN]
    message = state.message or {}
    return LobbyView(state.site.name, state.event_id, tuple(queues), calling, tuple(recent),
                     message.get("text"), int(message.get("expires_ms") or 0),
                     state.site.timezone, lang, hour12(state.site))


@dataclass(frozen=True)
class PatientStatus:
    """What the patient's own phone shows: their ticket and where they stand, never who
    they are."""

    ticket: str
    queue_label: str
    status: str
    position: int | None
    eta_low: int | None
    eta_high: int | None
    room: str | None
    language: str = ""  # the language the patient chose at the kiosk, if any

    @property
    def near(self) -> bool:
        """Called, or close enough to the front that the page should look more often."""
        return self.status == "called" or (self.position is not None and self.position <= 3)

    def to_json(self) -> dict[str, Any]:
        """docs/api.md's status of `/t/{token}/status`."""
        eta = None if self.eta_low is None else {"low": self.eta_low, "high": self.eta_high}
        return {"ticket": self.ticket, "queue": self.queue_label, "status": self.status,
                "position": self.position, "eta_minutes": eta, "room": self.room}


def patient_status(site: Site, visit: dict[str, Any], lang: str = "") -> PatientStatus:
    """The phone-safe status of a visit in its staff view (docs/api.md's visit JSON), its
    queue and room named in `lang` where the site translates them."""
    queue = site.queue(visit.get("queue") or "")
    room = site.room(visit.get("room") or "")
    eta = visit.get("eta_minutes") or {}
    return PatientStatus(
        ticket=str(visit.get("ticket") or ""),
        queue_label=queue.name_in(lang) if queue else "",
        status=str(visit.get("status") or ""),
        position=visit.get("position"),
        eta_low=eta.get("low"), eta_high=eta.get("high"),
        room=room.name_in(lang) if room else None,
        language=str(visit.get("language") or ""),
    )
