"""The Appointments section of docs/api.md: import, the day's list, and FHIR R4 out.

Routes parse and validate, call the appointment store, serialise. The lead mounts
`routes` next to app/api.py's.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import clock
from app.access.auth import require
from app.appointments.fhir import (
    appointment_resource,
    encounter_resource,
    patient_resource,
    searchset,
)
from app.appointments.formats import BadJson, ScheduleError, parse_document
from app.appointments.model import EntryError, parse_day
from app.appointments.schedule import store_parsed
from app.errors import ApiError, invalid
from app.sites import Site

IMPORT_BODY_MAX = 5 * 1024 * 1024
FHIR_JSON = "application/fhir+json"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _day(request: Request, site: Site) -> str:
    """`?date=YYYY-MM-DD` (FHIR's `eq` prefix allowed); today in the site's time zone when
    absent; 422 otherwise."""
    value = request.query_params.get("date", "")
    if not value:
        return clock.local_date(clock.now(), site.tz)
    try:
        return parse_day(value.removeprefix("eq"))
    except EntryError as exc:
        raise invalid(_sentence(str(exc)), field="date") from None


async def import_appointments(request: Request) -> Response:
    principal, site = await require(request, request.path_params["site"], ("admin", "desk"))
    raw = await request.body()
    if len(raw) > IMPORT_BODY_MAX:
        raise ApiError(413, "too_large", "The schedule is larger than 5 MiB; split it by day.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_json", "The request body is not UTF-8 text.") from None
    if not text.strip():
        raise invalid("The request body is empty; send a JSON list of appointments or a "
                      "FHIR R4 Bundle.")
    now = clock.now()
    content_type = request.headers.get("content-type", "")
    try:
        # Validating a large FHIR bundle takes a while: keep it off the event loop.
        parsed = await run_in_threadpool(
            parse_document, text, site, request.app.state.settings.secret_key, now,
            content_type=content_type)
    except BadJson as exc:
        raise ApiError(400, "bad_json", _sentence(str(exc))) from None
    except ScheduleError as exc:
        raise invalid(_sentence(str(exc))) from None
    result = await store_parsed(request.app.state.appointments, site, parsed,
                                principal.actor, now)
    return JSONResponse(result)


async def list_appointments(request: Request) -> Response:
    _, site = await require(request, request.path_params["site"], ("desk",))
    found = await request.app.state.appointments.list_day(site, _day(request, site))
    return JSONResponse({"appointments": [a.to_json() for a in found]})


def _fhir_base(request: Request, site: Site) -> str:
    return f"{str(request.base_url).rstrip('/')}/api/v1/sites/{site.id}/fhir"


async def fhir_appointments(request: Request) -> Response:
    _, site = await require(request, request.path_params["site"], ("desk",))
    includes = request.query_params.getlist("_include")
    if any(i != "Appointment:patient" for i in includes):
        raise invalid("Only _include=Appointment:patient is supported.", field="_include")
    with_patients = bool(includes)
    found = await request.app.state.appointments.list_day(site, _day(request, site))
    bundle = searchset([appointment_resource(a, site, with_patients) for a in found],
                       _fhir_base(request, site), str(request.url),
                       included=[patient_resource(a) for a in found] if with_patients else [])
    return JSONResponse(bundle, media_type=FHIR_JSON)


async def fhir_encounters(request: Request) -> Response:
    _, site = await require(request, request.path_params["site"], ("desk",))
    visits = await request.app.state.appointments.visits_of_day(site, _day(request, site))
    bundle = searchset([encounter_resource(v, site) for v in visits],
                       _fhir_base(request, site), str(request.url))
    return JSONResponse(bundle, media_type=FHIR_JSON)


PREFIX = "/api/v1/sites/{site}"

routes = [
    Route(PREFIX + "/appointments", import_appointments, methods=["POST"]),
    Route(PREFIX + "/appointments", list_appointments, methods=["GET"]),
    Route(PREFIX + "/fhir/Appointment", fhir_appointments, methods=["GET"]),
    Route(PREFIX + "/fhir/Encounter", fhir_encounters, methods=["GET"]),
]
