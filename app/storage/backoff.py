"""Waiting between retries of a loop that must outlive a Redis outage."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from `first` up to `cap`, each drawn at random from its upper half
    (so that processes restarted together do not retry in step), and start again from
    `first` after `reset()`, the caller's sign that an attempt succeeded."""

    def __init__(self, first: float, cap: float) -> None:
        self.first = first
        self.cap = cap
        self.failures = 0

    def next(self) -> float:
        """The delay before the next attempt, counting one more failure."""
        ceiling = min(self.cap, self.first * 2 ** min(self.failures, 32))
        self.failures += 1
        return ceiling * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.failures = 0
