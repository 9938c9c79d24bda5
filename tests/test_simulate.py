"""The simulated clinic day (bench/simulate.py), in a short form: a real server whose
clock starts at the opening and runs 300 times faster, driven through the API and the
kiosk: 35 simulated minutes, with short provider visits so the queues clear soon after."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from app.access.auth import create_token
from app.sites import site_from_toml
from bench import simulate
from bench.simulate import Scenario

SPEED = 300
# The first appointment slot (three patients, booked at 8:00), the queue at the door at
# opening, and the walk-ins of the first five minutes; providers see them in 4 minutes.
MORNING = Scenario(minutes=35, opening_queue=4, provider_minutes=((0, 4.0),))


async def test_a_short_simulated_morning_measures_both_estimates(live_server, store, site_id):
    await store.save_site(site_from_toml(simulate.site_toml(site_id)))
    tokens = {role: await create_token(store.redis, site_id, role) for role in ("desk", "kiosk")}
    server = live_server({"CLOCK_START": simulate.opening().isoformat(),
                          "CLOCK_SPEED": str(SPEED), "ACCESS_LOG": "false"})

    result = await simulate.run(server.url, site_id, tokens, SPEED, MORNING, seed=3)

    assert result["failures"] == []
    booked, people = simulate.plan(MORNING, random.Random(3))
    came = [p for p in booked if p.arrive >= 0]
    assert result["arrivals"] == len(people) and came
    # The appointments came in through the schedule's import and were checked in at the
    # kiosk by their codes: each that came is arrived or done, the others still booked
    # (or marked no-show by the sweep).
    assert result["kiosk"] == len(came)
    statuses = result["appointments"]
    assert sum(statuses.values()) == len(booked)
    assert statuses.get("booked", 0) + statuses.get("noshow", 0) == len(booked) - len(came)
    for queue in ("registration", "provider"):
        part = result[queue]
        assert part["new"]["patients"] == part["classic"]["patients"] > 0
        for kind in ("new", "classic"):
            assert 0 <= part[kind]["inside"] <= 1
            assert part[kind]["mae_minutes"] >= 0
    # The server stamped the simulated morning, not the real time; a kiosk's visit is
    # linked to its appointment.
    opening = simulate.opening()
    visits = await site_visits(store, site_id)
    assert visits and all(opening <= datetime.fromisoformat(v["checked_in_at"])
                          < opening + timedelta(hours=3) for v in visits)
    assert sum(1 for v in visits if v["appointment_id"]) == len(came)


async def site_visits(store, site_id: str) -> list[dict[str, str]]:
    """The site's visits as the server stored them."""
    return [await store.redis.hgetall(key)
            async for key in store.redis.scan_iter(match=f"lq:{{{site_id}}}:visit:*")]
