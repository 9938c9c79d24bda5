"""Importing a schedule, whatever it came from: the API, a file on the command line, the
demo. Parses with app/appointments/formats.py and stores with app/appointments/store.py."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from app import clock
from app.appointments.formats import Parsed, ScheduleError, parse_document, parse_json_list
from app.appointments.store import AppointmentStore
from app.config import Settings
from app.sites import Site


async def store_parsed(appointments: AppointmentStore, site: Site, parsed: Parsed,
                       actor: str, now: datetime | None = None) -> dict[str, Any]:
    """Store the good entries; answers `{"imported", "updated", "errors"}`, the errors of
    parsing and storing together, by position."""
    result = await appointments.save(site, parsed.appointments, actor, now)
    errors = sorted([*parsed.errors, *result["errors"]], key=lambda e: e["index"])
    return {**result, "errors": errors}


async def import_entries(redis: Redis, settings: Settings, site: Site,
                         entries: list[dict[str, Any]], actor: str = "system",
                         now: datetime | None = None) -> dict[str, Any]:
    """Import a list in our JSON format (as `demo_appointments` makes)."""
    now = now or clock.now()
    parsed = parse_json_list(entries, site, settings.secret_key, now)
    return await store_parsed(AppointmentStore(redis, settings), site, parsed, actor, now)


async def import_file(redis: Redis, settings: Settings, site: Site, path: str | Path,
                      actor: str = "cli") -> dict[str, Any]:
    """`python -m app schedule import --site S FILE`: CSV (by the .csv extension or by
    content), our JSON list, or a FHIR R4 Bundle. ScheduleError (a ValueError) for a file
    that cannot be read at all, with a sentence saying why."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ScheduleError(f"cannot read {path}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise ScheduleError(f"{path} is not UTF-8 text; save it as UTF-8 (CSV UTF-8 in "
                            "Excel) and try again.") from None
    now = clock.now()
    parsed = parse_document(text, site, settings.secret_key, now, name=path.name)
    return await store_parsed(AppointmentStore(redis, settings), site, parsed, actor, now)
