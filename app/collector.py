"""The garbage collector's settings for a serving process, applied for the app's lifetime.

CPython's cyclic collector pauses the whole process, event loop and every socket with it,
and a full (generation-2) collection walks every tracked object not frozen. With the
default thresholds (700, 10, 10), 10,000 lobby screens connecting to two workers made each
worker run 7 full collections, 1.6-3.0 s of pauses, in the 7-14 s of the connect. Two
changes, measured in docs/benchmarks.md (round 10); the why is in docs/architecture.md
("The garbage collector"):

- `gc.freeze()` once the app has started: start-up's objects (modules, routes, templates)
  move to a permanent generation that no collection walks again.
- a generation-0 threshold of `GEN0_THRESHOLD` instead of 700, so a full collection comes
  after about 200,000 net allocations instead of 70,000: 2 in that connect, not 7.
  Garbage cycles are still collected, in larger batches; 10,000 was measured too and held
  ~33 MB more of them per process, so not higher.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

GEN0_THRESHOLD = 2_000


def tune() -> Callable[[], None]:
    """Freeze the start-up heap and raise the young threshold; return the undo, for the
    app's shutdown (tests start and stop many apps in one process)."""
    before = gc.get_threshold()
    # No gc.collect() first: the little garbage start-up leaves (less than a young batch;
    # the collector ran all through the imports) is frozen once and never grows, and a
    # full collection of a test process's heap at every app start tripled a test file's
    # run time.
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, before[1], before[2])

    def undo() -> None:
        gc.set_threshold(*before)
        gc.unfreeze()

    return undo
