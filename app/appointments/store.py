"""Appointments in Redis: storing imports, the kiosk's look-ups, the day's list, the
no-show sweep and the arrival event. Every write is one run of appointments.lua.

Personal fields (names, birth date) live in the appointment's hash, which expires
`RETENTION_DAYS` after its day; the index keys expire with it. The day's counts are kept
in the day's stats hash, which lives as long as the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from app import clock, keys, scripts
from app.appointments.model import (
    Appointment,
    arrival_flags,
    code_candidates,
    effective_status,
    local_day,
    normalise_code,
    who_digest,
)
from app.config import Settings
from app.errors import invalid
from app.sites import Site

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

    @property
    def _audit_ttl(self) -> int:
        return self.settings.audit_retention_days * 86400

    async def save(self, site: Site, items: Sequence[tuple[int, Appointment]], actor: str,
                   now: datetime | None = None) -> dict[str, Any]:
        """Store validated appointments (each with its position in the import); answers
        API.md's `{"imported", "updated", "errors"}`. Storing the same data again updates
        and duplicates nothing; a code already used that day is an error of its entry."""
        now = now or clock.now()
        s = site.id
        today = clock.local_date(now, site.tz)
        async with self.redis.pipeline(transaction=False) as pipe:
            for _, appt in items:
                day = local_day(appt.start, site.tz)
                fields = appt.to_fields()
                await self._script(
                    keys=[keys.appointment(s, appt.id), keys.events(s), keys.audit(s, today)],
                    args=["upsert", appt.id, json.dumps(fields), appt.status, appt.code,
                          " ".join(code_candidates()), day,
                          who_digest(self.settings.secret_key, s, appt.last_name,
                                     appt.birth_date),
                          expire_at(site, day, now, self.settings.retention_days),
                          clock.iso(now), actor, self.settings.stream_maxlen, self._audit_ttl,
                          keys.appointment_codes_prefix(s), keys.appointment_who_prefix(s),
                          keys.appointments_day_prefix(s), keys.stats_prefix(s)],
                    client=pipe,
                )
            results = await pipe.execute(raise_on_error=False)
        imported = updated = 0
        errors: list[dict[str, Any]] = []
        for (index, appt), result in zip(items, results, strict=True):
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
        check-in order (for the FHIR Encounter export)."""
        ids = sorted(await self.redis.smembers(keys.day(site.id, day)))
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for visit_id in ids:
                pipe.hgetall(keys.visit(site.id, visit_id))
            visits = [v for v in await pipe.execute() if v.get("id")]
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
        return await self._script(
            keys=[keys.appointments_day(s, day), keys.events(s),
                  keys.audit(s, clock.local_date(now, site.tz)), keys.stats(s, day)],
            args=["noshow", clock.ms(cutoff), keys.appointment_prefix(s), clock.iso(now), actor,
                  self.settings.stream_maxlen, self._audit_ttl],
        )


async def arrival_flags_for(redis: Redis, site: Site, appointment_id: str,
                            now: datetime) -> list[str]:
    """The flags a check-in against `appointment_id` carries: [] inside the site's arrival
    window, ["early"] or ["late"] outside. An unknown (or expired) or cancelled appointment
    is refused with 422."""
    fields = await redis.hmget(keys.appointment(site.id, appointment_id), ["start", "status"])
    start, status = fields
    if not start:
        raise invalid(f"There is no appointment '{appointment_id}' at this site; check the id, "
                      "or check the patient in without it.", field="appointment_id")
    if status == "cancelled":
        raise invalid("That appointment was cancelled; check the patient in without it, or "
                      "book it again.", field="appointment_id")
    return arrival_flags(datetime.fromisoformat(start), now, site.arrival_early_minutes,
                         site.arrival_late_minutes)
