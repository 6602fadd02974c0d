"""Data structures, the herd and the stampede lock on Cluster, Sentinel and shards.

Multi-key set operations need their keys in one place: with a common {hash tag}
they work everywhere; without one, keys spread over slots (or shards) are
refused with a CROSSSLOT error that names them and suggests the tag.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from django_async_redis.cache import RedisCache
from tests import (
    test_structures_hashes,
    test_structures_lists,
    test_structures_sets,
    test_structures_sorted_sets,
    topologies,
)
from tests.structures_support import SERIALIZERS, Api

pytestmark = pytest.mark.topology


@pytest.fixture(params=["cluster", "sentinel", "shard"])
def topology(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _cache(topology: str, key_function: Any = None, **options: Any) -> RedisCache:
    entry = topologies.cache_settings(topology, **options)
    params: dict[str, Any] = {"KEY_PREFIX": "topo", "OPTIONS": entry["OPTIONS"]}
    if key_function is not None:
        params["KEY_FUNCTION"] = key_function
    cache = RedisCache(entry["LOCATION"], params)
    cache.clear()
    return cache


def one_slot_key(key: str, key_prefix: str, version: int) -> str:
    """Every key under one {hash tag}: the family tests combine sets freely."""
    return f"{{{key_prefix}}}:{version}:{key}"


# The single-server family tests written as ``test_x(run)`` scenarios.
FAMILY_TESTS: list[Callable[..., None]] = [
    test
    for module in (
        test_structures_sets,
        test_structures_hashes,
        test_structures_sorted_sets,
        test_structures_lists,
    )
    for name, test in sorted(vars(module).items())
    if name.startswith("test_") and list(inspect.signature(test).parameters) == ["run"]
]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("test", FAMILY_TESTS, ids=lambda t: f"{t.__module__[6:]}.{t.__name__}")
def test_family_scenarios(test: Callable[..., None], topology: str, mode: str) -> None:
    cache = _cache(topology, one_slot_key, SERIALIZER=SERIALIZERS["msgpack"])
    test(lambda scenario: asyncio.run(scenario(Api(cache, mode))))


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, topology: str) -> Iterator[Api]:
    yield Api(_cache(topology, SERIALIZER=SERIALIZERS["json"]), str(request.param))


def test_every_family(api: Api) -> None:
    async def scenario() -> None:
        assert await api.sadd("s", "a", 1, None) == 3
        assert await api.smembers("s") == {"a", 1, None}
        assert await api.sscan("s") == {"a", 1, None}
        assert sorted(map(str, await api.collect("sscan_iter", "s"))) == ["1", "None", "a"]
        assert await api.hset("h", mapping={"f": [1], "g": "x"}) == 2
        assert await api.hgetall("h") == {"f": [1], "g": "x"}
        assert await api.zadd("z", {"m": 1, "n": 2}) == 2
        assert await api.zrange("z", 0, -1, withscores=True) == [("m", 1.0), ("n", 2.0)]
        assert await api.zpopmax("z") == ("n", 2.0)
        assert await api.rpush("l", "x", "y") == 2
        assert await api.lrange("l", 0, -1) == ["x", "y"]
        assert await api.delete_many(["s", "h", "z", "l", "missing"]) == 4

    asyncio.run(scenario())


def test_multi_key_sets_with_a_hash_tag(api: Api) -> None:
    async def scenario() -> None:
        await api.sadd("{u1}:a", "x", "both")
        await api.sadd("{u1}:b", "y", "both")
        assert await api.sinter("{u1}:a", "{u1}:b") == {"both"}
        assert await api.sunion("{u1}:a", "{u1}:b") == {"x", "y", "both"}
        assert await api.sdiff("{u1}:a", "{u1}:b") == {"x"}
        assert await api.sunionstore("{u1}:u", "{u1}:a", "{u1}:b") == 3
        assert await api.smove("{u1}:a", "{u1}:b", "x") is True
        assert await api.smembers("{u1}:b") == {"x", "y", "both"}

    asyncio.run(scenario())


def test_multi_key_sets_across_nodes_are_refused(api: Api, topology: str) -> None:
    keys = [f"spread{i}" for i in range(12)]

    async def scenario() -> None:
        for key in keys:
            await api.sadd(key, "m")
        if topology == "sentinel":  # one primary holds everything
            assert await api.sinter(*keys) == {"m"}
            return
        for call in (api.sinter(*keys), api.sunionstore("dest", *keys)):
            with pytest.raises(redis.ResponseError, match="CROSSSLOT") as info:
                await call
            assert "spread0" in str(info.value) and "hash tag" in str(info.value)

    asyncio.run(scenario())


def test_big_incr_and_herd_and_lock(topology: str) -> None:
    plain = _cache(topology, STAMPEDE_LOCK=True)
    plain.set("n", 2**63 - 1)
    assert plain.incr("n") == 2**63
    calls = []

    def compute() -> str:
        calls.append(1)
        return "value"

    async def many() -> list[Any]:
        return list(await asyncio.gather(*(plain.aget_or_set("g", compute) for _ in range(100))))

    assert set(asyncio.run(many())) == {"value"}
    assert len(calls) == 1
    herd = _cache(topology, HERD=True)
    herd.set("k", "v", timeout=10)
    assert herd.get("k") == "v"
    assert 69 <= (herd.ttl("k") or 0) <= 70
