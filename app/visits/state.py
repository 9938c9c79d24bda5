"""A site's live state as one snapshot, and its staff views.

Pure: built from what snapshot.lua returns, so the API, the board and the lobby all read
the same moment of the same data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

from app.sites import Site
from app.visits import estimates, visit_json

Fields = dict[str, str]
# A kiosk's call for help nobody answers is dropped after this long (app/desk/help_calls.py).
HELP_OPEN_HOURS = 12


@dataclass(frozen=True)
class QueueState:
    id: str
    name: str
    prefix: str
    open: bool
    waiting: tuple[Fields, ...]
    model: estimates.QueueModel
    total: int  # all waiting, even when `waiting` lists only the first few

    def eta(self, position: int) -> dict[str, int]:
        """The wait range of `position` (1 = next): the same on every screen and the API.
        Worked out once per snapshot, and only for the positions some screen shows."""
        known = self._etas.get(position)
        if known is None:
            if position > len(self.waiting) + 1:
                # Past the listed (the wait of someone checking in behind a long line):
                # that position alone, not a list of every wait up to it.
                wait = estimates.expected_wait(self.model, position)
            else:
                if len(self._waits) < position:
                    self._waits[:] = estimates.expected_waits(
                        self.model, max(position, 2 * len(self._waits)))
                wait = self._waits[position - 1]
            known = self._etas[position] = estimates.eta_range(self.model, position, wait)
        return known

    @cached_property
    def _etas(self) -> dict[int, dict[str, int]]:
        return {}

    @cached_property
    def _waits(self) -> list[float]:
        return []


@dataclass(frozen=True)
class RoomState:
    id: str
    name: str
    kind: str
    status: str
    visit_id: str | None


@dataclass(frozen=True)
class SiteState:
    site: Site
    event_id: str
    queues: tuple[QueueState, ...]
    active: tuple[Fields, ...]
    rooms: tuple[RoomState, ...]
    # The desk's broadcast line, {text, expires_at, expires_ms}, or None (app/desk/messages.py).
    message: dict[str, Any] | None = None
    # Today's appointments (app/visits/expected.py), read just after the atomic snapshot: the
    # board's Expected list, and the provider and start time of those who have arrived.
    appointments: tuple[Fields, ...] = ()
    # Kiosks' open calls for help, {kiosk, name, at, at_ms}, the oldest first
    # (app/desk/help_calls.py).
    help_calls: tuple[dict[str, Any], ...] = ()
    # The lobby's latest calls, newest first: {visit, ticket, queue, room, lang, ms, at,
    # kind}, kind being call, recall, room or withdrawn (app/storage/scripts/move.lua).
    lobby_calls: tuple[dict[str, Any], ...] = ()

    def visits(self) -> Iterator[Fields]:
        """The records of every visit listed waiting or active."""
        for q in self.queues:
            yield from q.waiting
        yield from self.active

    def queue(self, queue_id: str) -> QueueState | None:
        return next((q for q in self.queues if q.id == queue_id), None)

    @property
    def calling(self) -> tuple[Fields, ...]:
        """Visits called and not yet roomed, the most recent call first."""
        called = [v for v in self.active if v.get("status") == "called"]
        return tuple(sorted(called, key=lambda v: int(v.get("called_ms") or 0), reverse=True))

    def waiting_json(self, queue: QueueState) -> list[dict[str, Any]]:
        return [visit_json(v, i, queue.eta(i)) for i, v in enumerate(queue.waiting, start=1)]

    def to_json(self) -> dict[str, Any]:
        """docs/api.md's snapshot."""
        return {
            "event_id": self.event_id,
            "queues": [
                {"id": q.id, "name": q.name, "prefix": q.prefix, "open": q.open,
                 "waiting": self.waiting_json(q)}
                for q in self.queues
            ],
            "rooms": [
                {"id": r.id, "name": r.name, "kind": r.kind, "status": r.status,
                 "visit_id": r.visit_id}
                for r in self.rooms
            ],
            "calling": [visit_json(v) for v in self.calling],
            "help_calls": [help_call_json(c) for c in self.help_calls],
        }


def _list(value: Any) -> list[Any]:
    # cjson encodes an empty Lua table as {}: an empty list here.
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_snapshot(site: Site, raw: str | bytes | Mapping[str, Any], now_ms: int) -> SiteState:
    """Build a SiteState from snapshot.lua's JSON (or its decoded form), in the site's
    configured order."""
    data = raw if isinstance(raw, Mapping) else json.loads(raw)
    queue_open = data["queues"] or {}
    waiting = data["waiting"] or {}
    totals = data["totals"] or {}
    service = data.get("service") or {}
    history = data.get("history") or {}
    staffing = data.get("staffing") or {}
    local = datetime.fromtimestamp(now_ms / 1000, site.tz)
    room_status = data["rooms"] or {}
    room_visits = data["room_visits"] or {}
    closed = [r for r, status in room_status.items() if status == "closed"]
    queues = tuple(
        QueueState(
            id=q.id,
            name=q.name,
            prefix=q.prefix,
            open=queue_open.get(q.id) == "open",
            waiting=tuple(v for v in _list(waiting.get(q.id)) if v),
            model=estimates.model(
                estimates.parse_record(_list(service.get(q.id))), now_ms,
                q.minutes_per_patient, closed,
                estimates.parse_history(_list(history.get(q.id))),
                estimates.staffing_changes(_dict(staffing.get(q.id)), local)),
            total=int(totals.get(q.id, 0)),
        )
        for q in site.queues
        if q.id in queue_open
    )
    rooms = tuple(
        RoomState(r.id, r.name, r.kind, room_status.get(r.id, "closed"),
                  room_visits.get(r.id) or None)
        for r in site.rooms
    )
    active = tuple(v for v in _list(data["active"]) if v)
    return SiteState(site, data["event_id"], queues, active, rooms,
                     current_message(data.get("message") or None, now_ms),
                     help_calls=open_help_calls(data.get("help") or None, now_ms),
                     lobby_calls=tuple(_calls(data.get("lobby_calls"))))


def _calls(raw: Any) -> list[dict[str, Any]]:
    return [call for item in _list(raw) if isinstance(item, str)
            and (call := _call(item)) is not None]


@lru_cache(maxsize=1024)
def _call(item: str) -> dict[str, Any] | None:
    """One entry of the lobby's list of calls, parsed once: every redraw reads the whole
    list (dozens) again, and only its newest entry is new. Shared: read, never changed."""
    try:
        call = json.loads(item)
    except ValueError:
        return None
    return call if isinstance(call, dict) and call.get("visit") else None


# The message and the calls for help, as the snapshot reads them (written by
# app/desk/messages.py and app/desk/help_calls.py, which read them back through here).


def current_message(raw: str | None, now_ms: int) -> dict[str, Any] | None:
    """The stored message as {text, expires_at, expires_ms}, or None when there is none or
    it has run out (Redis may hold it for a moment past its expiry)."""
    if not raw:
        return None
    try:
        data = json.loads(raw)
        expires_ms = int(data["expires_ms"])
        text = str(data["text"])
    except (ValueError, KeyError, TypeError):
        return None
    if expires_ms <= now_ms:
        return None
    return {"text": text, "expires_at": str(data.get("expires_at", "")),
            "expires_ms": expires_ms}


def open_help_calls(raw: Mapping[str, str] | None, now_ms: int) -> tuple[dict[str, Any], ...]:
    """The open calls from the help hash as the snapshot read it, the oldest first, less
    those older than `HELP_OPEN_HOURS`."""
    since = now_ms - HELP_OPEN_HOURS * 3600_000
    calls = [c for c in (json.loads(body) for body in (raw or {}).values())
             if c["at_ms"] >= since]
    return tuple(sorted(calls, key=lambda c: c["at_ms"]))


def help_call_json(call: Mapping[str, Any]) -> dict[str, Any]:
    """A call as the API shows it (docs/api.md): which kiosk, its name, since when."""
    return {"kiosk": call.get("kiosk"), "name": call.get("name"), "at": call.get("at")}
