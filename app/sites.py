"""A site's configuration: its queues and rooms, read from TOML or JSON.

Pure: no I/O beyond parsing text handed in. Validation errors name the field and the fix.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
PREFIX_RE = re.compile(r"^[A-Z]{1,2}$")
ROOM_KINDS = ("room", "desk")
ROOM_STATUSES = ("available", "occupied", "needs_cleaning", "closed")
LANGUAGE_RE = re.compile(r"^[a-z]{2}(-[A-Za-z]{2})?$")
CLOSE_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class SiteError(ValueError):
    """The site's configuration is invalid; the message says where."""


def translated(name: str, names: tuple[tuple[str, str], ...], lang: str) -> str:
    """`name` in `lang` ("es-MX" reads "es") when `names` gives it, else `name` itself."""
    wanted = (lang or "").split("-")[0].lower()
    return next((text for code, text in names if code == wanted), name)


@dataclass(frozen=True)
class Queue:
    id: str
    name: str
    prefix: str
    minutes_per_patient: float = 10.0
    names: tuple[tuple[str, str], ...] = ()  # (language, name): `names = { es = "…" }`

    def name_in(self, lang: str) -> str:
        """The queue's name in `lang` when the site gives one, else its name."""
        return translated(self.name, self.names, lang)


@dataclass(frozen=True)
class Room:
    id: str
    name: str
    kind: str = "room"
    names: tuple[tuple[str, str], ...] = ()

    def name_in(self, lang: str) -> str:
        """The room's name in `lang` when the site gives one, else its name."""
        return translated(self.name, self.names, lang)


def _names(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    """A queue's or room's `names = { es = "Laboratorio" }`: its name per language."""
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and LANGUAGE_RE.match(k) and isinstance(v, str) and v.strip()
            for k, v in value.items()):
        raise SiteError(f"{where}: names must be a table of language = name, such as "
                        "names = { es = \"Laboratorio\" }.")
    return tuple(sorted((k.split("-")[0].lower(), v.strip()) for k, v in value.items()))


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    timezone: str = "UTC"
    queues: tuple[Queue, ...] = ()
    rooms: tuple[Room, ...] = ()
    clean_after_use: bool = True
    arrival_early_minutes: int = 30
    arrival_late_minutes: int = 15
    # The board's alerts: a wait turns amber, then red, at these minutes; a queue with more
    # than `alert_queue_length` waiting raises a banner (0 switches that alert off).
    wait_amber_minutes: int = 15
    wait_red_minutes: int = 30
    alert_queue_length: int = 10
    # Local time ("HH:MM") at which the day closes: visits still open become `left`.
    day_close: str = "20:00"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def queue(self, queue_id: str) -> Queue | None:
        return next((q for q in self.queues if q.id == queue_id), None)

    def room(self, room_id: str) -> Room | None:
        return next((r for r in self.rooms if r.id == room_id), None)

    @property
    def language(self) -> str:
        """The site's own language (`language = "es"`), English by default: the lobby's
        and the board's, whose queue and room names are shown in it."""
        return str(self.extra.get("language") or "en")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _require(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data or data[key] in (None, ""):
        raise SiteError(f"{where}: '{key}' is missing.")
    return data[key]


def _check_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise SiteError(
            f"{where}: id {value!r} must be 1-32 lower-case letters, digits, '-' or '_'."
        )
    return value


def site_from_dict(data: dict[str, Any]) -> Site:
    """Build and validate a site; raises SiteError naming the first problem."""
    if not isinstance(data, dict):
        raise SiteError("the site must be a table of settings.")
    site_id = _check_id(_require(data, "id", "site"), "site")
    _consents(data.get("consents"))  # kept in `extra`; read with `consents(site)`
    language = data.get("language", "en")  # kept in `extra`; the lobby's spoken language
    if not isinstance(language, str) or not LANGUAGE_RE.match(language):
        raise SiteError(f"language {language!r} must be a language code such as \"en\" or "
                        "\"es\".")
    tz = str(data.get("timezone", "UTC"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise SiteError(
            f"site: timezone {tz!r} is not a known time zone (e.g. America/Chicago)."
        ) from None
    queues = []
    for i, q in enumerate(data.get("queues") or []):
        where = f"queues[{i}]"
        if not isinstance(q, dict):
            raise SiteError(f"{where}: must be a table with id, name and prefix.")
        prefix = str(_require(q, "prefix", where))
        if not PREFIX_RE.match(prefix):
            raise SiteError(f"{where}: prefix {prefix!r} must be one or two capital letters.")
        minutes = q.get("minutes_per_patient", 10)
        if not isinstance(minutes, int | float) or not 0 < minutes <= 240:
            raise SiteError(f"{where}: minutes_per_patient must be a number from 1 to 240.")
        queues.append(Queue(_check_id(q.get("id"), where), str(_require(q, "name", where)),
                            prefix, float(minutes), _names(q.get("names"), where)))
    if not queues:
        raise SiteError("site: at least one queue is needed ([[queues]] with id, name, prefix).")
    for what, values in (("queue id", [q.id for q in queues]),
                         ("queue prefix", [q.prefix for q in queues])):
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            raise SiteError(f"site: {what} {dupes[0]!r} is used twice.")
    rooms = []
    for i, r in enumerate(data.get("rooms") or []):
        where = f"rooms[{i}]"
        if not isinstance(r, dict):
            raise SiteError(f"{where}: must be a table with id and name.")
        kind = r.get("kind", "room")
        if kind not in ROOM_KINDS:
            raise SiteError(f"{where}: kind {kind!r} must be 'room' or 'desk'.")
        rooms.append(Room(_check_id(r.get("id"), where), str(_require(r, "name", where)), kind,
                          _names(r.get("names"), where)))
    room_ids = [r.id for r in rooms]
    if len(set(room_ids)) != len(room_ids):
        raise SiteError("site: a room id is used twice.")
    window = data.get("arrival_window") or {}
    early = window.get("early_minutes", 30)
    late = window.get("late_minutes", 15)
    for name, value in (("early_minutes", early), ("late_minutes", late)):
        if not isinstance(value, int) or not 0 <= value <= 24 * 60:
            raise SiteError(f"arrival_window: {name} must be whole minutes from 0 to 1440.")
    alerts = _alerts(data.get("alerts") or {})
    time_format = data.get("time_format", "12h" if language.split("-")[0] == "en" else "24h")
    if time_format not in ("12h", "24h"):  # kept in `extra`; read by app/timefmt.py
        raise SiteError(f"time_format {time_format!r} must be \"12h\" (3:05 PM) or \"24h\" "
                        "(15:05).")
    lobby = data.get("lobby", {})  # kept in `extra`; read by app/visits/lobby.py
    if not isinstance(lobby, dict) or not isinstance(lobby.get("announce_rooming", True), bool):
        raise SiteError("lobby: announce_rooming must be true or false (a patient roomed "
                        "without a call to that room is shown and said as a call).")
    day_close = str(data.get("day_close", "20:00"))
    if not CLOSE_RE.match(day_close):
        raise SiteError(f"day_close {day_close!r} must be a local time such as \"20:00\".")
    known = {"id", "name", "timezone", "queues", "rooms", "clean_after_use", "arrival_window",
             "alerts", "day_close"}
    return Site(
        id=site_id,
        name=str(data.get("name") or site_id),
        timezone=tz,
        queues=tuple(queues),
        rooms=tuple(rooms),
        clean_after_use=bool(data.get("clean_after_use", True)),
        arrival_early_minutes=early,
        arrival_late_minutes=late,
        **alerts,
        day_close=day_close,
        extra={k: v for k, v in data.items() if k not in known},
    )


def _alerts(table: Any) -> dict[str, int]:
    """The [alerts] table: wait thresholds in minutes and the queue length that raises a
    banner, each with its default."""
    if not isinstance(table, dict):
        raise SiteError("alerts: must be a table (wait_amber_minutes, wait_red_minutes, "
                        "queue_length).")
    amber = table.get("wait_amber_minutes", 15)
    red = table.get("wait_red_minutes", 30)
    length = table.get("queue_length", 10)
    for name, value in (("wait_amber_minutes", amber), ("wait_red_minutes", red),
                        ("queue_length", length)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1440:
            raise SiteError(f"alerts: {name} must be a whole number from 0 to 1440.")
    if amber and red and red < amber:
        raise SiteError("alerts: wait_red_minutes must not be below wait_amber_minutes.")
    return {"wait_amber_minutes": amber, "wait_red_minutes": red,
            "alert_queue_length": length}


def site_from_toml(text: str) -> Site:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SiteError(f"not valid TOML: {exc}.") from None
    return site_from_dict(data)


def _stored_names(item: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((str(code), str(text)) for code, text in item.get("names") or ())


def site_from_stored(data: dict[str, Any]) -> Site:
    """Rebuild a site saved by `Site.to_dict` (trusted: it was validated on the way in)."""
    return Site(
        id=data["id"],
        name=data["name"],
        timezone=data["timezone"],
        queues=tuple(Queue(**{**q, "names": _stored_names(q)}) for q in data["queues"]),
        rooms=tuple(Room(**{**r, "names": _stored_names(r)}) for r in data["rooms"]),
        clean_after_use=data["clean_after_use"],
        arrival_early_minutes=data["arrival_early_minutes"],
        arrival_late_minutes=data["arrival_late_minutes"],
        # Sites saved before these settings existed take the defaults.
        wait_amber_minutes=data.get("wait_amber_minutes", 15),
        wait_red_minutes=data.get("wait_red_minutes", 30),
        alert_queue_length=data.get("alert_queue_length", 10),
        day_close=data.get("day_close", "20:00"),
        extra=data.get("extra", {}),
    )


# What a patient acknowledges at the kiosk before an appointment's check-in: a site's
# `consents = ["...", ...]`, each a few plain sentences, or this. The default text is also
# a msgid of the kiosk's catalogs, so it is shown translated.
DEFAULT_CONSENTS = (
    "I agree that this clinic may use my health information to treat me, to bill for my "
    "care and to run the clinic, as its privacy notice describes. I can ask for a copy of "
    "the notice at the front desk.",
)
CONSENT_MAX = 600


def _consents(value: Any) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_CONSENTS
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, str) and v.strip() for v in value)):
        raise SiteError("consents must be a list of texts, e.g. consents = [\"I agree ...\"].")
    if any(len(v) > CONSENT_MAX for v in value):
        raise SiteError(f"consents: each text must be at most {CONSENT_MAX} characters.")
    return tuple(" ".join(v.split()) for v in value)


def consents(site: Site) -> tuple[str, ...]:
    """The consent texts the site's kiosk asks patients to acknowledge."""
    return _consents(site.extra.get("consents"))
