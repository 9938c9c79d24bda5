"""Small helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from app.config import Settings
from app.sites import Site
from app.storage.redis_server import free_port

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


def midday_zone() -> str:
    """A fixed-offset zone where it is now between 10:00 and 14:00, so that a test's
    clinic is open whenever the suite runs: an appointment two hours ahead or an hour
    behind falls on the same local day, and the day close (20:00) is hours away.
    (`Etc/GMT+6` is six hours behind UTC: the sign is POSIX's, the reverse of ISO's.)"""
    behind = (datetime.now(UTC).hour - 12) % 24  # hours the zone is behind UTC
    if behind > 12:
        behind -= 24  # Etc/ zones run from GMT-14 to GMT+12
    return "Etc/GMT" if behind == 0 else f"Etc/GMT{behind:+d}"


TEST_SITE = {
    "name": "Test Clinic",
    "timezone": midday_zone(),
    "queues": [
        {"id": "reg", "name": "Registration", "prefix": "A", "minutes_per_patient": 4},
        {"id": "nurse", "name": "Nurse", "prefix": "N", "minutes_per_patient": 10},
        {"id": "lab", "name": "Lab", "prefix": "L", "minutes_per_patient": 6},
    ],
    "rooms": [
        {"id": "desk-1", "name": "Desk 1", "kind": "desk"},
        {"id": "room-1", "name": "Room 1"},
        {"id": "room-2", "name": "Room 2"},
        {"id": "room-3", "name": "Room 3"},
    ],
}


def make_settings(redis_url: str, var_dir: Path, **env: str) -> Settings:
    return Settings.from_env({"REDIS_URL": redis_url, "VAR_DIR": str(var_dir),
                              "SECRET_KEY": "test-secret-" + "x" * 40, **env})


class Api:
    """An in-process client of the app, with a bearer token for each role of the site."""

    def __init__(self, client: httpx.AsyncClient, app: Any, site: Site,
                 tokens: dict[str, str]) -> None:
        self.client = client
        self.app = app
        self.site = site
        self.tokens = tokens
        self.base = f"/api/v1/sites/{site.id}"

    def auth(self, role: str = "desk") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def get(self, path: str, role: str = "desk", **kw: Any) -> httpx.Response:
        return await self.client.get(self.base + path, headers=self.auth(role), **kw)

    async def post(self, path: str, body: Any = None, role: str = "desk",
                   **kw: Any) -> httpx.Response:
        headers = {**self.auth(role), **kw.pop("headers", {})}
        return await self.client.post(self.base + path, json=body, headers=headers, **kw)

    async def check_in(self, queue: str = "reg", **fields: Any) -> dict[str, Any]:
        r = await self.post("/visits", {"queue": queue, **fields})
        assert r.status_code == 201, r.text
        return r.json()

    async def event_id(self) -> str:
        return (await self.get("/snapshot")).json()["event_id"]

    async def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The stream's events (the first 1,000), only those of type `kind` if given."""
        events = (await self.get("/events", params={"limit": 1000})).json()["events"]
        return [e for e in events if kind is None or e["type"] == kind]

    async def post_raw(self, path: str, body: str | bytes, content_type: str,
                       role: str = "desk") -> httpx.Response:
        """POST a body as it is, with its own Content-Type."""
        return await self.client.post(self.base + path, content=body,
                                      headers={**self.auth(role), "content-type": content_type})


class Desk:
    """The API as an integration uses it: over HTTP, with a desk bearer token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def check_in(self, queue: str = "reg", **fields: Any) -> dict[str, Any]:
        r = await self.client.post("/visits", json={"queue": queue, **fields})
        assert r.status_code == 201, r.text
        return r.json()

    async def move(self, visit: dict[str, Any], action: str, **body: Any) -> dict[str, Any]:
        r = await self.client.post(f"/visits/{visit['id']}/{action}", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    async def events(self, after: str = "0") -> list[dict[str, Any]]:
        r = await self.client.get("/events", params={"after": after, "limit": 1000})
        assert r.status_code == 200, r.text
        return r.json()["events"]

    async def call(self, visit: dict[str, Any], room: str) -> dict[str, Any]:
        return await self.move(visit, "call", room=room)


AXE = Path(__file__).parent / "vendor" / "axe.min.js"


async def axe_problems(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each.
    axe is evaluated rather than added as a script tag, which the page's CSP refuses."""
    await page.evaluate(AXE.read_text())
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]
