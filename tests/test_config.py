"""Settings from the environment: defaults, and one clear sentence for a bad value."""

from __future__ import annotations

import pytest

from app.config import ConfigError, Settings
from app.storage.redis_client import parse_sentinel


def settings(tmp_path, **env: str) -> Settings:
    return Settings.from_env({"VAR_DIR": str(tmp_path), **env})


def test_defaults(tmp_path) -> None:
    s = settings(tmp_path)
    assert (s.socket_backlog, s.hub_idle_seconds, s.access_log, s.secure_cookies) == (
        64, 60, True, False)


def test_values_are_read(tmp_path) -> None:
    s = settings(tmp_path, SOCKET_BACKLOG="8", HUB_IDLE_SECONDS="5", ACCESS_LOG="off",
                 SECURE_COOKIES="true")
    assert (s.socket_backlog, s.hub_idle_seconds, s.access_log, s.secure_cookies) == (
        8, 5, False, True)


def test_a_setting_this_version_no_longer_has_is_ignored(tmp_path) -> None:
    assert settings(tmp_path, SCREEN_REFRESH_MS="100") == settings(tmp_path)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SOCKET_BACKLOG", "fast", "SOCKET_BACKLOG='fast' is not a whole number"),
    ("SOCKET_BACKLOG", "0", "SOCKET_BACKLOG=0 is too small"),
    ("HUB_IDLE_SECONDS", "0", "HUB_IDLE_SECONDS=0 is too small"),
    ("BOARD_UNDO_SECONDS", "-1", "BOARD_UNDO_SECONDS=-1 is too small"),
    ("BOARD_UNDO_SECONDS", "600", "BOARD_UNDO_SECONDS=600 is too large"),
    ("REDIS_WAIT_REPLICAS", "-1", "REDIS_WAIT_REPLICAS=-1 is too small"),
    ("ACCESS_LOG", "maybe", "ACCESS_LOG='maybe' is neither true nor false"),
    ("SECURE_COOKIES", "y", "SECURE_COOKIES='y' is neither true nor false"),
    ("CLOCK_SPEED", "0.5", "CLOCK_SPEED='0.5' is not a speed-up from 1 to 1000"),
    ("CLOCK_SPEED", "fast", "CLOCK_SPEED='fast' is not a speed-up"),
    ("CLOCK_START", "2026-12-07T08:00", "CLOCK_START='2026-12-07T08:00' is not a time with "
     "its offset"),
    ("CLOCK_START", "monday", "CLOCK_START='monday' is not a time"),
    ("LOG_FORMAT", "xml", "LOG_FORMAT='xml' is not a log format"),
])
def test_a_bad_value_names_the_variable(tmp_path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        settings(tmp_path, **{name: value})


@pytest.mark.parametrize(("env", "message"), [
    ({"PORT": "abc"}, "PORT='abc' is not a port number"),
    ({"PORT": "70000"}, "PORT='70000' is not a port number"),
    ({"PORT": "-1"}, "PORT='-1' is not a port number"),
    ({"HOST": "my host"}, "HOST='my host' is not a host name or address"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL='localhost:6379' is not a Redis URL"),
    ({"REDIS_URL": "redis://localhost:63x9/0"}, "REDIS_URL='redis://localhost:63x9/0' is not"),
    ({"REDIS_URL": "redis+sentinel://s1:26379"},
     r"REDIS_URL='redis\+sentinel://s1:26379' is not a Redis URL \(the path must be "
     "/MASTERNAME"),
    ({"REDIS_URL": "redis+sentinel://s1:2x/main/0"}, "'s1:2x' has no valid port"),
    ({"REDIS_URL": "redis+sentinel://s1/main/zero"}, "the database 'zero' is not a number"),
    ({"ALLOWED_ORIGINS": "clinic.example"}, "ALLOWED_ORIGINS has 'clinic.example'"),
])
def test_a_bad_listen_address_or_url_names_the_variable(tmp_path, env, message) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(tmp_path, **env)


def test_host_and_port_are_read(tmp_path) -> None:
    s = settings(tmp_path, HOST="0.0.0.0", PORT="8080")
    assert (s.host, s.port) == ("0.0.0.0", 8080)
    assert (settings(tmp_path).host, settings(tmp_path).port) == ("127.0.0.1", 8000)


def test_a_password_in_redis_url_is_not_repeated_in_the_message(tmp_path) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(tmp_path, REDIS_URL="redis://app:hunter2@db:63x9/0")
    assert "hunter2" not in str(caught.value) and "app:***@db" in str(caught.value)


def test_a_sentinel_url_names_its_sentinels_master_and_database(tmp_path) -> None:
    url = "redis+sentinel://:s3cret@s1:26380,s2/main/3"
    assert settings(tmp_path, REDIS_URL=url).redis_url == url
    parsed = parse_sentinel(url)
    assert parsed.sentinels == (("s1", 26380), ("s2", 26379))
    assert (parsed.service, parsed.db, parsed.password) == ("main", 3, "s3cret")


def test_a_var_dir_that_cannot_be_written_names_var_dir(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"VAR_DIR=.* cannot hold the generated secret"):
        Settings.from_env({"VAR_DIR": str(blocker / "var")})
