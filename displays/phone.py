"""The patient's own page, `/t/{token}` from the ticket's QR code: their place in line and,
once called, where to go.

No sign-in: the signed token (app/visits/status_links.py) is the only key, and it is void after
the site's local day. The page shows the phone-safe status only (app/visits/lobby.py), never a
name, and asks browsers and proxies to keep no copy and to pass no address on.

It stays current by asking `/t/{token}/status` every few seconds (more often near the
front of the line) and whenever the phone shows the page again: one small read per
phone, with no socket held open by a page that phones suspend in the background anyway
(docs/lobby.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import clock
from app.errors import error_page
from app.sites import Site
from app.templating import DEFAULT_LANGUAGE, language, macro, templates, translations
from app.timefmt import site_clock
from app.visits.lobby import PatientStatus, patient_status
from app.visits.status_links import read_token

TOKEN_MAX = 300
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "X-Robots-Tag": "noindex"}
GONE = ("This link has ended: ticket links work on the day of the visit only. "
        "Please ask at the front desk.")


async def _status(request: Request) -> tuple[Site, PatientStatus] | None:
    """The site and status the token names, if it is genuine and of the site's today."""
    token = request.path_params["token"]
    if not 0 < len(token) <= TOKEN_MAX:
        return None
    now = clock.now()
    secret = request.app.state.settings.secret_key
    store = request.app.state.store
    # The token's day is the site's local day, which is within a day of UTC's.
    for offset in (0, -1, 1):
        day = (now + timedelta(days=offset)).date().isoformat()
        found = read_token(secret, token, day)
        if found is not None:
            break
    else:
        return None
    site = await store.get_site(found[0])
    if site is None or clock.local_date(now, site.tz) != day:
        return None
    visit = await store.get_visit(site, found[1])
    if visit is None:
        return None
    # Its queue and room named in the language the page will speak.
    return site, patient_status(site, visit, page_language(site, patient_status(site, visit)))


def _updated(site: Site, now: datetime) -> str:
    return site_clock(now, site)


def page_language(site: Site, status: PatientStatus) -> str:
    """The page speaks the patient's language (chosen at the kiosk) when there is a
    catalog for it, else the site's, else English."""
    for code in (status.language, str(site.extra.get("language", ""))):
        code = code.split("-")[0].lower()
        if code in translations:
            return code
    return DEFAULT_LANGUAGE


async def page(request: Request) -> Response:
    found = await _status(request)
    if found is None:
        return error_page(request, 404, GONE, headers=PRIVATE)
    site, status = found
    lang = page_language(site, status)
    with language(lang):
        return templates.TemplateResponse(request, "phone.html", {
            "site_name": site.name, "status": status, "token": request.path_params["token"],
            "updated": _updated(site, clock.now()), "lang": lang}, headers=PRIVATE)


async def status(request: Request) -> Response:
    """The status as JSON; as the page's fragment for the page's own refresh (htmx)."""
    found = await _status(request)
    if found is None:
        return JSONResponse({"error": "not_found", "detail": GONE}, status_code=404,
                            headers=PRIVATE)
    site, current = found
    if request.headers.get("hx-request"):
        with language(page_language(site, current)):
            html = macro("phone_macros.html", "status")(
                current, request.path_params["token"], _updated(site, clock.now()))
        return Response(str(html), media_type="text/html", headers=PRIVATE)
    return JSONResponse(current.to_json(), headers=PRIVATE)


routes = [Route("/t/{token}", page), Route("/t/{token}/status", status)]
