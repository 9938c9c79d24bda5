"""Wait estimates from how fast the queue really moves."""

from __future__ import annotations

from app.estimates import MIN_SAMPLES, eta, pace_minutes

NOW = 1_800_000_000_000
MIN = 60_000


def test_too_few_calls_use_the_configured_pace():
    assert pace_minutes([NOW - 5 * MIN], NOW, 12.0) == 12.0


def test_pace_is_the_median_gap_of_recent_calls():
    calls = [NOW - k * 6 * MIN for k in range(MIN_SAMPLES + 2)]
    assert pace_minutes(calls, NOW, 12.0) == 6.0


def test_a_burst_of_calls_never_promises_less_than_a_quarter_of_the_default():
    calls = [NOW - k * 1000 for k in range(10)]
    assert pace_minutes(calls, NOW, 12.0) == 3.0


def test_calls_older_than_ninety_minutes_are_ignored():
    stale = [NOW - 120 * MIN - k * MIN for k in range(10)]
    assert pace_minutes(stale, NOW, 9.0) == 9.0


def test_estimates_are_ranges_that_grow_with_position():
    ranges = [eta(p, 5.0) for p in range(1, 8)]
    for r in ranges:
        assert 0 <= r["low"] < r["high"]
    lows = [r["low"] for r in ranges]
    highs = [r["high"] for r in ranges]
    assert lows == sorted(lows) and highs == sorted(highs)
    assert highs[-1] > highs[0]


def test_the_next_patient_is_told_a_short_wait():
    assert eta(1, 4.0) == {"low": 1, "high": 4}
