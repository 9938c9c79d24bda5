"""While the app runs, the collector leaves start-up's objects alone and runs young
collections less often (app/collector.py, docs/architecture.md), and garbage cycles are
still freed on their own: a long-running server's memory does not grow with them."""

from __future__ import annotations

import gc
import weakref

from app import collector
from app.main import create_app


class Node:
    """A weak-referenceable object that can sit in a reference cycle."""

    other: Node


async def test_the_app_freezes_its_start_up_and_restores_the_collector_on_exit(
        settings) -> None:
    before = gc.get_threshold()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert gc.get_threshold() == (collector.GEN0_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_a_garbage_cycle_is_freed_without_an_explicit_collect(settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        a, b = Node(), Node()
        a.other, b.other = b, a
        dead = weakref.ref(a)
        del a, b
        assert dead() is not None  # a cycle: reference counting alone does not free it
        # Allocations past the young threshold, as a server's traffic makes them, run
        # the collector by itself.
        keep = [[] for _ in range(3 * collector.GEN0_THRESHOLD)]
        assert dead() is None
        del keep
