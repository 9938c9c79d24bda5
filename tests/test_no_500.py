"""Whatever a client sends, the answer is a clear 4xx, never a 500, and nothing changes."""

from __future__ import annotations

import itertools

import pytest

BODIES = [
    b"", b"null", b"[]", b"42", b'"text"', b"{", b"\xff\xfe", b'{"queue": null}',
    b'{"queue": ["reg"]}', b'{"queue": {"id": "reg"}}', b'{"queue": "reg\\u0000"}',
    b'{"queue": "reg", "name": 7}', b'{"queue": "reg", "priority": 1e309}',
    b'{"queue": "reg", "priority": -1}', b'{"queue": "reg", "priority": true}',
    b'{"queue": "reg", "flags": "copay_due"}', b'{"queue": "reg", "flags": [null]}',
    b'{"queue": "reg", "flags": [{"a": 1}]}', b'{"queue": "reg", "appointment_id": 5}',
    b'{"room": 5}', b'{"room": "room-1' + b"x" * 5000 + b'"}', b'{"queue": "' + b"q" * 100 +
    b'"}', b'{"open": "yes"}', b'{"status": "occupied"}', b'{"status": ["closed"]}',
    b"[" * 5000 + b"]" * 5000, b'{"queue": "reg", "name": "' + b"n" * 70000 + b'"}',
    b'{"queue": "reg", "name": "\\ud800"}', b'{"queue": "reg\\udfff"}', b'{"room": "\\udc00"}',
    b'{"queue": "reg", "flags": ["\\ud800"]}', b'{"queue": "reg", "name": "a\\u0085b"}',
]

PATHS = [
    ("POST", "/visits"),
    ("POST", "/visits/{id}/call"),
    ("POST", "/visits/{id}/room"),
    ("POST", "/visits/{id}/transfer"),
    ("POST", "/visits/{id}/done"),
    ("POST", "/queues/reg/call-next"),
    ("POST", "/queues/reg"),
    ("POST", "/rooms/room-1"),
]

ODD_PATHS = [
    "/visits/..%2F..%2Fsnapshot", "/visits/%00", "/visits/" + "9" * 3000, "/visits/x/teleport",
    "/queues/%F0%9F%98%80/call-next", "/rooms/%20", "/events?after=-1", "/events?after=1-x",
    "/events?limit=0", "/events?limit=99999999999999999999", "/events?after=" + "1" * 60,
    "/appointments?date=yesterday",
]


async def test_no_body_makes_a_500_or_changes_state(api):
    visit = await api.check_in(name="Probe")
    for (method, path), body in itertools.product(PATHS, BODIES):
        if path == "/visits" and body in (b"", b"{}"):
            continue
        r = await api.client.request(method, api.base + path.format(id=visit["id"]),
                                     content=body, headers=api.auth())
        assert r.status_code < 500, (path, body[:60], r.text)
        if r.status_code >= 400:
            assert set(r.json()) >= {"error", "detail"}, (path, body[:60], r.text)
    # Some bodies were valid moves; the visit must still be there, whatever it went through.
    assert (await api.get(f"/visits/{visit['id']}")).status_code == 200


@pytest.mark.parametrize("path", ODD_PATHS)
async def test_odd_paths_and_queries_answer_4xx(api, path):
    before = await api.event_id()
    for method in ("GET", "POST"):
        r = await api.client.request(method, api.base + path, headers=api.auth())
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
    assert await api.event_id() == before


@pytest.mark.parametrize("header", [
    b"Bearer", b"Bearer ", b"Basic abc", b"Bearer " + b"x" * 10000, "Bearer llt_\u00e9".encode(),
])
async def test_odd_credentials_answer_401(api, header):
    r = await api.client.get(api.base + "/snapshot", headers={"Authorization": header})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
