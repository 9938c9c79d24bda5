"""Shared fixtures: a real Redis, per-test sites, a real server process, a real browser.

A missing Redis or Chromium fails the tests that need it, on every machine; only an
explicit ``LOBBYLINE_SKIP_REDIS=1`` or ``LOBBYLINE_SKIP_BROWSER=1`` skips them instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
import redis
import redis_topologies
from helpers import TEST_SITE, Api, make_settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from app import clock
from app.access.auth import ROLES, create_token
from app.config import Settings
from app.main import create_app
from app.sites import Site, site_from_dict
from app.storage import keys, redis_client
from app.storage.redis_server import EmbeddedRedis, free_port
from app.storage.store import Store

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Database 15 of the machine's Redis: away from what `make run` and the benchmarks keep in
# database 0, so the per-test clean-up scans only the tests' own keys.
LOCAL_REDIS = "redis://127.0.0.1:6379/15"


def _local_redis() -> str:
    """Database 15, or one below it per parallel worker (`pytest -n 2`: gw0 15, gw1 14):
    each worker's tests see only their own keys, as one run alone does."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return f"redis://127.0.0.1:6379/{15 - int(worker.removeprefix('gw'))}"


def _unavailable(reason: str, opt_out: str) -> NoReturn:
    """Fail, saying what is missing: a run that silently skips the browser or Redis tests
    looks green while testing much less. Skip only when `opt_out` is set to 1."""
    if os.environ.get(opt_out) == "1":
        pytest.skip(f"{reason} ({opt_out}=1)")
    pytest.fail(f"{reason}; or set {opt_out}=1 to skip these tests", pytrace=False)


def _sync_client(url: str, timeout: float = 5.0) -> redis.Redis:
    """A client of `url` as the app makes them: standalone, cluster or Sentinel."""
    return redis_client.connect_sync(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def _answers_ping(url: str) -> bool:
    try:
        with _sync_client(url, timeout=0.5) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so fixtures can tell that the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def real_clock() -> Iterator[None]:
    """A test may set the app's clock (`clock.configure`); the next one starts on real
    time whatever happened in it."""
    yield
    clock.configure()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the Redis shared by the whole run.

    ``REDIS_URL`` if set; else the machine's Redis on 127.0.0.1:6379 if it answers; else an
    embedded Redis started for the session.
    """
    if url := os.environ.get("REDIS_URL"):
        yield url
        return
    if _answers_ping(local := _local_redis()):
        # The tests' own database: what an earlier run that crashed left in it goes first.
        with _sync_client(local) as client:
            client.flushdb()
        yield local
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("session-redis"))
    try:
        url = server.start()
    except RuntimeError as exc:
        _unavailable(f"no Redis for the tests (set REDIS_URL, start one on 127.0.0.1:6379, "
                     f"or install redis-server): {exc}", "LOBBYLINE_SKIP_REDIS")
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[Callable[..., EmbeddedRedis]]:
    """Start extra Redis servers that a test may stop and restart.

    ``redis_factory(port=None, data_dir=None)`` returns a started ``EmbeddedRedis``; its
    ``stop()`` then ``start()`` comes back on the same port with the same data (append-only
    file). Every server is stopped at teardown.
    """
    servers: list[EmbeddedRedis] = []

    def start(port: int | None = None, data_dir: Path | None = None) -> EmbeddedRedis:
        server = EmbeddedRedis(data_dir or tmp_path / f"redis-{len(servers)}", port=port)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


def _topology_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    if redis_topologies.redis_server() is None:
        if os.environ.get("CI") == "true":  # CI installs it (.ci/redis): never a skip there
            pytest.fail("redis-server is missing in CI; .ci/redis should have installed it",
                        pytrace=False)
        _unavailable("the Redis Cluster and Sentinel tests need Debian's redis-server "
                     "(run `make redis` or `sudo apt-get install redis-server`)",
                     "LOBBYLINE_SKIP_REDIS")
    return tmp_path_factory.mktemp(name)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis_topologies.Cluster]:
    """Three Redis Cluster masters sharing every slot, for the whole run; `.url` names
    the first node (the app finds the others). Each test's sites are fresh ids, so the
    tests share it; it is gone with the run."""
    cluster = redis_topologies.Cluster.start(_topology_dir(tmp_path_factory, "cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_sentinel(
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis_topologies.SentinelGroup]:
    """A master, its replica and three Sentinels watching them, for one test (a test may
    fail the master over); `.url` is the `redis+sentinel://` URL of the three."""
    group = redis_topologies.SentinelGroup.start(_topology_dir(tmp_path_factory, "sentinel"))
    yield group
    group.stop()


@pytest.fixture
def site_id(redis_url: str) -> Iterator[str]:
    """A fresh site id for one test; its keys, tokens and users are deleted afterwards."""
    site = f"t{uuid.uuid4().hex[:8]}"
    yield site
    with _sync_client(redis_url) as client:
        digests = client.smembers(keys.site_tokens(site))
        if digests:
            client.hdel(keys.token_index(), *digests)
        client.srem(keys.sites(), site)
        for name, raw in client.hscan_iter(keys.users(), match="*"):
            if json.loads(raw).get("site") == site:
                client.hdel(keys.users(), name)
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"lq:{{{site}}}:*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)


class LiveServer:
    """The real app (``python -m app serve``) in a child process on a fixed port."""

    def __init__(self, port: int, env: Mapping[str, str], log_path: Path,
                 args: Sequence[str] = ()) -> None:
        self.port = port
        self.args = list(args)
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        self.log_path = log_path
        self._env = dict(env)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def log(self) -> str:
        """Everything the server has written to stdout and stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and return once ``GET /healthz`` answers 200."""
        if self._process is not None and self._process.poll() is None:
            return
        command = [
            sys.executable, "-m", "app", "serve",
            "--host", "127.0.0.1", "--port", str(self.port), *self.args,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            log.write(f"--- {' '.join(command)}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=1.0) as client:
            while True:
                if self._process.poll() is not None:
                    code = self._process.returncode
                    self._process = None
                    pytest.fail(
                        f"server exited with code {code} before /healthz answered:\n{self.log()}",
                        pytrace=False,
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(
                        f"/healthz did not answer 200 within {timeout:g} s:\n{self.log()}",
                        pytrace=False,
                    )
                time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM (uvicorn closes sockets with 1012), then SIGKILL after 5 s. Idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def restart(self) -> None:
        """Stop, then start again on the same port."""
        self.stop()
        self.start()

    async def astop(self) -> None:
        """``stop()`` off the event loop, so the test's own clients keep running."""
        await asyncio.to_thread(self.stop)

    async def arestart(self) -> None:
        """``restart()`` off the event loop, so the test's own clients see the restart."""
        await asyncio.to_thread(self.restart)


@pytest.fixture
def live_server(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start the real server: ``live_server(env=None, *, redis_url=None, port=None,
    args=())``, `args` added to ``python -m app serve`` (e.g. ``["--workers", "2"]``).

    The server gets ``REDIS_URL`` (the session Redis unless given) plus ``env``; its output
    goes to ``tmp_path/server-<port>.log``. The call blocks until /healthz answers; from an
    async test that is fine at set-up, but use ``await server.arestart()`` once the test
    has clients of its own. Every server is stopped at teardown.
    """
    servers: list[LiveServer] = []
    session_redis_url = redis_url

    def start(
        env: Mapping[str, str] | None = None,
        *,
        redis_url: str | None = None,
        port: int | None = None,
        args: Sequence[str] = (),
    ) -> LiveServer:
        port = port or free_port()
        full_env = {
            **os.environ,
            "REDIS_URL": redis_url or session_redis_url,
            "PYTHONUNBUFFERED": "1",
            "VAR_DIR": str(tmp_path / "var"),
            "SECRET_KEY": "test-secret-" + "x" * 40,
            **(env or {}),
        }
        server = LiveServer(port, full_env, tmp_path / f"server-{port}.log", args)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless Chromium driven by Playwright's async API, one per test.

    Function-scoped on purpose: Playwright's async objects belong to the event loop that
    made them, and each pytest-asyncio test runs in its own loop, so a session-wide browser
    would need every browser test marked ``loop_scope="session"``. Launching costs well
    under a second. Playwright's sync API cannot run inside the asyncio tests at all.
    """
    if not CHROMIUM.exists():
        _unavailable(f"Chromium is missing at {CHROMIUM}: run `make chromium` or "
                     "`sudo apt-get install chromium`", "LOBBYLINE_SKIP_BROWSER")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("Playwright is not installed (make venv, or pip install -e '.[test]')",
                     "LOBBYLINE_SKIP_BROWSER")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page(browser: Any, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A page in a fresh browser context; on failure, a screenshot in test-artifacts/."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    new_page = await context.new_page()
    try:
        yield new_page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed and not new_page.is_closed():
            ARTIFACTS.mkdir(exist_ok=True)
            name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
            with contextlib.suppress(Exception):
                await new_page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        await context.close()


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return make_settings(redis_url, tmp_path / "var")


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    """A Store on its own client, on this test's event loop."""
    client = await redis_client.connect(settings.redis_url, blocking=False)
    yield Store(client, settings)
    await client.aclose()


@pytest.fixture
async def site(store: Store, site_id: str) -> Site:
    """A saved three-queue, four-room site (TEST_SITE) under this test's site id."""
    s = site_from_dict({"id": site_id, **TEST_SITE})
    await store.save_site(s)
    return s


@pytest.fixture
async def chicago_site(store: Store, site_id: str) -> Site:
    """The same site in America/Chicago, for tests of fixed dates and times written for
    that zone (the usual test site's zone follows the clock: helpers.midday_zone)."""
    s = site_from_dict({"id": site_id, **TEST_SITE, "timezone": "America/Chicago"})
    await store.save_site(s)
    return s


@pytest.fixture
async def api(settings: Settings, site: Site, store: Store) -> AsyncIterator[Api]:
    """The app in process (lifespan running) and tokens for every role of `site`."""
    app = create_app(settings)
    tokens = {role: await create_token(store.redis, site.id, role) for role in ROLES}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, app, site, tokens)
