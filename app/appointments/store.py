"""Appointments in Redis: storing imports, the kiosk's look-ups, the day's list, the
no-show sweep. Every write is one run of appointments.lua (an arrival is checkin.lua's, in
the check-in's own step).

Personal fields (names, birth date) live in the appointment's hash, which expires
`RETENTION_DAYS` after its day; the index keys expire with it. The day's counts are kept
in the day's stats hash, which lives as long as the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from app import clock
from app.appointments.model import (
    Appointment,
    code_candidates,
    effective_status,
    normalise_code,
    who_digest,
)
from app.config import Settings
from app.sites import Site
from app.storage import due, keys, scripts

SCRIPT = scripts.source("appointments")


def expire_at(site: Site, day: str, now: datetime, retention_days: int) -> int:
    """When a day's appointments and their indexes go: `retention_days` after the end of
    that local day (or after now, for a day already past)."""
    next_day = datetime.combine(datetime.fromisoformat(day).date() + timedelta(days=1),
                                time(), tzinfo=site.tz)
    return int(max(next_day, now).timestamp()) + retention_days * 86400


class AppointmentStore:
    """Reads and writes of one Redis's appointments; the app builds one in its lifespan."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._script = redis.register_script(SCRIPT)

    def _upsert(self, site: Site, appt: Appointment, stored: list[str | None],
                now: datetime, actor: str) -> tuple[dict[str, str], dict[str, Any]]:
        """The keys and arguments of one upsert, given the day and who-digest the
        appointment is stored under now (`stored`, None for a new one)."""
        s = site.id
        day = clock.local_date(appt.start, site.tz)
        today = clock.local_date(now, site.tz)
        who = who_digest(self.settings.secret_key, s, appt.last_name, appt.birth_date)
        old_date, old_who = (v or "" for v in stored)
        keys_ = {"appt": keys.appointment(s, appt.id), "events": keys.events(s),
                 "audit": keys.audit(s, today), "codes": keys.appointment_codes(s, day),
                 "who": keys.appointment_who(s, day, who),
                 "day": keys.appointments_day(s, day), "stats": keys.stats(s, day)}
        if old_date:
            keys_ |= {"old_codes": keys.appointment_codes(s, old_date),
                      "old_day": keys.appointments_day(s, old_date),
                      "old_stats": keys.stats(s, old_date)}
            if old_who:
                keys_["old_who"] = keys.appointment_who(s, old_date, old_who)
        args = {**scripts.common(self.settings, now, actor), "op": "upsert", "id": appt.id,
                "fields": appt.to_fields(), "status": appt.status, "code": appt.code,
                "candidates": code_candidates(), "day": day, "who": who,
                "expire_at": expire_at(site, day, now, self.settings.retention_days),
                "old_date": old_date, "old_who": old_who}
        return keys_, args

    async def _stored(self, site: Site, ids: Sequence[str]) -> list[list[str | None]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for appointment_id in ids:
                pipe.hmget(keys.appointment(site.id, appointment_id), ["date", "who"])
            return await pipe.execute()

    async def save(self, site: Site, items: Sequence[tuple[int, Appointment]], actor: str,
                   now: datetime | None = None) -> dict[str, Any]:
        """Store validated appointments (each with its position in the import); answers
        docs/api.md's `{"imported", "updated", "errors"}`. Storing the same data again updates
        and duplicates nothing; a code already used that day is an error of its entry."""
        now = now or clock.now()
        stored = await self._stored(site, [appt.id for _, appt in items])
        replicas = scripts.replicas_to_wait(self.redis, self.settings.redis_wait_replicas)
        async with self.redis.pipeline(transaction=False) as pipe:
            for (_, appt), found in zip(items, stored, strict=True):
                await scripts.call(self._script, *self._upsert(site, appt, found, now, actor),
                                   client=pipe)
            if replicas:  # one WAIT after the lot, on the pipeline's one connection
                pipe.wait(replicas, scripts.WAIT_MS)
            results = await pipe.execute(raise_on_error=False)
        if replicas:
            await scripts.check_acknowledged(self.redis, results.pop(), replicas)
        # The sweep works out when the site is next due from what is stored now.
        await due.due_now(self.redis, site.id, (due.SWEEP,))
        imported = updated = 0
        errors: list[dict[str, Any]] = []
        for (index, appt), result in zip(items, results, strict=True):
            if result == scripts.RETRY or isinstance(result, NoScriptError):
                # Another import moved it in between: this one alone, read afresh. So is
                # one a cluster node did not know the script for: a cluster's pipeline
                # cannot load it first as a standalone one does, and running it alone
                # loads it on every node, for the imports that follow.
                result = await self._save_one(site, appt, now, actor)
            if isinstance(result, ResponseError):
                if not str(result).startswith("code_taken"):
                    raise result
                errors.append({"index": index, "detail": (
                    f"the code {appt.code} is already used by another appointment that day; "
                    "leave 'code' out and one is made.")})
            elif isinstance(result, Exception):
                raise result
            elif result[0] == "created":
                imported += 1
            else:
                updated += 1
        return {"imported": imported, "updated": updated, "errors": errors}

    async def _save_one(self, site: Site, appt: Appointment, now: datetime,
                        actor: str) -> Any:
        async def attempt() -> Any:
            (found,) = await self._stored(site, [appt.id])
            try:
                return await scripts.call(self._script,
                                          *self._upsert(site, appt, found, now, actor))
            except ResponseError as exc:
                return exc

        return await scripts.settle(attempt)

    async def get(self, site: Site, appointment_id: str) -> Appointment | None:
        fields = await self.redis.hgetall(keys.appointment(site.id, appointment_id))
        return Appointment.from_fields(fields) if fields.get("id") else None

    async def _many(self, site: Site, ids: Sequence[str]) -> list[Appointment]:
        """The appointments of `ids` that still exist, in that order, each with its status
        in the light of its visit (done -> fulfilled, visit no-show -> noshow)."""
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for appointment_id in ids:
                pipe.hgetall(keys.appointment(site.id, appointment_id))
            found = [f for f in await pipe.execute() if f.get("id")]
        linked = [f["visit_id"] for f in found if f.get("visit_id")]
        visit_status: dict[str, str | None] = {}
        if linked:
            async with self.redis.pipeline(transaction=False) as pipe:
                for visit_id in linked:
                    pipe.hget(keys.visit(site.id, visit_id), "status")
                visit_status = dict(zip(linked, await pipe.execute(), strict=True))
        result = []
        for fields in found:
            appt = Appointment.from_fields(fields)
            status = effective_status(appt.status, visit_status.get(appt.visit_id or ""))
            result.append(appt if status == appt.status else replace(appt, status=status))
        return result

    async def list_day(self, site: Site, day: str) -> list[Appointment]:
        """One local day's appointments, ordered by start."""
        ids = await self.redis.zrange(keys.appointments_day(site.id, day), 0, -1)
        return await self._many(site, ids)

    async def visits_of_day(self, site: Site, day: str) -> list[dict[str, str]]:
        """The stored fields of the visits of one local day that have not expired, in
        check-in order (for the FHIR Encounter export); ids of expired ones are dropped."""
        ids = sorted(await self.redis.smembers(keys.day(site.id, day)))
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for visit_id in ids:
                pipe.hgetall(keys.visit(site.id, visit_id))
            found = await pipe.execute()
        gone = [i for i, v in zip(ids, found, strict=True) if not v.get("id")]
        if gone:
            # The day's set outlives its earliest visits; it never lists one for long.
            await self.redis.srem(keys.day(site.id, day), *gone)
        visits = [v for v in found if v.get("id")]
        return sorted(visits, key=lambda v: int(v.get("checked_in_ms") or 0))

    async def find_by_code(self, site: Site, code: str, day: str) -> Appointment | None:
        """The appointment of that day with this confirmation code (any case, spaces)."""
        normalised = normalise_code(code)
        if not normalised:
            return None
        appointment_id = await self.redis.hget(keys.appointment_codes(site.id, day), normalised)
        found = await self._many(site, [appointment_id]) if appointment_id else []
        return found[0] if found else None

    async def find_by_name_dob(self, site: Site, last_name: str, birth_date: str,
                               day: str) -> list[Appointment]:
        """That day's appointments of the patient with this last name (compared
        normalised) and birth date (YYYY-MM-DD), ordered by start."""
        digest = who_digest(self.settings.secret_key, site.id, last_name, birth_date)
        ids = await self.redis.smembers(keys.appointment_who(site.id, day, digest))
        found = await self._many(site, sorted(ids))
        return sorted(found, key=lambda a: a.start)

    async def mark_no_shows(self, site: Site, day: str, cutoff: datetime, now: datetime,
                            actor: str = "system:sweep") -> list[str]:
        """Mark `booked` appointments of `day` that started before `cutoff` as `noshow`,
        each with an `appointment.no_show` event; answers the ids marked by this call."""
        s = site.id
        day_key = keys.appointments_day(s, day)
        ids = await self.redis.zrangebyscore(day_key, "-inf", f"({clock.ms(cutoff)}")
        keys_ = {"day": day_key, "events": keys.events(s),
                 "audit": keys.audit(s, clock.local_date(now, site.tz)),
                 "stats": keys.stats(s, day)}
        keys_ |= {"appt:" + i: keys.appointment(s, i) for i in ids}
        return await scripts.call(self._script, keys_, {
            **scripts.common(self.settings, now, actor), "op": "noshow",
            "cutoff_ms": str(clock.ms(cutoff))})

    async def next_start(self, site: Site, days: Sequence[str],
                         since: datetime) -> datetime | None:
        """The earliest start at or after `since` among the appointments of `days` (local
        dates), whatever their status; None when there is none."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.zrangebyscore(keys.appointments_day(site.id, day), clock.ms(since),
                                   "+inf", start=0, num=1, withscores=True)
            found = [int(score) for rows in await pipe.execute() for _, score in rows]
        return datetime.fromtimestamp(min(found) / 1000, UTC) if found else None
