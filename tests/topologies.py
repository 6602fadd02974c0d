"""Real multi-server topologies for the tests: Redis Cluster, Sentinel, shards.

Built from the same binary as the rest of the suite (``servers.find_binary``:
Redis on the Redis legs, Valkey on the Valkey legs), every server on a free
loopback port, set up with plain commands (no redis-cli needed, so the
embedded Valkey works alike), and stopped with the rest of the session.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from tests import servers

CLUSTER_NODE_TIMEOUT_MS = 1000
SLOTS = 16384


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> float:
    """Poll ``condition`` until true; the seconds it took. Raises if it never is."""
    started = time.monotonic()
    last_error: Exception | None = None
    while time.monotonic() - started < timeout:
        try:
            if condition():
                return time.monotonic() - started
        except redis.RedisError as exc:
            last_error = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} ({last_error})")


@dataclass
class Cluster:
    """A Redis Cluster of primaries, each with its replicas."""

    primaries: list[servers.Server]
    replicas: list[servers.Server] = field(default_factory=list)

    @property
    def all(self) -> list[servers.Server]:
        return [*self.primaries, *self.replicas]

    @property
    def location(self) -> list[str]:
        """Seed URLs: every primary (the client needs only one)."""
        return [f"redis://{s.host}:{s.port}" for s in self.primaries]

    def raw(self) -> redis.cluster.RedisCluster:
        seed = self.primaries[0]
        return redis.cluster.RedisCluster(host=seed.host, port=seed.port)

    def node_id(self, server: servers.Server) -> str:
        with server.client() as raw:
            return str(raw.execute_command("CLUSTER", "MYID").decode())

    def state_ok(self) -> bool:
        for server in self.all:
            if server.process is None:
                continue
            with server.client(socket_timeout=1) as raw:
                info = raw.execute_command("CLUSTER", "INFO").decode()
                if "cluster_state:ok" not in info:
                    return False
        return True

    def owner_of(self, slot: int) -> servers.Server:
        """The live primary serving ``slot``, according to the cluster itself."""
        for server in self.all:
            if server.process is None:
                continue
            with server.client(socket_timeout=1) as raw:
                for start, end, primary, *_ in raw.execute_command("CLUSTER", "SLOTS"):
                    if start <= slot <= end:
                        port = int(primary[1])
                        return next(s for s in self.all if s.port == port)
        raise AssertionError(f"no node serves slot {slot}")

    def replica_of(self, primary: servers.Server) -> servers.Server:
        primary_id = self.node_id(primary)
        for server in self.replicas + self.primaries:
            if server is primary or server.process is None:
                continue
            with server.client() as raw:
                info = raw.execute_command("CLUSTER", "NODES").decode()
            for line in info.splitlines():
                fields = line.split()
                if "myself" in fields[2] and len(fields) > 3 and fields[3] == primary_id:
                    return server
        raise AssertionError(f"{primary.address} has no replica")

    def stop(self) -> None:
        for server in self.all:
            server.stop()


def start_cluster(primaries: int = 3, replicas_per_primary: int = 1) -> Cluster:
    """Start and join a cluster; returned once every node says cluster_state:ok."""
    args = [
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        "--cluster-node-timeout", str(CLUSTER_NODE_TIMEOUT_MS),
        # A replica must take over even if it lost the link a moment ago.
        "--cluster-replica-validity-factor", "0",
        # A shard that is down takes only its own slots down (tests kill shards).
        "--cluster-require-full-coverage", "no",
    ]  # fmt: skip
    started: list[servers.Server] = []
    bus_ports: dict[int, int] = {}
    try:
        for _ in range(primaries * (1 + replicas_per_primary)):
            # The bus port on its own free port: the default (port + 10000) may
            # be taken, or past 65535 for a high free port.
            bus = servers.free_port()
            started.append(servers.start_server([*args, "--cluster-port", str(bus)]))
            bus_ports[started[-1].port] = bus
        cluster = Cluster(started[:primaries], started[primaries:])
        share = SLOTS // primaries
        for index, server in enumerate(cluster.primaries):
            first = index * share
            last = SLOTS - 1 if index == primaries - 1 else first + share - 1
            with server.client() as raw:
                raw.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        seed = cluster.primaries[0]
        for server in started[1:]:
            with server.client() as raw:
                raw.execute_command("CLUSTER", "MEET", seed.host, seed.port, bus_ports[seed.port])
        wait_until(lambda: _everyone_knows(cluster), "cluster nodes to meet")
        for index, replica in enumerate(cluster.replicas):
            primary = cluster.primaries[index % primaries]
            primary_id = cluster.node_id(primary)
            wait_until(
                lambda replica=replica, primary_id=primary_id: _knows(replica, primary_id),
                "replica to learn its primary",
            )
            with replica.client() as raw:
                raw.execute_command("CLUSTER", "REPLICATE", primary_id)
        wait_until(cluster.state_ok, "cluster_state:ok")
        wait_until(
            lambda: _slots_list_replicas(cluster, replicas_per_primary), "CLUSTER SLOTS to agree"
        )
        for replica in cluster.replicas:
            wait_until(
                lambda replica=replica: (
                    replica.info("replication").get("master_link_status") == "up"
                ),
                "replicas to sync",
            )
        return cluster
    except BaseException:
        for server in started:
            server.stop()
        raise


def _slots_list_replicas(cluster: Cluster, replicas_per_primary: int) -> bool:
    """Every node's CLUSTER SLOTS names each range's primary and all its replicas."""
    for server in cluster.all:
        with server.client() as raw:
            ranges = raw.execute_command("CLUSTER", "SLOTS")
        if len(ranges) != len(cluster.primaries):
            return False
        if any(len(entry) - 3 < replicas_per_primary for entry in ranges):
            return False
    return True


def _knows(server: servers.Server, node_id: str) -> bool:
    with server.client() as raw:
        return node_id in raw.execute_command("CLUSTER", "NODES").decode()


def _everyone_knows(cluster: Cluster) -> bool:
    count = len(cluster.all)
    for server in cluster.all:
        with server.client() as raw:
            if len(raw.execute_command("CLUSTER", "NODES").decode().splitlines()) < count:
                return False
    return True


def migrate_slot(
    cluster: Cluster,
    slot: int,
    source: servers.Server,
    target: servers.Server,
    halfway: Callable[[], None] | None = None,
) -> None:
    """Move ``slot`` the way redis-cli --cluster reshard does, key batch by key batch.

    ``halfway`` runs once the first batch has moved, while the slot is still
    migrating (requests for moved keys are answered with ASK).
    """
    source_id, target_id = cluster.node_id(source), cluster.node_id(target)
    with target.client() as raw:
        raw.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    with source.client() as raw:
        raw.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        while keys := raw.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 5):
            raw.execute_command("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *keys)
            if halfway is not None:
                halfway()
                halfway = None
    for server in cluster.primaries:
        with server.client() as raw:
            raw.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)


SERVICE = "mymaster"


@dataclass
class SentinelSet:
    """A primary, its replica, and three sentinels watching them."""

    primary: servers.Server
    replica: servers.Server
    sentinels: list[servers.Server]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [(s.host, s.port) for s in self.sentinels]

    def current_primary_port(self) -> int:
        with self.sentinels[0].client() as raw:
            _host, port = raw.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(port)

    def data_nodes(self) -> list[servers.Server]:
        return [self.primary, self.replica]

    def stop(self) -> None:
        for server in [*self.sentinels, self.replica, self.primary]:
            server.stop()


def start_sentinels(count: int = 3) -> SentinelSet:
    """A primary + replica watched by ``count`` sentinels (quorum 2), all agreeing."""
    primary = servers.start_server()
    replica = None
    sentinels: list[servers.Server] = []
    try:
        replica = servers.start_replica(primary)
        config = (
            f"sentinel monitor {SERVICE} {primary.host} {primary.port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 3000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        for _ in range(count):
            sentinels.append(servers.start_server(["--sentinel"], config=config))
        found = SentinelSet(primary, replica, sentinels)

        def agreed() -> bool:
            for sentinel in sentinels:
                with sentinel.client() as raw:
                    state = raw.sentinel_master(SERVICE)  # redis-py parses it into a dict
                    if int(state["num-other-sentinels"]) < count - 1:
                        return False
                    if int(state["num-slaves"]) < 1:
                        return False
            return True

        wait_until(agreed, "sentinels to find each other and the replica")
        return found
    except BaseException:
        for server in [*sentinels, *([replica] if replica else []), primary]:
            with contextlib.suppress(Exception):
                server.stop()
        raise


# Shared topologies: started on first use, stopped with every other server at
# the end of the session. Tests that break a topology (failover) start their own.

_shared: dict[str, object] = {}

BACKEND = "django_async_redis.cache.RedisCache"


def shared_cluster() -> Cluster:
    if "cluster" not in _shared:
        _shared["cluster"] = start_cluster()
    cluster = _shared["cluster"]
    assert isinstance(cluster, Cluster)
    return cluster


def shared_sentinels() -> SentinelSet:
    if "sentinel" not in _shared:
        _shared["sentinel"] = start_sentinels()
    found = _shared["sentinel"]
    assert isinstance(found, SentinelSet)
    return found


def shared_shards(count: int = 2) -> list[servers.Server]:
    if "shards" not in _shared:
        _shared["shards"] = [servers.start_server() for _ in range(count)]
    shards = _shared["shards"]
    assert isinstance(shards, list)
    return shards


def cache_settings(topology: str, **options: object) -> dict[str, object]:
    """A CACHES entry for the shared topology of that name."""
    if topology == "cluster":
        location: object = shared_cluster().location
        options = {"CLIENT_CLASS": "django_async_redis.client.ClusterClient", **options}
    elif topology == "sentinel":
        location = f"redis://{SERVICE}/0"
        options = {
            "CLIENT_CLASS": "django_async_redis.client.SentinelClient",
            "SENTINELS": shared_sentinels().addresses,
            **options,
        }
    elif topology == "shard":
        location = [s.url() for s in shared_shards()]
        options = {"CLIENT_CLASS": "django_async_redis.client.ShardClient", **options}
    else:
        raise ValueError(f"unknown topology {topology!r}")
    return {"BACKEND": BACKEND, "LOCATION": location, "OPTIONS": options}


TOPOLOGIES = ("cluster", "sentinel", "shard")
