"""Every Redis key name, in one place.

All of a site's keys share the hash tag ``{site}`` so that the site lives in one Redis
Cluster slot and every Lua script can touch all of them.
"""

from __future__ import annotations


def _k(site: str, *parts: str) -> str:
    return ":".join(("lq", "{" + site + "}", *parts))


def site(site_id: str) -> str:
    """JSON of the site's configuration (name, time zone, queues, rooms)."""
    return _k(site_id, "site")


def queue_state(site_id: str) -> str:
    """Hash queue id -> "open" | "closed"; a missing field is an unknown queue."""
    return _k(site_id, "queues")


def room_status(site_id: str) -> str:
    """Hash room id -> available | occupied | needs_cleaning | closed."""
    return _k(site_id, "rooms")


def room_visit(site_id: str) -> str:
    """Hash room id -> the id of the visit in it."""
    return _k(site_id, "room_visit")


def visit(site_id: str, visit_id: str) -> str:
    """Hash of one visit; expires `RETENTION_DAYS` after its check-in."""
    return _k(site_id, "visit", visit_id)


def waiting(site_id: str, queue: str) -> str:
    """Sorted set of waiting visit ids, scored by priority then arrival."""
    return _k(site_id, "waiting", queue)


def sequence(site_id: str) -> str:
    """Counter of arrivals into waiting sets: the tie-break within a priority."""
    return _k(site_id, "seq")


def active(site_id: str) -> str:
    """Sorted set of visits that are called, in a room or at check-out, by call time."""
    return _k(site_id, "active")


def day(site_id: str, date: str) -> str:
    """Set of the ids of the visits of one local day."""
    return _k(site_id, "day", date)


def ticket_counter(site_id: str, date: str, queue: str) -> str:
    return _k(site_id, "ticket", date, queue)


def service(site_id: str, queue: str) -> str:
    """List of the queue's service record, newest first, capped (app/visits/estimates.py reads
    it): an entry when a patient is called or roomed from the queue, one when that ends."""
    return _k(site_id, "service", queue)


def durations(site_id: str, queue: str, hour: int) -> str:
    """List of the seconds the queue's services that started in local hour `hour` (0-23)
    took, over the days, newest first, capped (app/visits/estimates.py): no visit, no time."""
    return _k(site_id, "durations", queue, f"{hour:02d}")


def staffing(site_id: str, queue: str) -> str:
    """Hash of who serves the queue at which hour of day: "HH|server" -> the last two local
    dates that server started one of its services in hour HH, newest first and separated
    by a comma (app/visits/estimates.py)."""
    return _k(site_id, "staffing", queue)


def idempotency(site_id: str, digest: str) -> str:
    return _k(site_id, "idem", digest)


def events(site_id: str) -> str:
    """The site's event stream: the source of every push."""
    return _k(site_id, "events")


def audit(site_id: str, date: str) -> str:
    """List of the day's events without personal fields; outlives the stream."""
    return _k(site_id, "audit", date)


def stats(site_id: str, date: str) -> str:
    """Hash of the day's counts and wait sums; kept after personal fields expire."""
    return _k(site_id, "stats", date)


def token_index() -> str:
    """Hash sha256(token) -> JSON {site, role}: global, so a token names its own site."""
    return "lq:tokens"


def site_tokens(site_id: str) -> str:
    """Set of the digests of the site's tokens, so they can be listed and revoked."""
    return _k(site_id, "tokens")


def devices(site_id: str) -> str:
    """Hash device id -> JSON {role, name, paired_at}; deleting a field revokes it."""
    return _k(site_id, "devices")


def pairing_code(code: str) -> str:
    return "lq:pair:" + code


def sites() -> str:
    """Set of all site ids."""
    return "lq:sites"


def appointment(site_id: str, appointment_id: str) -> str:
    """Hash of one appointment; expires `RETENTION_DAYS` after its day, with its indexes."""
    return _k(site_id, "appt", appointment_id)


def users() -> str:
    """Hash user name -> JSON {site, role, hash} (argon2)."""
    return "lq:users"


def session(digest: str) -> str:
    """A staff session, keyed by the hash of its cookie so Redis never holds the cookie."""
    return "lq:session:" + digest


def appointments_day(site_id: str, date: str) -> str:
    """Sorted set of the ids of one local day's appointments, scored by start (epoch ms)."""
    return _k(site_id, "appts", date)


def appointment_codes(site_id: str, date: str) -> str:
    """Hash confirmation code -> appointment id, for one local day (codes are unique per day)."""
    return _k(site_id, "appt_code", date)


def appointment_who(site_id: str, date: str, digest: str) -> str:
    """Set of the ids of one day's appointments for one HMAC(last name, birth date): the
    key name never holds a name or a birth date."""
    return _k(site_id, "appt_who", date, digest)


def message(site_id: str) -> str:
    """JSON {text, expires_at, expires_ms} of the desk's broadcast message; expires with it."""
    return _k(site_id, "message")


def lobby_calls(site_id: str) -> str:
    """List of the lobby's latest calls, newest first, as JSON {visit, ticket, queue, room,
    lang, ms, at, kind}: what the lobby's Recent calls show, kept after the visit has moved
    on or finished. Capped in length and expiring an hour after the last call."""
    return _k(site_id, "lobby_calls")


def help_requests(site_id: str) -> str:
    """Hash kiosk id -> JSON {kiosk, name, at, at_ms} of a kiosk's unanswered call for help."""
    return _k(site_id, "help")


def kiosk_session(site_id: str, digest: str) -> str:
    """JSON of one kiosk session (the patient's steps so far), keyed by the hash of its
    cookie; expires soon after the kiosk goes quiet."""
    return _k(site_id, "kiosk", digest)


def kiosk_failures(site_id: str, scope: str, digest: str) -> str:
    """Counter of a kiosk's recent failed look-ups, per device or per last name (`scope`),
    under an HMAC so the key name holds no name."""
    return _k(site_id, "kiosk_fail", scope, digest)


def user_sessions(name: str) -> str:
    """Set of the digests of a staff user's live sessions, so they can all be ended."""
    return "lq:user_sessions:" + name


def failures(kind: str, digest: str) -> str:
    """Counter of recent failed sign-ins or pairing codes for one name or address (hashed,
    so the key name holds neither); expires a quiet while after the last failure."""
    return f"lq:fail:{kind}:{digest}"


def devices_seen(site_id: str) -> str:
    """Hash device id -> when it was last seen (ISO time), written at most once a minute."""
    return _k(site_id, "devices_seen")


def day_closed(site_id: str, date: str) -> str:
    """Set once when the local day has been closed (visits still open became `left`)."""
    return _k(site_id, "closed", date)


def due(kind: str) -> str:
    """Sorted set of site ids scored by when each next needs one kind of periodic work
    (`sweep`, `close`), in epoch ms: global, read and written by app/storage/due.py only."""
    return "lq:due:" + kind
