"""A site's live state as one atomic read, and what each site's last one listed.

The snapshot script must declare every visit it reads (a Cluster routes by declared keys),
so it needs to know them before it runs. It first guesses them from what the site's last
snapshot in this process listed plus the visits the caller saw arrive since (most often
every one listed now, saving a round trip); if they are not all there, the script says
retry and the next try reads them first with a MULTI of the lists. A call-next guesses its
queue's head and its room's visit from the same record (app/storage/store.py, `move`).

The same record keeps the visits' records themselves, with their revisions: the script
answers a record still at the revision held with its id alone. A site's redraw then costs
what changed since the last one, not every visit listed: with a hundred patients called
or in rooms the script answered 64 KB and a snapshot took ~4 ms, against 14 KB and ~1.5 ms
now (docs/benchmarks.md, round 15).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from redis.asyncio import Redis
from redis.exceptions import AskError, ClusterError, TryAgainError

from app import clock
from app.kept import Kept
from app.sites import Site
from app.storage import keys, scripts
from app.storage.service_records import ServiceRecords
from app.visits.state import Fields, SiteState, parse_snapshot

HEAD = 16  # ids a call-next declares from the head of its queue
TRIES = 5  # strict snapshots before one that takes its event id from its pre-read
# What a guess that met a Cluster slot moving between masters raises: the read it saved
# waits the move out, so the caller goes back to it.
SLOT_MOVING = (AskError, ClusterError, TryAgainError)


class Listed(NamedTuple):
    """What a site's last snapshot listed: the snapshot's and the call-next's guesses at
    which keys to declare, saving the read before their scripts."""

    records: dict[str, Fields]  # the records of the visits waiting or active, by id
    heads: dict[str, tuple[str, ...]]  # each queue's first HEAD ids (Store.move)
    holders: dict[str, str]  # each occupied room's visit (Store.move)

    def visits(self) -> set[str]:
        """Every visit it listed: waiting, active, or holding a room."""
        return {*self.records, *self.holders.values()}


class Snapshots:
    """Snapshots of sites through one Redis; remembers what each site's last one listed
    (up to `kept` sites) and hands the service records it read to `records`."""

    def __init__(self, redis: Redis, records: ServiceRecords, kept: int) -> None:
        self.redis = redis
        self.records = records
        self._script = redis.register_script(scripts.source("snapshot"))
        self._listed: Kept[str, Listed] = Kept(kept)

    def listed(self, site_id: str) -> Listed | None:
        """What the site's last snapshot in this process listed, if it is remembered."""
        return self._listed.get(site_id)

    async def read(self, site: Site, limit: int | None = None,
                   expect: Iterable[str] = ()) -> SiteState:
        """The site's live state, without today's appointments, with the id of the last
        event it includes; `limit` caps each queue's list. Ids whose visit has expired are
        dropped on the way. A queue's service record and hour's history are read only when
        they have changed since they were last read. `expect`: ids of visits the caller
        has seen appear since its last snapshot (from the events)."""
        s = site.id
        last = -1 if limit is None else limit - 1
        queue_ids = [q.id for q in site.queues]
        hour = clock.local_hour(clock.now(), site.tz)[0]
        base = {"queues": keys.queue_state(s), "rooms": keys.room_status(s),
                "room_visit": keys.room_visit(s), "active": keys.active(s),
                "events": keys.events(s), "message": keys.message(s),
                "help": keys.help_requests(s), "lobby_calls": keys.lobby_calls(s)}
        for q in queue_ids:
            base |= {"waiting:" + q: keys.waiting(s, q), "service:" + q: keys.service(s, q),
                     "durations:" + q: keys.durations(s, q, hour),
                     "staffing:" + q: keys.staffing(s, q)}
        guess = self._listed.get(s)
        known = guess.records if guess is not None else {}
        for tries_left in range(TRIES, -1, -1):
            first: list[Any] = []
            guessed = guess is not None
            if guessed:
                ids, guess = guess.visits() | set(expect), None
            else:
                # The visits listed now, and the last event before them: the script
                # declares their keys and, if the lists changed in between, reads again.
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.xrevrange(keys.events(s), count=1)
                    for q in queue_ids:
                        pipe.zrange(keys.waiting(s, q), 0, last)
                    pipe.zrange(keys.active(s), 0, -1)
                    pipe.hvals(keys.room_visit(s))
                    first, *listed = await pipe.execute()
                ids = frozenset(i for group in listed for i in group)
            keys_ = dict(base)
            for id_ in ids:
                keys_["visit:" + id_] = keys.visit(s, id_)
            # Under a flood of changes the last try leaves out the visits that arrived in
            # between and answers the event id read before them, so those come as deltas:
            # every event carries its whole record, so applying one again is harmless.
            lenient = tries_left == 0
            held = {q: kept for q in queue_ids if (kept := self.records.held(s, q, hour))}
            args = {"queue_ids": queue_ids, "limit": last, "lenient": lenient,
                    "seen": {q: kept[0] for q, kept in held.items()},
                    "held": {i: rev for i in ids
                             if (rev := known.get(i, {}).get("rev")) is not None}}
            try:
                data = json.loads(await scripts.call(self._script, keys_, args))
            except SLOT_MOVING:
                if not guessed:
                    raise
                # A guess met the site's slot half-way between two Cluster masters: the
                # pre-read's MULTI waits for the move to end (app/storage/redis_client.py).
                continue
            if not data.get("retry"):
                if lenient:
                    data["event_id"] = first[0][0] if first else "0-0"
                self.records.remember_snapshot(s, hour, data, held)
                _fill(data, known)
                state = parse_snapshot(site, data, clock.ms(clock.now()))
                self._listed.put(s, Listed(
                    {v["id"]: v for v in state.visits()},
                    {q.id: tuple(v["id"] for v in q.waiting[:HEAD]) for q in state.queues},
                    {r.id: r.visit_id for r in state.rooms if r.visit_id}))
                return state
        raise AssertionError("unreachable: the last snapshot try is lenient")


def _fill(data: dict[str, Any], records: dict[str, Fields]) -> None:
    """Put back, in the script's answer, each record it left out (answered by its id alone
    because `records` holds it at its current revision)."""
    lists = [*(data.get("waiting") or {}).values(), data.get("active")]
    for visits in lists:
        if isinstance(visits, list):
            visits[:] = [records[v] if isinstance(v, str) else v for v in visits]
