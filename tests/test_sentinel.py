"""SentinelClient against a real primary + replica watched by three sentinels.

Discovery, replica reads, a sentinel that is down, raw clients, and failover
without a restart, sync and async: ``SENTINEL FAILOVER`` (the old primary is
demoted and answers writes with READONLY) and the primary killed outright;
each prints the seconds until service resumed and checks nothing fails after.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest
import redis

from django_async_redis.cache import RedisCache
from tests import servers, topologies

pytestmark = pytest.mark.topology


def sentinel_cache(found: topologies.SentinelSet, **options: Any) -> RedisCache:
    return RedisCache(
        f"redis://{topologies.SERVICE}/0",
        {"OPTIONS": {"SENTINELS": found.addresses, **options}},
    )


def _calls(server: servers.Server, command: str) -> int:
    with server.client() as raw:
        stats = raw.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def test_reads_and_writes_go_to_the_primary_the_sentinels_name() -> None:
    found = topologies.shared_sentinels()
    cache = sentinel_cache(found)
    primary_port = found.current_primary_port()
    for server in found.data_nodes():
        with server.client() as raw:
            raw.config_resetstat()
    cache.set("where", "primary")
    assert cache.get("where") == "primary"
    assert asyncio.run(cache.aget("where")) == "primary"
    by_port = {server.port: server for server in found.data_nodes()}
    assert _calls(by_port[primary_port], "get") == 2
    assert sum(_calls(server, "get") for server in found.data_nodes()) == 2
    assert cache.client.node_for(write=True).port == primary_port
    cache.delete("where")


def test_replica_reads_when_asked() -> None:
    found = topologies.shared_sentinels()
    cache = sentinel_cache(found, READ_FROM_REPLICAS=True)
    cache.set("spread", 1)
    primary_port = found.current_primary_port()
    replica = next(server for server in found.data_nodes() if server.port != primary_port)
    with found.primary.client() as raw:
        raw.execute_command("WAIT", 1, 2000)
    with replica.client() as raw:
        raw.config_resetstat()
    assert [cache.get("spread") for _ in range(10)] == [1] * 10
    assert asyncio.run(_gets(cache, "spread", 10)) == [1] * 10
    assert _calls(replica, "get") == 20
    cache.delete("spread")


async def _gets(cache: RedisCache, key: str, count: int) -> list[Any]:
    return list(await asyncio.gather(*(cache.aget(key) for _ in range(count))))


def test_a_sentinel_that_is_down_is_skipped(extra_servers: list[servers.Server]) -> None:
    found = topologies.shared_sentinels()
    dead_port = servers.free_port()  # nothing listens here
    addresses = [("127.0.0.1", dead_port), *found.addresses]
    cache = RedisCache(f"redis://{topologies.SERVICE}/0", {"OPTIONS": {"SENTINELS": addresses}})
    cache.set("skip", "ok")
    assert asyncio.run(cache.aget("skip")) == "ok"
    # The sentinel that answered is asked first from now on.
    assert cache.client._state.sentinels[0].port != dead_port
    cache.delete("skip")


def test_no_sentinel_knows_the_service() -> None:
    found = topologies.shared_sentinels()
    cache = RedisCache("redis://no-such-service/0", {"OPTIONS": {"SENTINELS": found.addresses}})
    with pytest.raises(redis.ConnectionError, match="No sentinel named a primary for 'no-such"):
        cache.get("k")
    quiet = RedisCache(
        "redis://no-such-service/0",
        {"OPTIONS": {"SENTINELS": found.addresses, "IGNORE_EXCEPTIONS": True}},
    )
    assert asyncio.run(quiet.aget("k", "fallback")) == "fallback"


def test_raw_clients_follow_the_primary() -> None:
    found = topologies.shared_sentinels()
    cache = sentinel_cache(found)
    raw = cache.client.raw_client()
    raw.set("raw-key", b"1")
    assert raw.connection_pool.get_master_address()[1] == found.current_primary_port()

    async def read() -> Any:
        return await cache.client.async_raw_client().get("raw-key")

    assert asyncio.run(read()) == b"1"
    with cache.lock("sentinel-lock", timeout=5):
        assert raw.exists(cache.make_key("sentinel-lock"))
    raw.delete("raw-key")


def _resume_after(action: Any, cache: RedisCache, what: str) -> float:
    action()
    started = time.monotonic()
    attempt = 0
    while time.monotonic() - started < 40:
        attempt += 1
        try:
            if attempt % 2:
                cache.set("probe", attempt)
                ok = cache.get("probe") == attempt
            else:
                ok = asyncio.run(_aset_then_aget(cache, attempt))
            if ok and cache.client.node_for(write=True).port != action.old_port:  # type: ignore[attr-defined]
                seconds = time.monotonic() - started
                print(f"\n{what}: service resumed on the new primary after {seconds:.2f} s")
                return seconds
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what}: service did not resume within 40 s")


async def _aset_then_aget(cache: RedisCache, value: int) -> bool:
    await cache.aset("probe", value)
    return bool(await cache.aget("probe") == value)


def _nothing_fails(cache: RedisCache) -> None:
    data = {f"after-{n}": n for n in range(100)}
    assert cache.set_many(data) == []
    assert cache.get_many(list(data)) == data
    assert asyncio.run(cache.aget_many(list(data))) == data
    for n in range(30):
        cache.set(f"one-{n}", n)
        assert asyncio.run(cache.aget(f"one-{n}")) == n


def test_failover_with_sentinel_failover() -> None:
    found = topologies.start_sentinels()
    try:
        cache = sentinel_cache(found, SOCKET_TIMEOUT=1, SOCKET_CONNECT_TIMEOUT=1)
        cache.set("before", "kept")
        asyncio.run(cache.aset("before-async", "kept"))
        old_port = found.current_primary_port()

        def failover() -> None:
            with found.sentinels[0].client() as raw:
                raw.execute_command("SENTINEL", "FAILOVER", topologies.SERVICE)

        failover.old_port = old_port  # type: ignore[attr-defined]
        _resume_after(failover, cache, "sentinel, SENTINEL FAILOVER")
        assert found.current_primary_port() != old_port
        assert cache.get("before") == "kept"
        assert cache.get("before-async") == "kept"
        _nothing_fails(cache)
    finally:
        found.stop()


def test_failover_when_the_primary_is_killed() -> None:
    found = topologies.start_sentinels()
    try:
        cache = sentinel_cache(found, SOCKET_TIMEOUT=1, SOCKET_CONNECT_TIMEOUT=1)
        cache.set("before", "kept")
        with found.primary.client() as raw:
            raw.execute_command("WAIT", 1, 2000)
        old_port = found.primary.port

        def kill() -> None:
            assert found.primary.process is not None
            os.kill(found.primary.process.pid, signal.SIGKILL)
            found.primary.process.wait(10)
            found.primary.process = None

        kill.old_port = old_port  # type: ignore[attr-defined]
        _resume_after(kill, cache, "sentinel, primary killed")
        assert found.current_primary_port() == found.replica.port
        assert cache.get("before") == "kept"
        _nothing_fails(cache)
    finally:
        found.stop()


def test_sentinels_and_data_nodes_with_passwords() -> None:
    """SENTINEL_KWARGS carries the sentinels' own password, PASSWORD the data nodes'."""
    found = topologies.start_sentinels()
    try:
        for server in found.data_nodes():
            with server.client() as raw:
                raw.config_set("masterauth", "data-secret")
                raw.config_set("requirepass", "data-secret")
        for sentinel in found.sentinels:
            with sentinel.client() as raw:
                raw.execute_command(
                    "SENTINEL", "SET", topologies.SERVICE, "auth-pass", "data-secret"
                )
                raw.execute_command("ACL", "SETUSER", "default", "on", ">sentinel-secret")
        options = {"SENTINELS": found.addresses, "PASSWORD": "data-secret"}
        cache = RedisCache(
            f"redis://{topologies.SERVICE}/0",
            {"OPTIONS": {**options, "SENTINEL_KWARGS": {"password": "sentinel-secret"}}},
        )
        cache.set("k", "v")
        assert asyncio.run(cache.aget("k")) == "v"
        unauthorised = RedisCache(f"redis://{topologies.SERVICE}/0", {"OPTIONS": options})
        with pytest.raises(redis.ConnectionError, match="No sentinel named a primary") as info:
            unauthorised.get("k")
        assert "auth" in str(info.value).lower()
        assert "sentinel-secret" not in str(info.value) and "data-secret" not in str(info.value)
    finally:
        found.stop()
