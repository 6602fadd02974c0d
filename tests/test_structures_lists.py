"""Lists, sync and async, with values encoded by each serializer, on a real server."""

from __future__ import annotations

import pytest
import redis

from tests.structures_support import MEMBERS, Api, make_cache, mode, run, serializer

__all__ = ["mode", "run", "serializer"]  # fixtures used by name


def test_push_pop_range(run) -> None:
    async def scenario(api: Api) -> None:
        assert await api.rpush("l", *MEMBERS) == len(MEMBERS)
        assert await api.lpush("l", "first", [1, 2]) == len(MEMBERS) + 2
        assert await api.llen("l") == len(MEMBERS) + 2
        assert await api.lrange("l", 0, -1) == [[1, 2], "first", *MEMBERS]
        assert await api.lrange("l", 0, 1) == [[1, 2], "first"]
        assert await api.lindex("l", 2) == MEMBERS[0]
        assert await api.lindex("l", 1000) is None
        assert await api.lpop("l") == [1, 2]
        assert await api.rpop("l") == MEMBERS[-1]
        assert await api.lpop("l", 2) == ["first", MEMBERS[0]]
        assert await api.rpop("l", 2) == MEMBERS[-3:-1][::-1]
        assert await api.lpop("missing") is None
        assert await api.lpop("missing", 3) == []
        assert await api.rpop("missing", 3) == []
        assert await api.llen("missing") == 0

    run(scenario)


def test_edit_in_place(run) -> None:
    async def scenario(api: Api) -> None:
        await api.rpush("l", "a", "b", "a", None, "a")
        assert await api.lset("l", 1, "B") is True
        assert await api.lrem("l", 2, "a") == 2
        assert await api.lrange("l", 0, -1) == ["B", None, "a"]
        assert await api.linsert("l", "BEFORE", None, 7) == 4
        assert await api.linsert("l", "after", "a", "z") == 5
        assert await api.linsert("l", "AFTER", "absent", "z") == -1
        assert await api.linsert("missing", "AFTER", "a", "z") == 0
        assert await api.lrange("l", 0, -1) == ["B", 7, None, "a", "z"]
        assert await api.ltrim("l", 1, 3) is True
        assert await api.lrange("l", 0, -1) == [7, None, "a"]

    run(scenario)


def test_lpos(run) -> None:
    async def scenario(api: Api) -> None:
        await api.rpush("l", "x", 1, "x", None, "x")
        assert await api.lpos("l", "x") == 0
        assert await api.lpos("l", None) == 3
        assert await api.lpos("l", "absent") is None
        assert await api.lpos("l", "x", rank=2) == 2
        assert await api.lpos("l", "x", rank=-1) == 4
        assert await api.lpos("l", "x", count=0) == [0, 2, 4]
        assert await api.lpos("l", "x", count=2, maxlen=2) == [0]
        assert await api.lpos("l", "absent", count=2) == []

    run(scenario)


def test_lset_out_of_range_and_bad_where(flushed_redis: redis.Redis) -> None:
    cache = make_cache()
    cache.rpush("l", 1)
    with pytest.raises(redis.ResponseError):
        cache.lset("l", 5, 2)
    with pytest.raises(ValueError, match="BEFORE"):
        cache.linsert("l", "middle", 1, 2)
