"""Sorted sets, sync and async, with members encoded by each serializer, on a real server."""

from __future__ import annotations

import pytest
import redis

from tests.structures_support import Api, make_cache, mode, run, serializer

__all__ = ["mode", "run", "serializer"]  # fixtures used by name

SCORES = {"a": 1.0, 2: 2.0, None: 3.5, "d": 4.0, "héllo": 10.0}


def test_add_count_score(run) -> None:
    async def scenario(api: Api) -> None:
        assert await api.zadd("z", SCORES) == len(SCORES)
        assert await api.zadd("z", {"a": 1.0}) == 0
        assert await api.zcard("z") == len(SCORES)
        assert await api.zcount("z", 2, 4) == 3
        assert await api.zcount("z", "(2", "+inf") == 3
        assert await api.zscore("z", None) == 3.5
        assert await api.zscore("z", 2) == 2.0
        assert await api.zscore("z", "absent") is None
        assert await api.zmscore("z", "a", "absent", "d") == [1.0, None, 4.0]
        assert await api.zincrby("z", 0.5, "a") == 1.5
        assert await api.zincrby("z", 2, "new") == 2.0

    run(scenario)


def test_zadd_flags(run) -> None:
    async def scenario(api: Api) -> None:
        await api.zadd("z", {"m": 5})
        assert await api.zadd("z", {"m": 9, "n": 1}, nx=True) == 1
        assert await api.zscore("z", "m") == 5.0
        assert await api.zadd("z", {"m": 9, "o": 1}, xx=True) == 0
        assert await api.zscore("z", "m") == 9.0
        assert await api.zscore("z", "o") is None
        assert await api.zadd("z", {"m": 10}, ch=True) == 1
        assert await api.zadd("z", {"m": 3}, gt=True, ch=True) == 0
        assert await api.zadd("z", {"m": 3}, lt=True, ch=True) == 1
        assert await api.zadd("z", {"m": 2}, incr=True) == 5.0
        assert await api.zadd("z", {"m": 2}, incr=True, nx=True) is None

    run(scenario)


def test_ranges(run) -> None:
    async def scenario(api: Api) -> None:
        await api.zadd("z", SCORES)
        ordered = ["a", 2, None, "d", "héllo"]
        assert await api.zrange("z", 0, -1) == ordered
        assert await api.zrange("z", 0, 1, desc=True) == ["héllo", "d"]
        assert await api.zrange("z", 0, 0, withscores=True) == [("a", 1.0)]
        assert await api.zrange("z", 0, 0, withscores=True, score_cast_func=int) == [("a", 1)]
        assert await api.zrevrange("z", 0, -1) == ordered[::-1]
        assert await api.zrevrange("z", 0, 0, withscores=True) == [("héllo", 10.0)]
        assert await api.zrangebyscore("z", 2, 4) == [2, None, "d"]
        assert await api.zrangebyscore("z", "-inf", "+inf", start=1, num=2) == [2, None]
        assert await api.zrangebyscore("z", 3, 4, withscores=True) == [(None, 3.5), ("d", 4.0)]
        assert await api.zrevrangebyscore("z", 4, 2) == ["d", None, 2]
        assert await api.zrevrangebyscore("z", "+inf", 0, start=0, num=1) == ["héllo"]
        assert await api.zrange("missing", 0, -1) == []

    run(scenario)


def test_rank_remove_pop(run) -> None:
    async def scenario(api: Api) -> None:
        await api.zadd("z", SCORES)
        assert await api.zrank("z", "a") == 0
        assert await api.zrank("z", None) == 2
        assert await api.zrevrank("z", "a") == 4
        assert await api.zrank("z", "absent") is None
        assert await api.zrem("z", "a", "absent") == 1
        assert await api.zremrangebyscore("z", 2, 3.5) == 2
        assert await api.zrange("z", 0, -1) == ["d", "héllo"]
        await api.zadd("z", {"low": -1})
        assert await api.zpopmin("z") == ("low", -1.0)
        assert await api.zpopmax("z") == ("héllo", 10.0)
        await api.zadd("z", {"x": 7, "y": 8})
        assert await api.zpopmax("z", 2) == [("y", 8.0), ("x", 7.0)]
        assert await api.zpopmin("z", 5) == [("d", 4.0)]
        assert await api.zpopmin("z") is None
        assert await api.zpopmax("z", 3) == []

    run(scenario)


def test_rank_withscore(flushed_redis: redis.Redis, redis_server, mode: str) -> None:
    import asyncio

    major, minor = (int(part) for part in redis_server.version.split(".")[:2])
    if redis_server.kind == "redis" and (major, minor) < (7, 2):
        pytest.skip("ZRANK WITHSCORE needs Redis 7.2 or Valkey 8")
    api = Api(make_cache(), mode)

    async def scenario() -> None:
        await api.zadd("z", {"a": 1, "b": 2.5})
        assert await api.zrank("z", "b", withscore=True) == [1, 2.5]
        assert await api.zrevrank("z", "b", withscore=True) == [0, 2.5]
        assert await api.zrank("z", "absent", withscore=True) is None

    asyncio.run(scenario())


def test_int_members_are_serialized(flushed_redis: redis.Redis) -> None:
    # django-redis serializes sorted-set members, ints included.
    cache = make_cache()
    cache.zadd("z", {5: 1})
    (stored,) = flushed_redis.zrange("structures:1:z", 0, -1)
    assert stored != b"5"
    assert cache.zrange("z", 0, -1) == [5]


def test_bad_arguments() -> None:
    cache = make_cache()
    with pytest.raises(ValueError):
        cache.zadd("z", {"a": 1}, nx=True, xx=True)
    with pytest.raises(ValueError):
        cache.zadd("z", {"a": 1, "b": 2}, incr=True)
    with pytest.raises(ValueError):
        cache.zrangebyscore("z", 0, 1, start=0)
