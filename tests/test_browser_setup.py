"""The browser tests run wherever `make test` runs: Chromium is installed when it can be,
a machine without it is told the one command to run, and only an explicit opt-out skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "chromium"
MISSING = "/nonexistent/chromium"


def _script(env: dict[str, str], as_nobody: bool = False) -> subprocess.CompletedProcess[str]:
    command = ["bash", str(SCRIPT)]
    if as_nobody and os.getuid() == 0:
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOBBYLINE_SKIP")}
    return subprocess.run(command, env={**base, **env}, capture_output=True, text=True,
                          timeout=30)


async def test_the_browser_starts(browser):
    assert browser.version


def test_an_installed_chromium_needs_nothing(tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    result = _script({"CHROMIUM_PATH": str(fake)})
    assert result.returncode == 0 and result.stdout == result.stderr == ""


def test_without_chromium_a_user_who_cannot_install_is_told_the_command():
    result = _script({"CHROMIUM_PATH": MISSING}, as_nobody=True)
    assert result.returncode != 0
    assert "install it with `sudo apt-get install chromium`" in result.stderr
    assert "LOBBYLINE_SKIP_BROWSER=1" in result.stderr


def test_without_chromium_the_opt_out_lets_make_test_go_on():
    result = _script({"CHROMIUM_PATH": MISSING, "LOBBYLINE_SKIP_BROWSER": "1"})
    assert result.returncode == 0 and "browser tests are skipped" in result.stdout


def _pytest_without_chromium(redis_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOBBYLINE_SKIP")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_browser_setup.py::test_the_browser_starts"],
        cwd=ROOT, env={**base, "REDIS_URL": redis_url, "CHROMIUM_PATH": MISSING, **env},
        capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("ci", ["", "true"], ids=["developer", "ci"])
def test_a_missing_chromium_fails_the_browser_tests_rather_than_skipping(redis_url, ci):
    result = _pytest_without_chromium(redis_url, CI=ci)
    assert result.returncode == 1, result.stdout
    assert "1 error" in result.stdout and "skipped" not in result.stdout, result.stdout
    assert f"Chromium is missing at {MISSING}" in result.stdout


def test_with_the_opt_out_a_missing_chromium_skips_the_browser_tests(redis_url):
    result = _pytest_without_chromium(redis_url, LOBBYLINE_SKIP_BROWSER="1")
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout, result.stdout
