"""Settings from the environment: defaults, and one clear sentence for a bad value."""

from __future__ import annotations

import pytest

from app.config import ConfigError, Settings


def settings(tmp_path, **env: str) -> Settings:
    return Settings.from_env({"VAR_DIR": str(tmp_path), **env})


def test_defaults(tmp_path) -> None:
    s = settings(tmp_path)
    assert (s.screen_refresh_ms, s.hub_idle_seconds, s.access_log, s.secure_cookies) == (
        100, 60, True, False)


def test_values_are_read(tmp_path) -> None:
    s = settings(tmp_path, SCREEN_REFRESH_MS="0", HUB_IDLE_SECONDS="5", ACCESS_LOG="off",
                 SECURE_COOKIES="true")
    assert (s.screen_refresh_ms, s.hub_idle_seconds, s.access_log, s.secure_cookies) == (
        0, 5, False, True)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SCREEN_REFRESH_MS", "fast", "SCREEN_REFRESH_MS='fast' is not a whole number"),
    ("SCREEN_REFRESH_MS", "60000", "SCREEN_REFRESH_MS=60000 is too large"),
    ("HUB_IDLE_SECONDS", "0", "HUB_IDLE_SECONDS=0 is too small"),
    ("ACCESS_LOG", "maybe", "ACCESS_LOG='maybe' is neither true nor false"),
    ("SECURE_COOKIES", "y", "SECURE_COOKIES='y' is neither true nor false"),
])
def test_a_bad_value_names_the_variable(tmp_path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        settings(tmp_path, **{name: value})
