"""The simulated clinic day (bench/simulate.py), in a short form: a real server whose
clock starts at the opening and runs 120 times faster, driven through the API."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.access.auth import create_token
from app.sites import site_from_toml
from bench import simulate
from bench.simulate import Scenario

SPEED = 120


async def test_a_short_simulated_morning_measures_both_estimates(live_server, store, site_id):
    await store.save_site(site_from_toml(simulate.site_toml(site_id)))
    token = await create_token(store.redis, site_id, "desk")
    server = live_server({"CLOCK_START": simulate.opening().isoformat(),
                          "CLOCK_SPEED": str(SPEED), "ACCESS_LOG": "false"})

    # 20 minutes: the queue at the door at opening, two desks, three providers.
    result = await simulate.run(server.url, site_id, token, SPEED, Scenario(minutes=20),
                                seed=3)

    assert result["arrivals"] >= Scenario.opening_queue
    registration = result["registration"]
    assert registration["new"]["patients"] == registration["classic"]["patients"] > 0
    for kind in ("new", "classic"):
        assert 0 <= registration[kind]["inside"] <= 1
        assert registration[kind]["mae_minutes"] >= 0
    # The server stamped the simulated morning, not the real time.
    opening = simulate.opening()
    stamps = await check_in_times(store, site_id)
    assert stamps and all(opening <= t < opening + timedelta(hours=3) for t in stamps)


async def check_in_times(store, site_id: str) -> list[datetime]:
    """When the server says the site's visits checked in."""
    out = []
    async for key in store.redis.scan_iter(match=f"lq:{{{site_id}}}:visit:*"):
        out.append(datetime.fromisoformat(await store.redis.hget(key, "checked_in_at")))
    return out
