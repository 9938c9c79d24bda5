"""The configurable clock: the real time by default, a simulated day when configured."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from helpers import make_settings

from app import clock
from app.main import create_app


def test_unconfigured_the_clock_is_the_real_time() -> None:
    clock.configure()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)


def test_a_configured_clock_starts_where_told_and_runs_faster(redis_url, tmp_path) -> None:
    start = datetime(2026, 12, 7, 8, tzinfo=UTC)
    try:
        create_app(make_settings(redis_url, tmp_path, CLOCK_START=start.isoformat(),
                                 CLOCK_SPEED="600"))
        first = clock.now()
        time.sleep(0.2)
        second = clock.now()
        assert start <= first < start + timedelta(minutes=1)
        assert second - first >= timedelta(seconds=100)  # 0.2 s at 600 times
    finally:
        create_app(make_settings(redis_url, tmp_path))
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)
