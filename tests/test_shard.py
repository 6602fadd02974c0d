"""ShardClient against two independent servers the harness starts.

Keys land where django-redis's ShardClient puts them (written through
django-redis, read through us, and the other way), hash tags keep keys
together, multi-key calls are grouped per shard, and every method works,
the key space and locks included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django_redis.cache import RedisCache as DjangoRedisCache

from django_async_redis.cache import RedisCache
from django_async_redis.ops import Step
from tests import servers, topologies

pytestmark = pytest.mark.topology

SHARD = "django_async_redis.client.ShardClient"


@pytest.fixture
def shards() -> list[servers.Server]:
    return topologies.shared_shards()


@pytest.fixture
def cache(shards: list[servers.Server]) -> Iterator[RedisCache]:
    cache = RedisCache([s.url() for s in shards], {"OPTIONS": {"CLIENT_CLASS": SHARD}})
    cache.clear()
    yield cache
    cache.clear()


def _stored_on(shards: list[servers.Server], redis_key: str) -> list[int]:
    found = []
    for index, server in enumerate(shards):
        with server.client() as raw:
            if raw.exists(redis_key):
                found.append(index)
    return found


# django-redis's own get_many warns about itself on its ShardClient.
@pytest.mark.filterwarnings("ignore:get on sharded client:UserWarning")
def test_keys_land_where_django_redis_puts_them(
    shards: list[servers.Server], cache: RedisCache
) -> None:
    location = ",".join(s.url() for s in shards)
    theirs = DjangoRedisCache(
        location, {"OPTIONS": {"CLIENT_CLASS": "django_redis.client.ShardClient"}}
    )
    ours = RedisCache(location, {"OPTIONS": {"CLIENT_CLASS": SHARD}})
    names = [f"user:{n}" for n in range(200)] + ["{tag}:a", "{tag}:b", "x{a}{b}y"]
    for name in names:
        theirs.set(name, ("theirs", name))
    placements = [_stored_on(shards, ours.make_key(name)) for name in names]
    assert all(len(where) == 1 for where in placements)
    assert {where[0] for where in placements} == {0, 1}  # both servers hold keys
    assert ours.get_many(names) == {name: ("theirs", name) for name in names}
    for name in names:
        ours.set(name, ("ours", name))
    assert [theirs.get(name) for name in names] == [("ours", name) for name in names]
    # Writing through us left no second copy anywhere.
    assert [_stored_on(shards, ours.make_key(name)) for name in names] == placements


def test_hash_tags_keep_keys_together(shards: list[servers.Server], cache: RedisCache) -> None:
    names = [f"{{basket7}}:{part}" for part in ("items", "total", "owner", "coupon")]
    cache.set_many({name: name for name in names})
    where = {tuple(_stored_on(shards, cache.make_key(name))) for name in names}
    assert len(where) == 1


def test_multi_key_calls_are_grouped_per_shard(
    shards: list[servers.Server], cache: RedisCache
) -> None:
    data = {f"k{n}": n for n in range(100)}
    for server in shards:
        with server.client() as raw:
            raw.config_resetstat()
    assert cache.set_many(data, timeout=None) == []  # no expiry: one MSET
    assert cache.get_many(list(data)) == data
    assert asyncio.run(cache.aget_many(list(data))) == data
    for server in shards:
        with server.client() as raw:
            stats = raw.info("commandstats")
        # One MSET and two MGETs per shard, whatever the number of keys.
        assert stats["cmdstat_mset"]["calls"] == 1
        assert stats["cmdstat_mget"]["calls"] == 2
    assert cache.delete_many(list(data)[:60]) == 60
    assert sorted(cache.get_many(list(data))) == sorted(list(data)[60:])


def test_every_method_works_across_shards(cache: RedisCache) -> None:
    cache.set_many({f"page:{n}": n for n in range(50)})
    assert sorted(cache.keys("page:*")) == sorted(f"page:{n}" for n in range(50))
    assert sorted(cache.iter_keys("page:*", itersize=3)) == sorted(f"page:{n}" for n in range(50))

    async def listed() -> list[str]:
        return [key async for key in await cache.aiter_keys("page:1*")]

    assert sorted(asyncio.run(listed())) == sorted(
        ["page:1", *(f"page:{n}" for n in range(10, 20))]
    )
    assert cache.delete_pattern("page:2*") == 11
    assert asyncio.run(cache.adelete_pattern("page:*")) == 39
    cache.set("n", 1)
    assert cache.incr("n", 4) == 5
    cache.set("moving", "value", timeout=50)
    assert cache.incr_version("moving") == 2  # possibly onto the other shard
    assert cache.get("moving", version=2) == "value"
    assert 40 < cache.ttl("moving", version=2) <= 50
    assert cache.touch("n", 100) and cache.expire("n", 80) and 70 < cache.ttl("n") <= 80
    assert cache.persist("n") and cache.ttl("n") is None
    with cache.lock("shard-lock", timeout=5):
        held = cache.client.raw_client(key=cache.make_key("shard-lock").encode())
        assert held.exists(cache.make_key("shard-lock"))

    async def locked() -> None:
        async with cache.alock("ashard-lock", timeout=5):
            pass

    asyncio.run(locked())
    assert cache.clear()
    assert cache.keys("*") == []


def test_spread_keys_in_one_command_are_refused_clearly(cache: RedisCache) -> None:
    one, two = _keys_on_two_shards(cache)
    union = Step(((b"SUNION", one, two),), lambda replies: replies[0], write=False)
    with pytest.raises(redis.ResponseError, match=r"CROSSSLOT.*hash tag"):
        cache.client.execute(union)
    # A script names its keys in arguments no shard can check: refused as well,
    # rather than run on one server with a key that lives on the other.
    script = Step(((b"EVAL", b"return 1", 2, one, two),), lambda replies: replies[0], write=True)
    with pytest.raises(redis.ResponseError, match=r"CROSSSLOT"):
        asyncio.run(cache.client.aexecute(script))


def _keys_on_two_shards(cache: RedisCache) -> tuple[bytes, bytes]:
    client: Any = cache.client
    by_shard: dict[Any, bytes] = {}
    for n in range(100):
        key = cache.make_key(f"spread{n}").encode()
        by_shard.setdefault(client.shard_for(key), key)
        if len(by_shard) == 2:
            one, two = by_shard.values()
            return one, two
    raise AssertionError("every key on one shard")
