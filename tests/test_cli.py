"""`python -m app …` as an administrator types it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import keys
from app.auth import login


def _run(redis_url: str, tmp_path: Path, *args: str, stdin: str = "",
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "REDIS_URL": redis_url, "VAR_DIR": str(tmp_path / "var"),
                **(env or {})}
    return subprocess.run([sys.executable, "-m", "app", *args], input=stdin, env=full_env,
                          capture_output=True, text=True, timeout=60)


def test_site_load_then_token_then_user(redis_url, tmp_path, site_id, store):
    toml = tmp_path / "site.toml"
    toml.write_text(f'id = "{site_id}"\nname = "North"\n[[queues]]\nid = "reg"\n'
                    'name = "Registration"\nprefix = "A"\n[[rooms]]\nid = "r1"\nname = "Room 1"\n')
    loaded = _run(redis_url, tmp_path, "site", "load", str(toml))
    assert loaded.returncode == 0, loaded.stderr
    assert f"site {site_id} saved: 1 queues, 1 rooms" in loaded.stdout

    token = _run(redis_url, tmp_path, "token", "--site", site_id, "--role", "desk")
    assert token.returncode == 0 and token.stdout.startswith("llt_")

    added = _run(redis_url, tmp_path, "user", "add", "--site", site_id, "--role", "desk",
                 f"pat-{site_id}", stdin="long enough password\n")
    assert added.returncode == 0, added.stderr


async def test_a_user_added_on_the_command_line_can_sign_in(redis_url, tmp_path, site, store):
    name = f"sam-{site.id}"
    result = _run(redis_url, tmp_path, "user", "add", "--site", site.id, "--role", "admin",
                  name, stdin="s3cret-enough\n")
    assert result.returncode == 0, result.stderr
    try:
        assert await login(store.redis, name, "s3cret-enough") is not None
        assert await login(store.redis, name, "wrong-password") is None
    finally:
        await store.redis.hdel(keys.users(), name)


@pytest.mark.parametrize(("args", "message"), [
    (("token", "--site", "no-such-site", "--role", "desk"), "there is no site 'no-such-site'"),
    (("site", "load", "/nonexistent/site.toml"), "cannot read"),
    (("device", "code", "--site", "no-such-site", "--role", "display"), "there is no site"),
])
def test_bad_input_prints_one_line_and_exits_non_zero(redis_url, tmp_path, args, message):
    result = _run(redis_url, tmp_path, *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_site_file_names_the_problem(redis_url, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('id = "x"\n[[queues]]\nid = "reg"\nname = "R"\nprefix = "lower"\n')
    result = _run(redis_url, tmp_path, "site", "load", str(bad))
    assert result.returncode == 2 and "prefix 'lower'" in result.stderr


def test_a_short_password_is_refused(redis_url, tmp_path, site_id, site):
    result = _run(redis_url, tmp_path, "user", "add", "--site", site_id, "--role", "desk",
                  "shorty", stdin="abc\n")
    assert result.returncode == 2 and "at least 8 characters" in result.stderr


def test_a_bad_setting_stops_with_one_sentence(redis_url, tmp_path):
    result = _run(redis_url, tmp_path, "demo", env={"RETENTION_DAYS": "soon"})
    assert result.returncode == 2
    assert "RETENTION_DAYS='soon' is not a whole number" in result.stderr


def test_demo_is_safe_to_run_twice(redis_url, tmp_path):
    for _ in range(2):
        result = _run(redis_url, tmp_path, "demo")
        assert result.returncode == 0, result.stderr
        assert "Demo site 'demo' is ready" in result.stdout
