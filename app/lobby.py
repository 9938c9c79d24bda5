"""The lobby-safe view: what a waiting room may see.

Its types have no field for a name, a birth date, a reason or a flag, so nothing
personal can reach a lobby screen by accident: the lobby templates get only these.
Pure: built from a SiteState.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.state import SiteState

CALLING_SHOWN = 6
TICKETS_SHOWN = 24  # what a TV can show legibly; the rest are counted


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


@dataclass(frozen=True)
class LobbyQueue:
    id: str
    label: str  # the queue's name; no lobby type has a field called "name" at all
    open: bool
    tickets: tuple[LobbyTicket, ...]
    waiting: int  # all waiting, including those beyond `tickets`
    new_eta: tuple[int, int]  # the wait of someone checking in now, low to high


@dataclass(frozen=True)
class LobbyView:
    site_name: str
    event_id: str
    queues: tuple[LobbyQueue, ...]
    calling: tuple[LobbyCall, ...]

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
                        for c in self.calling],
        }


def lobby_view(state: SiteState) -> LobbyView:
    room_names = {r.id: r.name for r in state.rooms}
    queues = []
    for q in state.queues:
        tickets = []
        for position, visit in enumerate(q.waiting[:TICKETS_SHOWN], start=1):
            eta = q.eta(position)
            tickets.append(LobbyTicket(visit["ticket"], eta["low"], eta["high"]))
        new = q.eta(q.total + 1)
        queues.append(LobbyQueue(q.id, q.name, q.open, tuple(tickets), q.total,
                                 (new["low"], new["high"])))
    calling = tuple(
        LobbyCall(v["ticket"], room_names.get(v.get("room") or ""), v.get("called_at", ""),
                  int(v.get("called_ms") or 0))
        for v in state.calling[:CALLING_SHOWN]
    )
    return LobbyView(state.site.name, state.event_id, tuple(queues), calling)
