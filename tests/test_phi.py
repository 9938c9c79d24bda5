"""The PHI sweep: names, birth dates, flags, notes and appointment details go in through
every route a desk or kiosk uses, and nothing the public screens are sent carries any of
them: no lobby or kiosk frame, no lobby page or JSON, no phone page or status."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app import clock
from app.access.auth import create_token
from app.visits import FLAG_LABELS, FLAGS
from app.visits.status_links import make_token

FIRST, LAST, BORN = "Zebulon", "Quixote-Marchetti", "1961-02-03"
WALK_IN = "Philippa Wolstenholme"
NOTE = "Allergic to penicillin, anxious about needles"
PROVIDER = "Dr. Okonkwo-Lindqvist"
APPOINTMENT = "appt-phi-7731"
SETTLE = 1.0  # s for the last frames to arrive after the last change


@pytest.fixture
def server(live_server):
    return live_server()


@pytest.fixture
async def tokens(store, site) -> dict[str, str]:
    return {role: await create_token(store.redis, site.id, role)
            for role in ("desk", "display", "kiosk")}


@pytest.fixture
async def http(server, site, tokens) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=10) as client:
        yield client


@contextlib.asynccontextmanager
async def frames_of(server, site_id: str, audience: str, token: str) -> AsyncIterator[
        list[str]]:
    """Every frame a screen's socket receives while the block runs."""
    frames: list[str] = []
    async with connect(f"{server.ws_url}/ws/sites/{site_id}/{audience}", open_timeout=5,
                       additional_headers={"Authorization": f"Bearer {token}"},
                       max_size=None) as ws:
        async def read() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for frame in ws:
                    frames.append(frame if isinstance(frame, str) else frame.decode())

        reader = asyncio.create_task(read())
        try:
            yield frames
            await asyncio.sleep(SETTLE)
        finally:
            await ws.close()
            await reader


def secrets_of(visits: list[dict]) -> list[str]:
    return [FIRST, LAST, BORN, "1961", WALK_IN, "Philippa", "Wolstenholme", NOTE, "penicillin",
            PROVIDER, "Okonkwo", APPOINTMENT, *FLAGS, *FLAG_LABELS.values(),
            *(v["id"] for v in visits)]


async def test_no_public_screen_frame_page_or_json_carries_anything_personal(
        server, site, tokens, http):
    desk = {"Authorization": f"Bearer {tokens['desk']}"}
    display = {"Authorization": f"Bearer {tokens['display']}"}
    base = f"/api/v1/sites/{site.id}"

    async def post(path: str, body: object, token: str = "desk") -> httpx.Response:
        r = await http.post(base + path, json=body,
                            headers={"Authorization": f"Bearer {tokens[token]}"})
        assert r.status_code in (200, 201), (path, r.text)
        return r

    async with frames_of(server, site.id, "lobby", tokens["display"]) as lobby_frames, \
            frames_of(server, site.id, "kiosk", tokens["kiosk"]) as kiosk_frames:
        booked = await post("/appointments", [{
            "id": APPOINTMENT, "start": datetime.now(UTC).isoformat(), "queue": "reg",
            "provider": PROVIDER, "first_name": FIRST, "last_name": LAST,
            "birth_date": BORN}])
        assert booked.json()["imported"] == 1, booked.text
        code = (await http.get(base + "/appointments", headers=desk, params={
            "date": clock.local_date(clock.now(), site.tz)})).json()["appointments"][0]["code"]
        booked_visit = (await post("/visits", {
            "queue": "reg", "appointment_id": APPOINTMENT, "priority": 2,
            "flags": list(FLAGS[:6]), "language": "es"})).json()  # the desk: a kiosk may not
        walk_in = (await post("/visits", {"queue": "reg", "name": WALK_IN,
                                          "flags": list(FLAGS[6:10])})).json()
        visits = [booked_visit, walk_in]
        noted = await http.post(f"{base}/visits/{walk_in['id']}/note", json={"note": NOTE},
                                headers=desk)
        assert noted.status_code in (200, 404), noted.text  # 404: no staff notes yet
        await post(f"/visits/{walk_in['id']}/call", {"room": "room-3"})
        await post(f"/visits/{walk_in['id']}/return", {})
        await post(f"/visits/{walk_in['id']}/transfer", {"queue": "nurse"})
        await post(f"/visits/{walk_in['id']}/call", {"room": "desk-1"})
        await post(f"/visits/{booked_visit['id']}/call", {"room": "room-2"})
        await post(f"/visits/{booked_visit['id']}/room", {"room": "room-2"})
        await post("/message", {"text": "The lab reopens at 2 pm", "minutes": 30})
        date = clock.local_date(clock.now(), site.tz)
        secret = server._env["SECRET_KEY"]
        public = [
            await http.get(base + "/lobby", headers=display),
            await http.get(f"/sites/{site.id}/lobby", headers=display),
            await http.get(f"/sites/{site.id}/lobby?queues=reg,nurse", headers=display),
            await http.get(f"/sites/{site.id}/kiosk",
                           headers={"Authorization": f"Bearer {tokens['kiosk']}"}),
        ]
        for v in visits:
            token = make_token(secret, site.id, v["id"], date)
            public += [await http.get(f"/t/{token}"), await http.get(f"/t/{token}/status"),
                       await http.get(f"/t/{token}/status", headers={"HX-Request": "true"})]
        await post(f"/visits/{booked_visit['id']}/checkout", {})
        await post(f"/visits/{booked_visit['id']}/done", {})
        await post(f"/visits/{walk_in['id']}/no-show", {})

    assert all(r.status_code == 200 for r in public), [(r.url, r.status_code) for r in public]
    # The sweep saw what it meant to: the calls and tickets did reach the screens.
    assert any(walk_in["ticket"] in f for f in lobby_frames)
    assert any("Room 2" in f for f in lobby_frames)
    assert any(booked_visit["ticket"] in r.text for r in public)
    texts = [*lobby_frames, *kiosk_frames, *(r.text for r in public)]
    for word in [*secrets_of(visits), code]:
        leaks = [t[:120] for t in texts if word in t]
        assert not leaks, f"{word!r} reached a public screen: {leaks[0]}"
