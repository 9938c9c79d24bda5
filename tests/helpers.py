"""Small helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.redis_server import free_port

__all__ = ["free_port", "wait_for"]

T = TypeVar("T")


async def wait_for(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = 5.0,
    interval: float = 0.05,
    message: str = "",
) -> T:
    """Poll ``predicate`` (sync or async) until it returns a truthy value, and return it.

    Fails the test with an AssertionError after ``timeout`` seconds; exceptions raised by
    the predicate propagate at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"not true after {timeout:g} s: {what} (last: {result!r})")
        await asyncio.sleep(interval)
