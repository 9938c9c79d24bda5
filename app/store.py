"""Redis: the keys' owner and the only caller of the Lua scripts that write state.

Every write is one script, so each move is atomic across any number of app processes.
Refusals come back from the scripts as error replies with a machine code, and leave
here as ApiError.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from app import clock, estimates, keys, scripts
from app.config import Settings
from app.errors import ApiError, invalid, not_found
from app.events import Event
from app.sites import Site, site_from_stored
from app.state import SiteState, parse_snapshot
from app.visits import MOVES, visit_json

SCRIPTS = ("checkin", "move", "snapshot", "room", "queue", "site")


class Store:
    """All reads and writes of the live state, for one Redis (server, Sentinel or Cluster)."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._scripts = {name: redis.register_script(scripts.source(name)) for name in SCRIPTS}

    async def _run(self, name: str, keys_: list[str], args: list[Any]) -> Any:
        try:
            return await self._scripts[name](keys=keys_, args=args)
        except ResponseError as exc:
            raise _refusal(str(exc)) from None

    # Sites

    async def save_site(self, site: Site, actor: str = "system") -> None:
        s = site.id
        await self._run(
            "site",
            [keys.site(s), keys.queue_state(s), keys.room_status(s), keys.room_visit(s),
             keys.events(s), keys.sites()],
            [json.dumps(site.to_dict()), " ".join(q.id for q in site.queues),
             " ".join(r.id for r in site.rooms), clock.iso(clock.now()), actor,
             self.settings.stream_maxlen, s],
        )

    async def get_site(self, site_id: str) -> Site | None:
        raw = await self.redis.get(keys.site(site_id))
        return site_from_stored(json.loads(raw)) if raw else None

    async def site_ids(self) -> list[str]:
        return sorted(await self.redis.smembers(keys.sites()))

    async def set_queue_open(self, site: Site, queue_id: str, is_open: bool, actor: str) -> None:
        s = site.id
        now = clock.now()
        await self._run(
            "queue",
            [keys.queue_state(s), keys.events(s), keys.audit(s, clock.local_date(now, site.tz))],
            [queue_id, "open" if is_open else "closed", clock.iso(now), actor,
             self.settings.stream_maxlen, self._audit_ttl],
        )

    async def set_room_status(self, site: Site, room_id: str, status: str, actor: str) -> None:
        s = site.id
        now = clock.now()
        await self._run(
            "room",
            [keys.room_status(s), keys.room_visit(s), keys.events(s),
             keys.audit(s, clock.local_date(now, site.tz))],
            [room_id, status, clock.iso(now), actor, self.settings.stream_maxlen,
             self._audit_ttl],
        )

    # Visits

    @property
    def _audit_ttl(self) -> int:
        return self.settings.audit_retention_days * 86400

    async def check_in(
        self,
        site: Site,
        queue: str,
        *,
        actor: str,
        name: str = "",
        priority: int = 0,
        flags: list[str] | tuple[str, ...] = (),
        appointment_id: str = "",
        language: str = "",
        idempotency_key: str | None = None,
        now: datetime | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Create a waiting visit; answers (visit, created). A repeated idempotency key
        answers the first visit and creates nothing. `now` is for imports and tests."""
        q = site.queue(queue)
        if q is None:
            raise invalid(f"There is no queue '{queue}' at this site.", field="queue")
        s = site.id
        now = now or clock.now()
        date = clock.local_date(now, site.tz)
        visit_id = secrets.token_hex(8)
        idem = hashlib.sha256((idempotency_key or "").encode()).hexdigest()
        result = await self._run(
            "checkin",
            [keys.queue_state(s), keys.visit(s, visit_id), keys.waiting(s, queue),
             keys.ticket_counter(s, date, queue), keys.day(s, date), keys.events(s),
             keys.idempotency(s, idem), keys.audit(s, date), keys.stats(s, date),
             keys.visit_prefix(s), keys.sequence(s)],
            [visit_id, s, queue, name, priority, json.dumps(list(flags)), appointment_id,
             language, clock.iso(now), clock.ms(now), q.prefix,
             self.settings.retention_days * 86400,
             self.settings.stream_maxlen, actor, "1" if idempotency_key else "0",
             self._audit_ttl, date, keys.appointment(s, appointment_id),
             keys.waiting_prefix(s), keys.calls_prefix(s)],
        )
        return _script_visit(site, result), result[0] == "created"

    async def move(
        self,
        site: Site,
        visit_id: str | None,
        action: str,
        *,
        actor: str,
        room: str = "",
        queue: str = "",
        next_queue: str = "",
    ) -> dict[str, Any] | None:
        """Apply one move of the table; with no visit id, call the head of `next_queue`.
        Answers the visit after the move, or None when nobody waits."""
        move = MOVES[action]
        if room and site.room(room) is None:
            raise invalid(f"There is no room '{room}' at this site.", field="room")
        if queue and site.queue(queue) is None:
            raise invalid(f"There is no queue '{queue}' at this site.", field="queue")
        s = site.id
        now = clock.now()
        date = clock.local_date(now, site.tz)
        result = await self._run(
            "move",
            [keys.active(s), keys.room_status(s), keys.room_visit(s), keys.events(s),
             keys.audit(s, date), keys.stats(s, date), keys.queue_state(s),
             keys.sequence(s)],
            [visit_id or "", action, " ".join(sorted(move.allowed_from)), move.to, move.event,
             clock.iso(now), clock.ms(now), actor, room, queue, next_queue,
             keys.visit_prefix(s), keys.waiting_prefix(s), keys.calls_prefix(s),
             self.settings.stream_maxlen, "1" if site.clean_after_use else "0",
             " ".join(r.id for r in site.rooms if r.kind == "desk"), self._audit_ttl,
             keys.appointment(s, "")],
        )
        if result[0] == "empty":
            return None
        return _script_visit(site, result)

    async def get_visit(self, site: Site, visit_id: str) -> dict[str, Any] | None:
        """The staff view of one visit, with its live position and estimate."""
        fields = await self.redis.hgetall(keys.visit(site.id, visit_id))
        if not fields:
            return None
        position = eta = None
        if fields.get("status") == "waiting":
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zrank(keys.waiting(site.id, fields["queue"]), visit_id)
                pipe.lrange(keys.calls(site.id, fields["queue"]), 0, -1)
                rank, calls = await pipe.execute()
            if rank is not None:
                position = rank + 1
                eta = _eta(site, fields["queue"], position, calls)
        return visit_json(fields, position, eta)

    async def snapshot(self, site: Site, limit: int | None = None) -> SiteState:
        """The site's live state in one atomic read; `limit` caps each queue's list
        (the screens show a few dozen, however long the queue)."""
        s = site.id
        raw = await self._run(
            "snapshot",
            [keys.queue_state(s), keys.room_status(s), keys.room_visit(s), keys.active(s),
             keys.events(s)],
            [keys.visit_prefix(s), keys.waiting_prefix(s), keys.calls_prefix(s),
             -1 if limit is None else limit - 1],
        )
        return parse_snapshot(site, raw, clock.ms(clock.now()))

    async def events_after(self, site_id: str, after: str, limit: int) -> list[Event]:
        """Events after `after` ("0" for the oldest the stream holds), oldest first."""
        entries = await self.redis.xrange(keys.events(site_id), f"({after}", "+", count=limit)
        return [Event.from_stream(i, f) for i, f in entries]


def _eta(site: Site, queue_id: str, position: int, calls: list[str]) -> dict[str, int] | None:
    queue = site.queue(queue_id)
    if queue is None:
        return None
    now_ms = clock.ms(clock.now())
    pace = estimates.pace_minutes([int(t) for t in calls], now_ms, queue.minutes_per_patient)
    return estimates.eta(position, pace)


def _script_visit(site: Site, result: list[Any]) -> dict[str, Any]:
    """The staff view of the visit a script answered with, its estimate included."""
    fields = json.loads(result[3])
    position = int(fields["position"]) if fields.get("position") else None
    calls = json.loads(result[4])
    eta = None
    if position is not None and fields.get("status") == "waiting":
        eta = _eta(site, fields["queue"], position, calls if isinstance(calls, list) else [])
    return visit_json(fields, position, eta)


def _refusal(message: str) -> ApiError:
    code, _, arg = message.partition(" ")
    if code == "conflict":
        return ApiError(409, "conflict", f"That move is not allowed while the visit is {arg}.",
                        status=arg)
    if code == "not_found":
        return not_found("The visit")
    if code == "queue_closed":
        return ApiError(409, "queue_closed", "That queue is closed to new check-ins.")
    if code == "unknown_queue":
        return invalid("There is no such queue at this site.", field="queue")
    if code == "unknown_room":
        return invalid("There is no such room at this site.", field="room")
    if code == "room_occupied":
        return ApiError(409, "room_occupied", "That room already has a patient in it.",
                        visit_id=arg)
    if code == "room_closed":
        return ApiError(409, "room_closed", "That room is closed.")
    raise RuntimeError(f"unexpected script error: {message}")
