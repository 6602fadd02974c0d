"""ClusterClient against a real 3-primary, 3-replica cluster the harness starts.

Routing (keys over every primary, hash tags together, multi-key commands split
per slot), the key space over all primaries, scripts, locks, replica reads,
one multiplexed connection per (loop, node), a slot migrated under load
(MOVED and ASK followed while tasks and threads read and write), and failover
(a primary killed; a manual CLUSTER FAILOVER) with the seconds until service
resumed printed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from django_async_redis.cache import RedisCache
from django_async_redis.ops import Step
from tests import servers, topologies

pytestmark = pytest.mark.topology

CLUSTER = "django_async_redis.client.ClusterClient"


def cluster_cache(cluster: topologies.Cluster, **options: Any) -> RedisCache:
    return RedisCache(cluster.location, {"OPTIONS": {"CLIENT_CLASS": CLUSTER, **options}})


@pytest.fixture
def cluster() -> topologies.Cluster:
    return topologies.shared_cluster()


@pytest.fixture
def cache(cluster: topologies.Cluster) -> Iterator[RedisCache]:
    cache = cluster_cache(cluster)
    cache.clear()
    yield cache
    cache.clear()


def keys_per_primary(cluster: topologies.Cluster) -> list[int]:
    counts = []
    for server in cluster.primaries:
        with server.client() as raw:
            counts.append(int(raw.dbsize()))
    return counts


def test_keys_spread_over_every_primary_and_multi_key_calls_split(
    cluster: topologies.Cluster, cache: RedisCache
) -> None:
    data = {f"key-{n}": n for n in range(300)}
    assert cache.set_many(data) == []
    assert all(count > 50 for count in keys_per_primary(cluster))
    assert cache.get_many(list(data)) == data
    assert cache.get_many(["key-1", "missing", "key-2"]) == {"key-1": 1, "key-2": 2}
    cache.set_many({f"ttl-{n}": n for n in range(30)}, timeout=60)
    assert 0 < cache.ttl("ttl-7") <= 60
    assert cache.delete_many([f"key-{n}" for n in range(100)]) == 100
    assert not cache.has_key("key-5") and cache.has_key("key-150")

    async def scenario() -> None:
        await cache.aset_many({f"a-{n}": n for n in range(100)})
        assert await cache.aget_many([f"a-{n}" for n in range(100)]) == {
            f"a-{n}": n for n in range(100)
        }
        values = await asyncio.gather(*(cache.aget(f"key-{n}") for n in range(100, 300)))
        assert values == list(range(100, 300))

    asyncio.run(scenario())


def test_hash_tagged_keys_land_together(cache: RedisCache) -> None:
    made = [cache.make_key(f"{{user42}}:{part}").encode() for part in ("cart", "wishlist", "x")]
    assert len({key_slot(key) for key in made}) == 1
    cache.set_many({"{user42}:cart": [1], "{user42}:wishlist": [2]})
    owner = cache.client.slot_map.node(key_slot(made[0]), write=True)
    with redis.Redis(host=owner.host, port=owner.port) as raw:
        assert raw.exists(made[0], made[1]) == 2


def test_key_space_operations_cover_every_primary(
    cluster: topologies.Cluster, cache: RedisCache
) -> None:
    cache.set_many({f"page:{n}": n for n in range(120)})
    cache.set_many({f"other:{n}": n for n in range(10)})
    assert sorted(cache.keys("page:*")) == sorted(f"page:{n}" for n in range(120))
    assert sorted(cache.iter_keys("page:*", itersize=7)) == sorted(f"page:{n}" for n in range(120))

    async def listed() -> tuple[list[str], list[str]]:
        direct = [key async for key in cache.aiter_keys("other:*")]
        awaited = [key async for key in await cache.aiter_keys("other:*")]  # the seed's spelling
        return direct, awaited

    direct, awaited = asyncio.run(listed())
    assert sorted(direct) == sorted(awaited) == sorted(f"other:{n}" for n in range(10))
    assert cache.delete_pattern("page:1*", itersize=5) == 31  # 1, 10-19, 100-119
    assert asyncio.run(cache.adelete_pattern("page:*")) == 89
    assert len(cache.keys("*")) == 10
    assert cache.clear() is True
    assert keys_per_primary(cluster) == [0, 0, 0]


def test_scripts_versions_and_counters_run_on_the_keys_node(cache: RedisCache) -> None:
    cache.set("counter", 10)
    assert cache.incr("counter", 5) == 15
    assert asyncio.run(cache.adecr("counter", 3)) == 12
    with pytest.raises(ValueError, match="not found"):
        cache.incr("nope")
    # Versions 1 and 2 of a key sit in different slots: RENAME cannot move it, a copy does.
    cache.set("versioned", {"v": 1}, timeout=100)
    assert key_slot(cache.make_key("versioned").encode()) != key_slot(
        cache.make_key("versioned", version=2).encode()
    )
    assert cache.incr_version("versioned") == 2
    assert cache.get("versioned") is None
    assert cache.get("versioned", version=2) == {"v": 1}
    assert 90 < cache.ttl("versioned", version=2) <= 100
    assert asyncio.run(cache.adecr_version("versioned", version=2)) == 1
    assert cache.get("versioned") == {"v": 1}


def test_commands_that_cannot_be_split_answer_crossslot(cache: RedisCache) -> None:
    one, two = b":1:alpha", b":1:beta"
    assert key_slot(one) != key_slot(two)
    # A user's Lua over keys of two slots: the server's own CROSSSLOT, unchanged.
    script = Step(((b"EVAL", b"return 1", 2, one, two),), lambda replies: replies[0], write=True)
    with pytest.raises(redis.ResponseError, match=r"^CROSSSLOT"):
        cache.client.execute(script)
    # A known multi-key command: refused before it is sent, naming the keys.
    union = Step(((b"SUNION", one, two),), lambda replies: replies[0], write=False)
    with pytest.raises(redis.ResponseError, match=r"CROSSSLOT.*alpha.*beta.*hash tag"):
        asyncio.run(cache.client.aexecute(union))


def test_locks_work_on_cluster(cache: RedisCache) -> None:
    with cache.lock("job", timeout=5):
        assert cache.client.raw_client().exists(cache.make_key("job"))
        assert not cache.lock("job", blocking=False).acquire()

    async def locked() -> bool:
        async with cache.alock("ajob", timeout=5):
            return bool(await cache.client.async_raw_client().exists(cache.make_key("ajob")))

    assert asyncio.run(locked())


def test_replica_reads_go_to_replicas(cluster: topologies.Cluster) -> None:
    cache = cluster_cache(cluster, READ_FROM_REPLICAS=True)
    cache.set_many({f"r{n}": n for n in range(60)})
    for server in cluster.primaries:
        with server.client() as raw:
            raw.execute_command("WAIT", 1, 2000)  # the replicas have the writes above
    for server in cluster.all:
        with server.client() as raw:
            raw.config_resetstat()
    values = [cache.get(f"r{n}") for n in range(60)]
    values += asyncio.run(_gather_gets(cache, [f"r{n}" for n in range(60)]))
    assert values == list(range(60)) * 2
    replica_gets = sum(_calls(server, "get") for server in cluster.replicas)
    primary_gets = sum(_calls(server, "get") for server in cluster.primaries)
    assert replica_gets == 120 and primary_gets == 0
    cache.clear()


async def _gather_gets(cache: RedisCache, keys: list[str]) -> list[Any]:
    return list(await asyncio.gather(*(cache.aget(key) for key in keys)))


def _calls(server: servers.Server, command: str) -> int:
    with server.client() as raw:
        stats = raw.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def test_one_multiplexed_connection_per_loop_and_node(cluster: topologies.Cluster) -> None:
    cache = cluster_cache(cluster, CONNECTION_POOL_KWARGS={"client_name": "burst-test"})
    cache.set_many({f"b{n}": n for n in range(200)})
    seen: list[list[int]] = []

    async def burst() -> list[Any]:
        results = await asyncio.gather(*(cache.aget(f"b{n % 200}") for n in range(2000)))
        seen.append([_named_connections(server, "burst-test") for server in cluster.primaries])
        return list(results)

    assert asyncio.run(burst()) == [n % 200 for n in range(2000)]
    # The sync set_many above left one pooled connection per primary as well.
    assert seen == [[2, 2, 2]]
    cache.clear()


def _named_connections(server: servers.Server, name: str) -> int:
    return sum(1 for entry in server.client_list() if entry.get("name") == name)


def test_slot_migration_under_load_follows_moved_and_ask(cluster: topologies.Cluster) -> None:
    cache = cluster_cache(cluster)
    names = [f"{{migrating}}:{n}" for n in range(40)]
    slot = key_slot(cache.make_key(names[0]).encode())
    for name in names:
        cache.set(name, (name, 0))
    source = cluster.owner_of(slot)
    target = next(server for server in cluster.primaries if server is not source)
    errors: list[BaseException] = []
    wrong: list[Any] = []
    done = threading.Event()
    counts = {"async": 0, "sync": 0}

    async def task(name: str) -> None:
        version = 0
        while not done.is_set():
            version += 1
            await cache.aset(name, (name, version))
            value = await cache.aget(name)
            if value != (name, version):
                wrong.append((name, version, value))
            counts["async"] += 1

    def async_load() -> None:
        async def main() -> None:
            await asyncio.gather(*(task(name) for name in names[:30]))

        try:
            asyncio.run(main())
        except BaseException as error:
            errors.append(error)

    def sync_load() -> None:
        version = 0
        try:
            while not done.is_set():
                version += 1
                for name in names[30:]:
                    cache.set(name, (name, version))
                    if cache.get(name) != (name, version):
                        wrong.append((name, version))
                counts["sync"] += 1
        except BaseException as error:
            errors.append(error)

    with target.client() as raw:
        raw.config_resetstat()
    threads = [threading.Thread(target=async_load), threading.Thread(target=sync_load)]
    for thread in threads:
        thread.start()
    try:
        # Conditions, not sleeps: the load is under way before the move, meets
        # an ASK while the slot is half moved, and goes on after it.
        _wait_until(lambda: counts["async"] > 100 and counts["sync"] > 10, "load under way")
        asked = lambda: _calls(target, "asking") > 0  # noqa: E731
        topologies.migrate_slot(
            cluster, slot, source, target, halfway=lambda: _wait_until(asked, "ASK")
        )
        moved = dict(counts)
        _wait_until(
            lambda: counts["async"] > moved["async"] + 100 and counts["sync"] > moved["sync"] + 10,
            "load after the move",
        )
    finally:
        done.set()
        for thread in threads:
            thread.join(30)
    assert errors == [] and wrong == []
    assert counts["async"] > 100 and counts["sync"] > 10
    assert cluster.owner_of(slot) is target
    assert _calls(target, "asking") > 0  # ASK redirections were met and followed
    assert cache.client.slot_map.node(slot, write=True).port == target.port
    assert [cache.get(name)[0] for name in names] == names
    cache.clear()


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60  # against a hang only
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


def _resume_after(action: Any, cache: RedisCache, key: str, what: str) -> float:
    """Run ``action``, then the seconds until a set+get of ``key`` works again."""
    action()
    started = time.monotonic()
    deadline = started + 30
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        try:
            if attempt % 2:
                cache.set(key, attempt)
                ok = cache.get(key) == attempt
            else:
                ok = asyncio.run(_aset_then_aget(cache, key, attempt))
            if ok:
                seconds = time.monotonic() - started
                print(f"\n{what}: service resumed after {seconds:.2f} s")
                return seconds
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
            time.sleep(0.05)
    raise AssertionError(f"{what}: service did not resume within 30 s")


async def _aset_then_aget(cache: RedisCache, key: str, value: int) -> bool:
    await cache.aset(key, value)
    return bool(await cache.aget(key) == value)


def _nothing_fails(cache: RedisCache) -> None:
    data = {f"after-{n}": n for n in range(200)}
    cache.set_many(data)
    assert cache.get_many(list(data)) == data
    assert asyncio.run(cache.aget_many(list(data))) == data
    for n in range(50):
        assert cache.get(f"after-{n}") == n


def test_failover_when_a_primary_is_killed() -> None:
    cluster = topologies.start_cluster()
    try:
        cache = cluster_cache(cluster, SOCKET_TIMEOUT=1, SOCKET_CONNECT_TIMEOUT=1)
        victim = cluster.primaries[0]
        key = next(
            f"k{n}" for n in range(1000) if cluster.owner_of(_slot(cache, f"k{n}")) is victim
        )
        cache.set_many({f"before-{n}": n for n in range(100)})
        for server in cluster.primaries:
            with server.client() as raw:
                raw.execute_command("WAIT", 1, 2000)
        replica = cluster.replica_of(victim)

        def kill() -> None:
            assert victim.process is not None
            os.kill(victim.process.pid, signal.SIGKILL)
            victim.process.wait(10)
            victim.process = None

        _resume_after(kill, cache, key, "cluster, primary killed")
        assert cluster.owner_of(_slot(cache, key)) is replica
        assert cache.get_many([f"before-{n}" for n in range(100)]) == {
            f"before-{n}": n for n in range(100)
        }
        _nothing_fails(cache)
    finally:
        cluster.stop()


def test_manual_failover() -> None:
    cluster = topologies.start_cluster()
    try:
        cache = cluster_cache(cluster)
        primary = cluster.primaries[1]
        key = next(
            f"m{n}" for n in range(1000) if cluster.owner_of(_slot(cache, f"m{n}")) is primary
        )
        cache.set(key, "before")
        replica = cluster.replica_of(primary)

        def failover() -> None:
            with replica.client() as raw:
                raw.execute_command("CLUSTER", "FAILOVER")
            topologies.wait_until(
                lambda: cluster.owner_of(_slot(cache, key)) is replica, "promotion"
            )

        _resume_after(failover, cache, key, "cluster, manual CLUSTER FAILOVER")
        _nothing_fails(cache)
    finally:
        cluster.stop()


def _slot(cache: RedisCache, name: str) -> int:
    return key_slot(cache.make_key(name).encode())


def test_a_dead_shard_fails_fast_and_the_others_keep_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A shard with no node left: its keys answer the default at once, others as usual.

    "At once" is counted, not timed: of the errors IGNORE_EXCEPTIONS logs, all
    after the first call's are CircuitOpen (refused unsent). The cooldown
    outlasts the run, so the breaker cannot half-open mid-count.
    """
    cluster = topologies.start_cluster()
    try:
        cache = cluster_cache(
            cluster, SOCKET_TIMEOUT=0.5, IGNORE_EXCEPTIONS=True, LOG_IGNORED_EXCEPTIONS=True,
            BREAKER_COOLDOWN=3600,
        )  # fmt: skip
        victim = cluster.primaries[0]
        names = [f"d{n}" for n in range(300)]
        cache.set_many({name: name for name in names})
        dead = [n for n in names if cluster.owner_of(_slot(cache, n)) is victim]
        alive = [n for n in names if n not in dead]
        assert dead and alive
        for server in (cluster.replica_of(victim), victim):
            assert server.process is not None
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(10)
            server.process = None
        started = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="django_async_redis"):
            answers = [cache.get(name, "default") for name in dead[:30]]
            answers += asyncio.run(_gather_gets_default(cache, dead[:30]))
        seconds = time.monotonic() - started
        print(f"\ncluster, a dead shard: 60 calls to its keys answered in {seconds:.2f} s")
        assert answers == ["default"] * 60
        errors = [
            type(record.exc_info[1]).__name__
            for record in caplog.records
            if record.getMessage() == "Exception ignored" and record.exc_info
        ]
        # The first call's own attempts (its retries) open the breaker; the
        # 59 after it, sync and async, were refused without being sent.
        assert len(errors) == 60 and errors[1:] == ["CircuitOpen"] * 59, errors
        assert cache.get_many(alive) == {name: name for name in alive}
        assert asyncio.run(cache.aget_many(alive[:50])) == {name: name for name in alive[:50]}
    finally:
        cluster.stop()


async def _gather_gets_default(cache: RedisCache, keys: list[str]) -> list[Any]:
    return list(await asyncio.gather(*(cache.aget(key, "default") for key in keys)))
