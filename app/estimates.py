"""Honest wait estimates, from how fast a queue has really been moving.

Pure: no I/O. A queue's pace is the median gap between its recent calls; with too few
calls (the morning's first patients) the site's configured minutes per patient stand in.
The answer is a range, because a single number would be a promise the desk can't keep.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from statistics import median

MIN_SAMPLES = 4
STALE_AFTER_MS = 90 * 60_000


def pace_minutes(call_times_ms: Sequence[int], now_ms: int, default_minutes: float) -> float:
    """Minutes per patient: the median gap of the recent calls, or the default."""
    recent = sorted(t for t in call_times_ms if now_ms - t <= STALE_AFTER_MS)
    gaps = [(b - a) / 60_000 for a, b in itertools.pairwise(recent) if b > a]
    if len(gaps) < MIN_SAMPLES - 1:
        return default_minutes
    # Never claim a pace faster than a quarter of the default: a burst of calls at opening
    # would otherwise promise everyone a one-minute wait.
    return max(median(gaps), default_minutes / 4)


def eta(position: int, pace: float) -> dict[str, int]:
    """The wait range, in minutes, of the patient at `position` (1 = next)."""
    expected = (position - 0.5) * pace
    low = max(0, math.floor(expected * 0.75))
    high = max(low + 1, math.ceil(expected * 1.3 + 1))
    return {"low": low, "high": high}
