"""The client cache on every topology: Django's suites, other writers, failover, slot moves.

Cluster (3 primaries, 3 replicas), Sentinel (primary, replica, 3 sentinels),
two shards and a primary with a replica, all real servers started by the
harness. A tracking connection per node the client may read from carries the
invalidations; what a topology change could leave stale is flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import pytest
import redis
from django.core.cache import caches
from django.test import SimpleTestCase, override_settings
from sessions_tests import tests as django_session_tests

from django_async_redis.cache import RedisCache
from django_async_redis.client.slots import key_slot
from django_async_redis.sessions import SessionStore
from tests import servers, topologies
from tests import test_django_cache_suite as sync_suite
from tests import test_django_cache_suite_async as async_suite
from tests.client_cache_support import tier_of, wait_until
from tests.test_client_cache_suites import SessionsWithClientCache, WithClientCache

pytestmark = pytest.mark.topology


# Django's suites --------------------------------------------------------------------


class ClusterClientCacheSuiteTests(WithClientCache, sync_suite.DjangoCacheSuiteTests):
    topology = "cluster"


class SentinelClientCacheSuiteTests(WithClientCache, sync_suite.DjangoCacheSuiteTests):
    topology = "sentinel"


class ShardClientCacheSuiteTests(WithClientCache, sync_suite.DjangoCacheSuiteTests):
    topology = "shard"


class ClusterClientCacheAsyncSuiteTests(
    WithClientCache, async_suite.AsyncMirrorOfDjangoCacheSuiteTests
):
    topology = "cluster"


class SentinelClientCacheAsyncSuiteTests(
    WithClientCache, async_suite.AsyncMirrorOfDjangoCacheSuiteTests
):
    topology = "sentinel"


class ShardClientCacheAsyncSuiteTests(
    WithClientCache, async_suite.AsyncMirrorOfDjangoCacheSuiteTests
):
    topology = "shard"


class ClusterClientCacheSessionTests(
    SessionsWithClientCache, django_session_tests.SessionTestsMixin, SimpleTestCase
):
    topology = "cluster"
    backend = SessionStore


class SentinelClientCacheSessionTests(
    SessionsWithClientCache, django_session_tests.SessionTestsMixin, SimpleTestCase
):
    topology = "sentinel"
    backend = SessionStore


class ShardClientCacheSessionTests(
    SessionsWithClientCache, django_session_tests.SessionTestsMixin, SimpleTestCase
):
    topology = "shard"
    backend = SessionStore


# other writers ------------------------------------------------------------------------


def _writers(topology: str) -> list[redis.Redis]:
    """Raw clients that can write any key of the topology (one per shard)."""
    if topology == "cluster":
        return [topologies.shared_cluster().raw()]  # type: ignore[list-item]
    if topology == "sentinel":
        found = topologies.shared_sentinels()
        port = found.current_primary_port()
        primary = next(s for s in found.data_nodes() if s.port == port)
        return [primary.client()]
    return [server.client() for server in topologies.shared_shards()]


@pytest.mark.parametrize("topology", topologies.TOPOLOGIES)
def test_other_writers_reach_us_from_every_node(topology: str) -> None:
    entry = {**topologies.cache_settings(topology, CLIENT_CACHE=True), "KEY_PREFIX": "cct"}
    with override_settings(CACHES={"default": entry}):
        cache = caches["default"]
        names = [f"k{n}" for n in range(40)]
        cache.set_many({name: 0 for name in names}, timeout=300)
        assert cache.get_many(names) == {name: 0 for name in names}
        assert cache.get_many(names) == {name: 0 for name in names}  # local now
        tier = tier_of(cache)
        assert tier.stats()["tracking_connections"] == len(cache.client.serving_nodes())
        writers = _writers(topology)
        for name in names:
            key = cache.make_key(name)
            writer = writers[0]
            if topology == "shard":  # the shard that holds it
                client: Any = cache.client
                node = client.node(client.groups([key.encode()])[0], True)
                port = node.port
                writer = next(
                    w for w in writers if w.connection_pool.connection_kwargs["port"] == port
                )
            writer.set(key, b"1")
        wait_until(
            lambda: cache.get_many(names) == {name: 1 for name in names},
            "every node's invalidations",
        )

        async def read() -> dict[str, Any]:
            return await cache.aget_many(names)

        assert asyncio.run(read()) == {name: 1 for name in names}
        cache.delete_many(names)
        for writer in writers:
            writer.close()


def test_replica_reads_are_tracked_on_the_replica(
    extra_servers: list[servers.Server],
) -> None:
    primary = servers.start_server()
    extra_servers.append(primary)
    replica = servers.start_replica(primary)
    extra_servers.append(replica)
    cache = RedisCache(
        [primary.url(), replica.url()],
        {"KEY_PREFIX": "rep", "OPTIONS": {"CLIENT_CACHE": True, "READ_FROM_REPLICAS": True}},
    )
    cache.set("k", 1)
    with primary.client() as raw:
        raw.execute_command("WAIT", 1, 5000)
    wait_until(lambda: cache.get("k") == 1, "the replica has the value")
    assert cache.get("k") == 1
    assert tier_of(cache).stats()["tracking_connections"] == 2
    with primary.client() as raw:
        raw.set(cache.make_key("k"), b"2")
    # The replica applies the write, then tells its tracking connection.
    wait_until(lambda: cache.get("k") == 2, "the write, through the replica's invalidation")


# topology changes -----------------------------------------------------------------------


def test_no_stale_read_across_a_sentinel_failover() -> None:
    found = topologies.start_sentinels()
    try:
        cache = RedisCache(
            f"redis://{topologies.SERVICE}/0",
            {
                "KEY_PREFIX": "fo",
                "OPTIONS": {
                    "SENTINELS": found.addresses,
                    "CLIENT_CACHE": True,
                    "SOCKET_TIMEOUT": 1,
                    "SOCKET_CONNECT_TIMEOUT": 1,
                },
            },
        )
        cache.set("k", "before")
        assert cache.get("k") == "before" and cache.get("k") == "before"
        old_port = found.current_primary_port()
        with found.sentinels[0].client() as raw:
            raw.execute_command("SENTINEL", "FAILOVER", topologies.SERVICE)
        wait_until(lambda: found.current_primary_port() != old_port, "the failover")
        new_primary = next(s for s in found.data_nodes() if s.port != old_port)
        wait_until(lambda: _writable(new_primary), "the new primary takes writes")
        with new_primary.client() as raw:
            raw.set(cache.make_key("k"), b"7")  # written where the old tracker is not
        wait_until(lambda: _answers(cache, "k") == 7, "the new primary's value")
        assert cache.client.node_for(write=True).port == new_primary.port
        cache.set("k", "after")
        assert cache.get("k") == "after" and cache.get("k") == "after"
        with new_primary.client() as raw:
            raw.set(cache.make_key("k"), b"8")
        wait_until(lambda: _answers(cache, "k") == 8, "invalidations from the new primary")
    finally:
        found.stop()


def _writable(server: servers.Server) -> bool:
    with server.client() as raw:
        return bool(raw.info("replication")["role"] == "master")


def _answers(cache: RedisCache, name: str) -> Any:
    try:
        return cache.get(name)
    except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
        return None


def test_no_stale_read_across_a_slot_migration_under_load() -> None:
    cluster = topologies.shared_cluster()
    entry = topologies.cache_settings("cluster", CLIENT_CACHE=True)
    cache = RedisCache(entry["LOCATION"], {"KEY_PREFIX": "mig", "OPTIONS": entry["OPTIONS"]})
    names = [f"{{moving}}:{n}" for n in range(20)]
    keys = [cache.make_key(name) for name in names]
    slot = key_slot(keys[0].encode())
    cache.set_many({name: 0 for name in names}, timeout=300)
    source = cluster.owner_of(slot)
    target = next(server for server in cluster.primaries if server is not source)
    # A version per key only ever rises; once a reader has seen a version, no
    # reader (thread or task) may see an older one (the floor).
    floor = dict.fromkeys(names, 0)
    regressions: list[tuple[str, int, int]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def write_versions() -> None:
        raw = cluster.raw()
        version = 0
        try:
            while not done.is_set():
                version += 1
                for key in keys:
                    raw.set(key, str(version).encode())
        except BaseException as error:
            errors.append(error)
        finally:
            raw.close()

    def check(name: str, before: int, seen: Any) -> None:
        """``before``: the floor when the read began (a reader that raised it later is no fault)."""
        if seen is None:
            return
        if seen < before:
            regressions.append((name, seen, before))
        floor[name] = max(floor[name], seen)

    def read_sync() -> None:
        try:
            while not done.is_set():
                for name in names:
                    before = floor[name]
                    check(name, before, _answers(cache, name))
        except BaseException as error:
            errors.append(error)

    def read_async() -> None:
        async def main() -> None:
            while not done.is_set():
                for name in names:
                    before = floor[name]
                    with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                        check(name, before, await cache.aget(name))

        try:
            asyncio.run(main())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=f) for f in (write_versions, read_sync, read_async)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: min(floor.values()) > 2, "load under way")
        topologies.migrate_slot(cluster, slot, source, target)
        moved = min(floor.values())
        wait_until(lambda: min(floor.values()) > moved + 2, "load after the move")
    finally:
        done.set()
        for thread in threads:
            thread.join(30)
    assert errors == [] and regressions == []
    assert cluster.owner_of(slot) is target
    with target.client() as raw:
        final = {name: int(raw.get(key)) for name, key in zip(names, keys, strict=True)}
    wait_until(lambda: cache.get_many(names) == final, "the last versions")
    cache.delete_many(names)
