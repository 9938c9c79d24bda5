"""/metrics on a real server: every series of docs/operations.md, with what a scrape
after real traffic shows, and nothing personal."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import httpx
import test_websockets as live
from prometheus_client.parser import text_string_to_metric_families
from test_websockets import listening, ws_path

from app.storage import keys

# The WebSocket tests' fixtures: a real server, tokens, a desk client.
server, tokens, desk = live.server, live.tokens, live.desk

NAME = "Zebulon Quixote-Marchetti"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def scrape(server) -> str:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        r = await client.get(f"{server.url}/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


async def test_metrics_expose_each_series_after_real_traffic(server, site, tokens, desk,
                                                            store):
    # A site with patients waiting that no screen of this server follows: its queues are
    # not read (a scrape costs what the process follows, not every site).
    unfollowed = replace(site, id=site.id + "u")
    await store.save_site(unfollowed)
    await store.check_in(unfollowed, "reg", actor="test")
    try:
        async with listening(server, ws_path(site.id, "lobby"), tokens["display"]) as lobby:
            await lobby.wait_for(bool)
            visit = await desk.check_in("reg", name=NAME)
            await lobby.wait_containing(visit["ticket"], since=1)
            second = await desk.check_in("reg", name="Second Patient")
            await lobby.wait_containing(second["ticket"], since=1)
            text = await scrape(server)
    finally:
        await store.redis.srem(keys.sites(), unfollowed.id)
        async for key in store.redis.scan_iter(match=f"lq:{{{unfollowed.id}}}:*"):
            await store.redis.delete(key)

    got = samples(text)
    assert got[("lobbyline_sockets", (("audience", "lobby"),))] == 1
    assert got[("lobbyline_sockets", (("audience", "board"),))] == 0
    assert got[("lobbyline_events_total", ())] >= 1
    assert got[("lobbyline_fanout_seconds_count", ())] >= 1
    visits = (("method", "POST"), ("route", "/api/v1/sites/{site}/visits"))
    assert got[("lobbyline_http_request_seconds_count", visits)] == 2
    assert got[("lobbyline_queue_length", (("queue", "reg"), ("site", site.id)))] == 2
    assert got[("lobbyline_queue_length", (("queue", "lab"), ("site", site.id)))] == 0
    assert got[("lobbyline_longest_wait_seconds", (("queue", "reg"), ("site", site.id)))] >= 0
    assert not [k for k in got if ("site", unfollowed.id) in k[1]]
    assert got[("lobbyline_redis_errors_total", (("where", "http"),))] == 0
    # No name, ticket or visit id: the routes are templates, the labels ids of sites.
    for secret in ("Zebulon", visit["ticket"], visit["id"]):
        assert secret not in text
    assert not re.search(r'route="[^"]*/visits/[0-9a-f]{16}', text)


async def test_with_log_format_json_every_log_line_is_one_json_object(live_server, site):
    server = live_server({"LOG_FORMAT": "json", "ACCESS_LOG": "true"})
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        assert (await client.get(f"{server.url}/readyz")).status_code == 200
    lines = [ln for ln in server.log().splitlines() if ln and not ln.startswith("--- ")]
    records = [json.loads(ln) for ln in lines]
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert any(r["logger"] == "uvicorn.access" and "/readyz" in r["message"] for r in records)
