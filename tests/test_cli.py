"""`python -m app …` as an administrator types it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from helpers import free_port

from app.access.auth import login
from app.storage import keys


def _run(redis_url: str, tmp_path: Path, *args: str, stdin: str = "",
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "REDIS_URL": redis_url, "VAR_DIR": str(tmp_path / "var"),
                **(env or {})}
    if not full_env["REDIS_URL"]:
        del full_env["REDIS_URL"]
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


def _one_sentence(result: subprocess.CompletedProcess[str], sentence: str) -> None:
    assert result.returncode != 0, result.stdout
    assert sentence in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("command", [("serve",), ("run",), ("demo",)])
@pytest.mark.parametrize(("env", "sentence"), [
    ({"PORT": "abc"}, "PORT='abc' is not a port number"),
    ({"HOST": "bad host"}, "HOST='bad host' is not a host name or address"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL='localhost:6379' is not a Redis URL"),
], ids=["port", "host", "redis-url"])
def test_a_bad_setting_stops_every_command_with_one_sentence(redis_url, tmp_path, command,
                                                             env, sentence):
    _one_sentence(_run(redis_url, tmp_path, *command, env=env), sentence)


@pytest.mark.parametrize(("args", "sentence"), [
    (("--port", "abc"), "--port 'abc' is not a port number"),
    (("--port", "0"), "--port '0' is not a port number"),
    (("--host", "no-such-host.invalid"),
     "--host 'no-such-host.invalid' is not a name or address this machine can listen on"),
])
@pytest.mark.parametrize("command", ["serve", "run"])
def test_a_bad_flag_stops_serving_with_one_sentence(redis_url, tmp_path, command, args,
                                                    sentence):
    _one_sentence(_run(redis_url, tmp_path, command, *args), sentence)


@pytest.mark.parametrize("workers", ["0", "two", "65"])
def test_a_bad_number_of_workers_stops_serving_with_one_sentence(redis_url, tmp_path,
                                                                 workers):
    _one_sentence(_run(redis_url, tmp_path, "serve", "--workers", workers),
                  f"--workers {workers!r} is not a number of processes")


@pytest.mark.parametrize("command", [
    ("serve",), ("run",), ("demo",), ("token", "--site", "demo", "--role", "desk"),
    ("device", "code", "--site", "demo", "--role", "kiosk"),
])
def test_a_redis_url_where_nothing_answers_says_which_setting_to_fix(tmp_path, command):
    url = f"redis://127.0.0.1:{free_port()}/0"
    _one_sentence(_run(url, tmp_path, *command),
                  f"REDIS_URL={url}: nothing answers there (connection refused); "
                  "start Redis or fix REDIS_URL.")


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else is listening on, as a first `make run` would be."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("embedded", [False, True], ids=["redis-url", "embedded-redis"])
def test_a_second_run_on_a_busy_port_says_so_before_seeding_or_starting_redis(
        redis_url, tmp_path, busy_port, embedded):
    result = _run("" if embedded else redis_url, tmp_path, "run", env={"PORT": str(busy_port)})
    _one_sentence(result, f"Port {busy_port} on 127.0.0.1 is in use (is Lobbyline already "
                          "running?); stop it or set PORT.")
    assert "Demo site" not in result.stdout and "pair with code" not in result.stdout
    assert not (tmp_path / "var" / "redis").exists(), "an embedded Redis was started"


def test_serve_on_a_busy_port_names_the_flag_that_chose_it(redis_url, tmp_path, busy_port):
    result = _run(redis_url, tmp_path, "serve", "--port", str(busy_port))
    _one_sentence(result, f"Port {busy_port} on 127.0.0.1 is in use (is Lobbyline already "
                          "running?); stop it or pass another --port.")


def test_demo_is_safe_to_run_twice(redis_url, tmp_path):
    for _ in range(2):
        result = _run(redis_url, tmp_path, "demo")
        assert result.returncode == 0, result.stderr
        assert "Demo site 'demo' is ready" in result.stdout


def test_schedule_import_reports_each_bad_entry_and_keeps_the_good(redis_url, tmp_path, site):
    sample = Path(__file__).resolve().parents[1] / "docs" / "sample-schedule.csv"
    good = _run(redis_url, tmp_path, "schedule", "import", "--site", site.id, str(sample))
    assert good.returncode == 0, good.stderr
    assert "imported 5, updated 0, 0 with errors" in good.stdout
    again = _run(redis_url, tmp_path, "schedule", "import", "--site", site.id, str(sample))
    assert "imported 0, updated 5" in again.stdout

    lines = sample.read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], lines[1].replace(lines[1].split(",")[1], "not-a-time"),
                              *lines[2:]]) + "\n")
    result = _run(redis_url, tmp_path, "schedule", "import", "--site", site.id, str(bad))
    assert result.returncode == 1
    assert "1 with errors" in result.stdout and "entry 0:" in result.stderr


def _serve_embedded(var: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m app serve` with no REDIS_URL; answers the process and its Redis URL."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        env={**env, "VAR_DIR": str(var)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process, (var / "redis.url").read_text().strip()
        time.sleep(0.2)
    process.kill()
    pytest.fail("the server with an embedded Redis did not get ready")


def _redis_answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=0.5) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def test_embedded_redis_keeps_data_across_restarts_and_stops_with_the_server(tmp_path):
    var = tmp_path / "var"
    server, url = _serve_embedded(var)
    try:
        env = {"REDIS_URL": ""}
        demo = _run("", tmp_path, "demo", env=env)  # finds the running embedded Redis
        assert demo.returncode == 0, demo.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
    assert not _redis_answers(url), "the embedded Redis outlived the server"
    assert not (var / "redis.url").exists()

    server, _ = _serve_embedded(var)
    try:
        token = _run("", tmp_path, "token", "--site", "demo", "--role", "desk", env=env)
        assert token.returncode == 0, token.stderr  # the demo site survived the restart
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)


async def test_device_code_names_the_device_and_its_queues(redis_url, tmp_path, site, store):
    result = _run(redis_url, tmp_path, "device", "code", "--site", site.id, "--role",
                  "display", "--name", "Lobby TV", "--queues", "reg,lab")
    assert result.returncode == 0, result.stderr
    code = result.stdout.split()[0]
    assert "works once" in result.stdout
    pairing = json.loads(await store.redis.get(keys.pairing_code(code)))
    assert pairing == {"site": site.id, "role": "display", "name": "Lobby TV",
                       "queues": ["reg", "lab"]}


def test_device_code_for_an_unknown_queue_names_it(redis_url, tmp_path, site):
    result = _run(redis_url, tmp_path, "device", "code", "--site", site.id, "--role", "kiosk",
                  "--queues", "reg,x-ray")
    assert result.returncode == 2
    assert "there is no queue 'x-ray'" in result.stderr and "Traceback" not in result.stderr


def test_user_add_refuses_a_short_password(redis_url, tmp_path, site):
    result = _run(redis_url, tmp_path, "user", "add", "--site", site.id, "--role", "desk",
                  f"kim-{site.id}", stdin="short\n")
    assert result.returncode == 2 and "at least 8 characters" in result.stderr
