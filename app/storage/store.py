"""Redis: the keys' owner and the only caller of the Lua scripts that write state.

Every write is one script, so each move is atomic across any number of app processes.
Refusals come back from the scripts as error replies with a machine code, and leave
here as ApiError (app/storage/refusals.py).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from starlette.requests import HTTPConnection

from app import clock
from app.config import Settings
from app.errors import invalid
from app.kept import Kept
from app.sites import Site, site_from_stored
from app.storage import due, keys, scripts
from app.storage.refusals import refusal
from app.storage.service_records import ServiceRecords, estimate
from app.storage.snapshot import HEAD, SLOT_MOVING, Snapshots
from app.visits import MOVES, estimates, expected, visit_json
from app.visits.events import Event
from app.visits.state import SiteState

SCRIPTS = ("checkin", "move", "room", "queue", "site", "message", "help", "expected")
# The lobby's list of calls holds this many: six per queue for four queues' displays, and
# the returns and transfers that withdraw some of them.
LOBBY_CALLS_KEPT = 60
# What a Store remembers between reads, per kind: queues' service records
# (app/storage/service_records.py); sites' parsed settings; what each site's last
# snapshot listed (app/storage/snapshot.py).
RECORDS_KEPT = 512


def redis_of(conn: HTTPConnection) -> Redis:
    """The Redis client of the app serving `conn`, the Store's: what a route hands to the
    module that owns a concept (auth, devices, throttle, the kiosk's sessions). Routes
    never send a command themselves."""
    return conn.app.state.store.redis


class Store:
    """All reads and writes of the live state, for one Redis (server, Sentinel or Cluster)."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._scripts = {name: redis.register_script(scripts.source(name)) for name in SCRIPTS}
        self.records = ServiceRecords(RECORDS_KEPT)
        self._sites: Kept[str, Site] = Kept(RECORDS_KEPT)  # stored text -> parsed (get_site)
        self.snapshots = Snapshots(redis, self.records, RECORDS_KEPT)

    async def run(self, name: str, keys_: dict[str, str], args: dict[str, Any]) -> Any:
        """Run the script `name` (one of SCRIPTS, loaded once for this Redis) with `keys_`
        and `args`; its refusals leave as ApiError."""
        try:
            return await scripts.call(self._scripts[name], keys_, args)
        except ResponseError as exc:
            raise refusal(str(exc)) from None

    # Sites

    async def save_site(self, site: Site, actor: str = "system") -> None:
        s = site.id
        # The global index lives in another cluster slot than the site, so it cannot be
        # written by the site's script. Added first: a reader of the index skips an id
        # whose configuration is not saved yet, while a saved site missing from the index
        # would be skipped by the periodic work until it was saved again.
        await self.redis.sadd(keys.sites(), s)
        await self.run(
            "site",
            {"site": keys.site(s), "queues": keys.queue_state(s), "rooms": keys.room_status(s),
             "room_visit": keys.room_visit(s), "events": keys.events(s)},
            {**scripts.common(self.settings, clock.now(), actor), "site": json.dumps(
                site.to_dict()), "site_id": s, "queue_ids": [q.id for q in site.queues],
             "room_ids": [r.id for r in site.rooms]},
        )
        # Its periodic work is worked out afresh: a new site, another closing hour.
        await due.due_now(self.redis, s)

    async def ping(self) -> None:
        """Raise RedisError (or OSError) unless Redis answers."""
        await self.redis.ping()

    async def get_site(self, site_id: str) -> Site | None:
        """The site as stored now. Every request reads it (a change made by any process
        applies at once); the parsed site is kept by its stored text, which changes only
        when the site is saved, so most reads skip the parse (a tenth of a check-in)."""
        return self.site_of(await self.redis.get(keys.site(site_id)))

    def site_of(self, raw: str | None) -> Site | None:
        """The site stored as `raw` (the text at its key; None or empty: no such site),
        parsed once per stored text: for a caller that read the key along with others."""
        if not raw:
            return None
        return self._sites.get(raw) or self._sites.put(raw, site_from_stored(json.loads(raw)))

    async def audit_log(self, site: Site, day: str) -> list[dict[str, Any]]:
        """The local day's audit log of the site, oldest first."""
        return [json.loads(raw) for raw in
                await self.redis.lrange(keys.audit(site.id, day), 0, -1)]

    async def day_counts(self, site: Site, day: str) -> dict[str, str]:
        """The local day's counts of the site, as the scripts keep them."""
        return await self.redis.hgetall(keys.stats(site.id, day))

    async def site_ids(self) -> list[str]:
        return sorted(await self.redis.smembers(keys.sites()))

    async def set_queue_open(self, site: Site, queue_id: str, is_open: bool, actor: str) -> None:
        s = site.id
        now = clock.now()
        await self.run(
            "queue",
            {"queues": keys.queue_state(s), "events": keys.events(s),
             "audit": keys.audit(s, clock.local_date(now, site.tz))},
            {**scripts.common(self.settings, now, actor), "queue": queue_id,
             "state": "open" if is_open else "closed"},
        )

    async def set_room_status(self, site: Site, room_id: str, status: str, actor: str) -> None:
        s = site.id
        now = clock.now()
        await self.run(
            "room",
            {"rooms": keys.room_status(s), "room_visit": keys.room_visit(s),
             "events": keys.events(s), "audit": keys.audit(s, clock.local_date(now, site.tz))},
            {**scripts.common(self.settings, now, actor), "room": room_id, "status": status},
        )

    # Visits

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
        consented_at: str = "",
        desk_reason: str = "",
    ) -> tuple[dict[str, Any], bool]:
        """Create a waiting visit; answers (visit, created). A repeated idempotency key, or
        an appointment that already has a visit, answers that visit and creates nothing.
        With an appointment, the visit takes its patient's name (unless `name` is given)
        and an `early` or `late` flag outside the arrival window; an unknown or cancelled
        appointment is refused (422). `now` is for imports and tests. The kiosk alone passes
        `consented_at` (ISO time the consent texts were acknowledged) and `desk_reason`."""
        q = site.queue(queue)
        if q is None:
            raise invalid(f"There is no queue '{queue}' at this site.", field="queue")
        s = site.id
        now = now or clock.now()
        date = clock.local_date(now, site.tz)
        visit_id = secrets.token_hex(8)
        idem = keys.idempotency(s, hashlib.sha256((idempotency_key or "").encode()).hexdigest())
        appt = keys.appointment(s, appointment_id)
        retention = self.settings.retention_days * 86400
        hour = clock.local_hour(now, site.tz)[0]
        held = self.records.held(s, queue, hour)
        base = {
            "queues": keys.queue_state(s), "rooms": keys.room_status(s),
            "visit": keys.visit(s, visit_id),
            "waiting": keys.waiting(s, queue), "service": keys.service(s, queue),
            "durations": keys.durations(s, queue, hour),
            "staffing": keys.staffing(s, queue),
            "ticket": keys.ticket_counter(s, date, queue), "day": keys.day(s, date),
            "events": keys.events(s), "audit": keys.audit(s, date),
            "stats": keys.stats(s, date), "seq": keys.sequence(s), "idem": idem,
        }
        args = {
            **scripts.common(self.settings, now, actor), "visit_id": visit_id, "site": s,
            "queue": queue, "prefix": q.prefix, "name": name, "priority": priority,
            "flags": list(flags), "language": language, "appointment_id": appointment_id,
            "early_ms": site.arrival_early_minutes * 60000,
            "late_ms": site.arrival_late_minutes * 60000,
            "use_idem": idempotency_key is not None,
            "retention_at": int(now.timestamp()) + retention,
            # An idempotency key never outlives the visit it names.
            "idem_ttl": min(86400, retention), "date": date,
            "consented_at": consented_at, "desk_reason": desk_reason,
            "seen": held[0] if held else "",
        }

        async def attempt() -> Any:
            idem_seen = linked_seen = None
            if idempotency_key is not None or appointment_id:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.get(idem)
                    pipe.hget(appt, "visit_id")
                    idem_seen, linked_seen = await pipe.execute()
            keys_ = dict(base)
            if idempotency_key is not None and idem_seen:
                keys_["idem_visit"] = keys.visit(s, idem_seen)
            if appointment_id:
                keys_["appt"] = appt
                if linked_seen:
                    keys_["linked"] = keys.visit(s, linked_seen)
            result = await self.run("checkin", keys_, {
                **args, "idem_seen": idem_seen or "", "linked_seen": linked_seen or ""})
            if result[0] == "existing":
                visit = await self.get_visit(site, result[1])
                return scripts.RETRY if visit is None else (visit, False)
            if result[0] == "created":
                return self.records.script_visit(site, result, hour, held), True
            return result

        return await scripts.settle(attempt)

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
        """Apply one move of the table; with no visit id, call the head of `next_queue`
        (skipping, and dropping from the queue, ids whose visit has expired).
        Answers the visit after the move, or None when nobody waits."""
        move = MOVES[action]
        if room and site.room(room) is None:
            raise invalid(f"There is no room '{room}' at this site.", field="room")
        if queue and site.queue(queue) is None:
            raise invalid(f"There is no queue '{queue}' at this site.", field="queue")
        s = site.id
        now = clock.now()
        date = clock.local_date(now, site.tz)
        base = {
            "active": keys.active(s), "rooms": keys.room_status(s),
            "room_visit": keys.room_visit(s), "events": keys.events(s),
            "audit": keys.audit(s, date), "stats": keys.stats(s, date),
            "queues": keys.queue_state(s), "seq": keys.sequence(s),
            "lobby_calls": keys.lobby_calls(s),
        }
        hour, hour_start_ms = clock.local_hour(now, site.tz)
        # The record of the queue a transfer sends the visit to is often unchanged since
        # this Store last had it (a return changes its queue's record itself).
        held = self.records.held(s, queue, hour) if queue else None
        if queue:
            base |= {"target_waiting": keys.waiting(s, queue),
                     "target_service": keys.service(s, queue),
                     "target_durations": keys.durations(s, queue, hour),
                     "target_staffing": keys.staffing(s, queue)}
        args = {
            **scripts.common(self.settings, now, actor), "visit_id": visit_id or "",
            "action": action, "allowed_from": sorted(move.allowed_from), "to": move.to,
            "event": move.event, "room": room, "target_queue": queue,
            "clean_after_use": site.clean_after_use,
            "desks": [r.id for r in site.rooms if r.kind == "desk"],
            "lobby_calls_kept": LOBBY_CALLS_KEPT, "record_max": estimates.RECORD_ENTRIES,
            "hour_start_ms": hour_start_ms, "history_max": estimates.HOUR_HISTORY,
            "hour": f"{hour:02d}", "date": date,
            "history_ttl": estimates.HISTORY_DAYS * 86400, "seen": held[0] if held else "",
        }

        # A call-next first declares the queue's head and the room's visit as this Store's
        # last snapshot of the site listed them, saving the read before the script: if
        # either has changed since, the script answers retry and the next try reads them.
        guess = None if visit_id else self.snapshots.listed(s)

        async def attempt() -> Any:
            nonlocal guess
            guessed = False
            if guess is not None and next_queue in guess.heads:
                guessed, found = True, list(guess.heads[next_queue])
                holder = guess.holders.get(room)
            else:
                async with self.redis.pipeline(transaction=False) as pipe:
                    if visit_id:
                        pipe.hmget(keys.visit(s, visit_id), ["queue", "appointment_id"])
                    else:
                        pipe.zrange(keys.waiting(s, next_queue), 0, HEAD - 1)
                    if room:
                        pipe.hget(keys.room_visit(s), room)
                    found, *holders = await pipe.execute()
                holder = holders[0] if holders else None
            guess = None
            keys_ = dict(base)
            if visit_id:
                (current, appointment_id), ids = found, [visit_id]
                if appointment_id:
                    keys_["appt"] = keys.appointment(s, appointment_id)
            else:
                current, appointment_id, ids = next_queue, "", found
            if current:
                keys_ |= {"waiting": keys.waiting(s, current),
                          "service": keys.service(s, current),
                          "durations": keys.durations(s, current, hour),
                          "durations_before": keys.durations(s, current, (hour - 1) % 24),
                          "staffing": keys.staffing(s, current)}
            for id_ in (*ids, *([holder] if holder else [])):
                keys_["visit:" + id_] = keys.visit(s, id_)
            try:
                return await self.run("move", keys_, {
                    **args, "queue": current or "", "appointment_id": appointment_id or "",
                    "holder_seen": holder or ""})
            except SLOT_MOVING:
                if not guessed:
                    raise
                return scripts.RETRY  # the slot is moving: the read waits it out (snapshot())

        result = await scripts.settle(attempt)
        if result[0] == "empty":
            return None
        return self.records.script_visit(site, result, hour, held)

    async def get_visit(self, site: Site, visit_id: str) -> dict[str, Any] | None:
        """The staff view of one visit, with its live position and estimate."""
        fields = await self.redis.hgetall(keys.visit(site.id, visit_id))
        if not fields:
            return None
        position = eta = None
        if fields.get("status") == "waiting":
            hour = clock.local_hour(clock.now(), site.tz)[0]
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zrank(keys.waiting(site.id, fields["queue"]), visit_id)
                pipe.lrange(keys.service(site.id, fields["queue"]), 0, -1)
                pipe.hgetall(keys.room_status(site.id))
                pipe.lrange(keys.durations(site.id, fields["queue"], hour), 0, -1)
                pipe.hgetall(keys.staffing(site.id, fields["queue"]))
                rank, record, rooms, history, staffing = await pipe.execute()
            if rank is not None:
                position = rank + 1
                closed = [r for r, status in rooms.items() if status == "closed"]
                eta = estimate(site, fields["queue"], position, record, closed, history,
                               staffing)
        return visit_json(fields, position, eta)

    async def snapshot(self, site: Site, limit: int | None = None,
                       appointments: bool = True, expect: Iterable[str] = ()) -> SiteState:
        """The site's live state as one atomic read (app/storage/snapshot.py), then
        today's appointments (the board's), unless `appointments` is false: then the
        state has none."""
        state = await self.snapshots.read(site, limit, expect)
        if not appointments:
            return state
        return replace(state, appointments=await self.appointments(site, clock.now()))

    async def appointments(self, site: Site, now: datetime) -> tuple[dict[str, str], ...]:
        """Today's appointments at `now`, as the board shows them (app/visits/expected.py)."""
        return await expected.today(self.redis, self._scripts["expected"], site, now)

    async def events_after(self, site_id: str, after: str, limit: int) -> list[Event]:
        """Events after `after` ("0" for the oldest the stream holds), oldest first."""
        entries = await self.redis.xrange(keys.events(site_id), f"({after}", "+", count=limit)
        return [Event.from_stream(i, f) for i, f in entries]


