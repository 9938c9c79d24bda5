"""The self check-in kiosk: its page and its steps.

Every step is a POST that answers the next screen as a fragment of the one page, so
nothing a patient enters reaches a URL, a title or the browser's history; every answer is
`Cache-Control: no-store`. The session lives in Redis (kiosk/session.py), the decisions in
kiosk/flow.py, the check-in is the API's own atomic step (`Store.check_in`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import segno
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import clock
from app.access.auth import Principal
from app.access.screens import screen_access
from app.appointments.model import Appointment, normalise_code, window_days
from app.desk import help_calls
from app.errors import ApiError
from app.sites import Site, consents
from app.storage.store import redis_of
from app.templating import DEFAULT_LANGUAGE, language, templates
from app.visits.lobby import lobby_view
from app.visits.status_links import make_token
from kiosk import flow
from kiosk import session as sessions
from kiosk.flow import Session
from kiosk.i18n import LANGUAGES, language_or_default

NO_STORE = {"Cache-Control": "no-store"}
LOOKUP_FLOOR = 0.3  # seconds: a look-up never answers sooner, found or not


@dataclass(frozen=True)
class Step:
    """One tap on the kiosk: who, where, what was sent, and the session it continues."""

    request: Request
    principal: Principal
    site: Site
    session: Session
    form: FormData

    def field(self, name: str, max_len: int = 100) -> str:
        value = self.form.get(name)
        return value.strip()[:max_len] if isinstance(value, str) else ""


def base_url(site_id: str) -> str:
    return sessions.cookie_path(site_id)


def _no_store(response: Response) -> Response:
    response.headers.update(NO_STORE)
    return response


def _set_cookie(request: Request, response: Response, site: Site, session: Session) -> None:
    response.set_cookie(sessions.COOKIE, session.id, path=sessions.cookie_path(site.id),
                        httponly=True, samesite="strict",
                        secure=request.app.state.settings.secure_cookies)


async def page(request: Request) -> Response:
    """The kiosk's one page, on a fresh session."""
    access = await screen_access(request, ("kiosk", "desk"), "/pair")
    if isinstance(access, Response):
        return _no_store(access)
    _, site = access
    redis = redis_of(request)
    session = await sessions.new(redis, site.id, DEFAULT_LANGUAGE,
                                 request.cookies.get(sessions.COOKIE))
    settings = request.app.state.settings
    context = await _screen(request, site, session, fresh=True)
    with language(session.lang):
        response = templates.TemplateResponse(request, "kiosk.html", {
            **context,
            "idle_seconds": settings.kiosk_idle_seconds,
            "warning_seconds": settings.kiosk_warning_seconds,
            "ticket_seconds": settings.kiosk_ticket_seconds,
        })
    _set_cookie(request, response, site, session)
    return _no_store(response)


async def step(request: Request) -> Response:
    """One step: run its action on the session, save it, answer the next screen."""
    access = await screen_access(request, ("kiosk", "desk"), "/pair")
    if isinstance(access, Response):
        return _no_store(access)
    principal, site = access
    name = request.path_params["action"]
    action = ACTIONS.get(name)
    if action is None and name != RESET:
        raise ApiError(404, "not_found", "There is no such kiosk step.")
    redis = redis_of(request)
    form = await request.form()
    cookie = request.cookies.get(sessions.COOKIE)
    current = await sessions.load(redis, site.id, cookie)
    fresh = current is None or action is None
    if fresh:
        # Start over, a new patient, or a session that timed out: the welcome screen in
        # the default language, nothing carried over.
        session = await sessions.new(redis, site.id, DEFAULT_LANGUAGE, cookie)
    if action is not None and (current is not None or name == HELP):
        # A call for help counts even from a screen whose session has timed out.
        session = await action(Step(request, principal, site, current or session, form))
        await sessions.save(redis, site.id, session)
    context = await _screen(request, site, session, fresh=fresh)
    with language(session.lang):
        response = templates.TemplateResponse(request, "kiosk_screen.html", context)
    if fresh:
        _set_cookie(request, response, site, session)
    return _no_store(response)


# The actions: each answers the session after the tap.


async def choose_language(s: Step) -> Session:
    return replace(s.session, lang=language_or_default(s.field("lang", 16)), notice="")


async def start(s: Step) -> Session:
    return s.session.go(flow.SERVICES if s.field("what") == "walkin" else flow.CODE)


async def go_back(s: Step) -> Session:
    return flow.back(s.session)


async def by_name(s: Step) -> Session:
    if s.session.code_only:
        return await _to_desk(s, flow.TOO_MANY)
    return s.session.go(flow.NAME)


async def code(s: Step) -> Session:
    typed = normalise_code(s.field("code", 64))
    appointments = s.request.app.state.appointments

    async def find() -> list[Appointment]:
        if not typed:
            return []
        found = [await appointments.find_by_code(s.site, typed, day) for day in _days(s.site)]
        return [a for a in found if a is not None]

    return await _lookup(s, flow.CODE, find)


async def name(s: Step) -> Session:
    last = s.field("last_name")
    born = flow.birth_date(s.field("month", 2), s.field("day", 2), s.field("year", 4),
                           clock.now().astimezone(s.site.tz).date())
    if not flow.plausible_last_name(last) or born is None:
        return s.session.go(flow.NAME, notice="incomplete")
    appointments = s.request.app.state.appointments

    async def find() -> list[Appointment]:
        found: list[Appointment] = []
        for day in _days(s.site):
            found += await appointments.find_by_name_dob(s.site, last, born, day)
        return found

    return await _lookup(s, flow.NAME, find, last)


async def choose(s: Step) -> Session:
    chosen = s.field("appointment", 64)
    if chosen == "none":
        return await _to_desk(s, flow.NOT_ME)
    if chosen not in s.session.matches:
        return s.session.go(flow.CHOOSE, matches=s.session.matches)
    return s.session.go(flow.CONFIRM, appointment_id=chosen, matches=())


async def confirm(s: Step) -> Session:
    if s.session.step != flow.CONFIRM or not s.session.appointment_id:
        return s.session
    if s.field("answer") != "yes":
        return await _to_desk(replace(s, session=replace(s.session, appointment_id="")),
                              flow.NOT_ME)
    return s.session.go(flow.CHANGES)


async def changes(s: Step) -> Session:
    if s.session.step != flow.CHANGES:
        return s.session
    picked = [] if s.field("answer") == "none" else s.form.getlist("changed")
    flags = tuple(flow.CHANGE_FLAGS[c] for c in flow.CHANGE_FLAGS if c in picked)
    return s.session.go(flow.CONSENT, changes=flags)


async def consent(s: Step) -> Session:
    session = s.session
    if session.step in (flow.TICKET, flow.DESK):
        return session  # a second tap on "I agree": the same ticket
    if session.step != flow.CONSENT or not session.appointment_id:
        return session
    if s.field("answer") != "agree":
        return await _to_desk(s, flow.CONSENT_QUESTION)
    appointment = await s.request.app.state.appointments.get(s.site, session.appointment_id)
    if appointment is None:
        return await _to_desk(s, flow.NOT_BOOKED)
    queue = appointment.queue if s.site.queue(appointment.queue) else s.site.queues[0].id
    try:
        visit = await _check_in(s, queue, flags=session.changes,
                                consented_at=clock.iso(clock.now()))
    except ApiError as exc:
        if exc.code != "queue_closed":
            raise
        return await _to_desk(s, flow.QUEUE_CLOSED)
    return session.go(flow.TICKET, visit_id=visit["id"])


async def service(s: Step) -> Session:
    queue = s.field("queue", 32)
    if s.site.queue(queue) is None:
        return s.session.go(flow.SERVICES)
    return s.session.go(flow.WALKIN, queue=queue)


async def walk_in(s: Step) -> Session:
    session = s.session
    if session.step in (flow.TICKET, flow.DESK):
        return session
    if session.step != flow.WALKIN or not session.queue:
        return session
    first = s.field("first_name", 200)
    if s.field("answer") != "skip" and flow.name_too_long(first):
        # Refused in a sentence, never cut: a cut name greets the patient wrongly.
        return session.go(flow.WALKIN, queue=session.queue, notice="long_name")
    who = "" if s.field("answer") == "skip" else flow.walk_in_name(
        first, s.field("last_initial", 4))
    if who is None:
        return session.go(flow.WALKIN, queue=session.queue, notice="bad_name")
    try:
        visit = await _check_in(s, session.queue, name=who)
    except ApiError as exc:
        if exc.code != "queue_closed":
            raise
        return session.go(flow.SERVICES, queue="", notice="closed")
    return session.go(flow.TICKET, visit_id=visit["id"])


async def ask_for_help(s: Step) -> Session:
    """The patient tapped *Help*: every board of the site shows it until a PSR answers.
    A paired kiosk is named by its device; a desk user trying the kiosk, by their name."""
    p = s.principal
    name = p.name if p.device_id else f"Kiosk opened by {p.name or p.actor}"
    await help_calls.ask(s.request.app.state.store, s.site, p.device_id or p.actor, name,
                         p.actor)
    return replace(s.session, notice=HELP)


RESET = "reset"  # not an action on the session: a new one
HELP = "help"
ACTIONS: dict[str, Callable[[Step], Awaitable[Session]]] = {
    "language": choose_language, "start": start, "back": go_back, HELP: ask_for_help,
    "by-name": by_name, "code": code, "name": name, "choose": choose, "confirm": confirm,
    "changes": changes, "consent": consent, "service": service, "walk-in": walk_in,
}


# Look-ups and check-ins


def _days(site: Site) -> list[str]:
    return window_days(clock.now(), site.tz, site.arrival_early_minutes,
                       site.arrival_late_minutes)


async def _lookup(s: Step, here: str, find: Callable[[], Awaitable[list[Appointment]]],
                  last_name: str = "") -> Session:
    """Find, decide, and count a failure against this kiosk (and the last name): the
    third failure in a session goes to the desk; a kiosk with many failures slows down
    (flow.device_pause); a last name out of tries asks this session for its code. Every
    answer takes at least LOOKUP_FLOOR, so timing tells nothing."""
    began = time.monotonic()
    redis = redis_of(s.request)
    counters = sessions.failure_keys(s.request.app.state.settings.secret_key, s.site.id,
                                     s.principal.actor, last_name)
    device_failures, *name_failures = await sessions.failures(redis, counters)
    if name_failures and flow.name_limited(name_failures[0]):
        result = s.session.go(flow.CODE, notice="use_code", code_only=True)
    else:
        await asyncio.sleep(flow.device_pause(device_failures))
        found = await find()
        decided = flow.decide(found, clock.now(), s.site)
        if decided.step == flow.CONFIRM:
            result = s.session.go(flow.CONFIRM, appointment_id=decided.matches[0].id,
                                  matches=())
        elif decided.step == flow.CHOOSE:
            result = s.session.go(flow.CHOOSE, matches=tuple(a.id for a in decided.matches))
        elif decided.step == flow.DESK:
            linked = decided.matches[0].id if decided.matches else ""
            result = await _to_desk(s, decided.reason, linked)
        else:
            await sessions.count_failure(redis, counters)
            failures = s.session.failures + 1
            if failures >= flow.FAILURES_BEFORE_DESK:
                result = await _to_desk(s, flow.NOT_FOUND)
            else:
                result = s.session.go(here, failures=failures, notice="not_found")
    await asyncio.sleep(max(0.0, LOOKUP_FLOOR - (time.monotonic() - began)))
    return result


async def _check_in(s: Step, queue: str, *, flags: Sequence[str] = (), name: str = "",
                    appointment_id: str | None = None, consented_at: str = "",
                    desk_reason: str = "") -> dict[str, Any]:
    session = s.session
    visit, _ = await s.request.app.state.store.check_in(
        s.site, queue, actor=s.principal.actor, name=name, flags=list(flags),
        appointment_id=session.appointment_id if appointment_id is None else appointment_id,
        # A language the patient chose here beats the appointment's; English is the
        # default, not a choice.
        language="" if session.lang == DEFAULT_LANGUAGE else session.lang,
        idempotency_key=session.idempotency_key, consented_at=consented_at,
        desk_reason=desk_reason)
    return visit


async def _to_desk(s: Step, reason: str, appointment_id: str = "") -> Session:
    """"Please see the front desk", with a ticket in the desk's queue flagged `see_desk`
    and the reason on the visit; without a ticket if that queue is closed."""
    session = s.session
    linked = appointment_id or (session.appointment_id if reason in flow.LINKED else "")
    queue = flow.desk_queue(s.site)
    try:
        visit = await _check_in(s, queue, flags=("see_desk", *session.changes),
                                appointment_id=linked, desk_reason=reason)
    except ApiError as exc:
        if exc.code != "queue_closed":
            raise
        return session.go(flow.DESK, reason=reason, visit_id="")
    return session.go(flow.DESK, reason=reason, visit_id=visit["id"])


# What a screen shows


async def _screen(request: Request, site: Site, session: Session,
                  fresh: bool = False) -> dict[str, Any]:
    """Everything the screen of `session.step` needs, and nothing of another patient."""
    app = request.app
    s: dict[str, Any] = {
        "step": session.step, "lang": session.lang, "notice": session.notice,
        "fresh": fresh, "site_name": site.name, "base": base_url(site.id),
        "site_id": site.id, "languages": LANGUAGES, "back": session.step in flow.BACK,
        "reason": session.reason,
    }
    if session.step in (flow.WELCOME, flow.SERVICES):
        s["view"] = lobby_view(await app.state.store.snapshot(site, limit=1))
    if session.step == flow.CHOOSE:
        found = [await app.state.appointments.get(site, i) for i in session.matches]
        s["choices"] = [(a.id, flow.summary(a, site)) for a in found if a is not None]
    if session.step == flow.CONFIRM:
        appointment = await app.state.appointments.get(site, session.appointment_id)
        s["summary"] = flow.summary(appointment, site) if appointment else None
    if session.step == flow.CONSENT:
        s["consents"] = consents(site)
    if session.step == flow.WALKIN:
        queue = site.queue(session.queue)
        s["queue_name"] = queue.name_in(session.lang) if queue else ""
    if session.step in (flow.TICKET, flow.DESK) and session.visit_id:
        visit = await app.state.store.get_visit(site, session.visit_id)
        if visit is not None:
            s["ticket"] = _ticket(request, site, visit)
    return {"s": s}


def _ticket(request: Request, site: Site, visit: dict[str, Any]) -> dict[str, Any]:
    checked_in = datetime.fromisoformat(visit["checked_in_at"])
    token = make_token(request.app.state.settings.secret_key, site.id, visit["id"],
                       clock.local_date(checked_in, site.tz))
    url = f"{request.base_url}t/{token}"
    queue = site.queue(visit["queue"])
    qr = segno.make(url, error="m").svg_inline(scale=1, border=4, omitsize=True,
                                              svgclass="kqr-code", light="#fff")
    return {"number": visit["ticket"], "queue": queue.name if queue else visit["queue"],
            "eta": visit.get("eta_minutes"), "qr": qr, "url": url}


routes = [
    Route("/sites/{site}/kiosk", page),
    Route("/sites/{site}/kiosk/step/{action}", step, methods=["POST"]),
]
