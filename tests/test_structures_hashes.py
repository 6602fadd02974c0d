"""Hashes, sync and async, with values encoded by each serializer, on a real server."""

from __future__ import annotations

import pytest
import redis

from tests.structures_support import MEMBERS, Api, make_cache, mode, run, serializer

__all__ = ["mode", "run", "serializer"]  # fixtures used by name

VALUES = {f"f{i}": value for i, value in enumerate(MEMBERS)} | {"list": [1, "two", None]}


def test_set_get_and_introspect(run) -> None:
    async def scenario(api: Api) -> None:
        assert await api.hset("h", "one", 1) == 1
        assert await api.hset("h", mapping=VALUES) == len(VALUES)
        assert await api.hset("h", "one", "uno", mapping={"f0": "changed"}) == 0
        assert await api.hget("h", "one") == "uno"
        assert await api.hget("h", "f0") == "changed"
        assert await api.hget("h", "absent") is None
        assert await api.hget("missing", "f0") is None
        assert await api.hlen("h") == len(VALUES) + 1
        assert sorted(await api.hkeys("h")) == sorted([*VALUES, "one"])
        assert await api.hexists("h", "list") is True
        assert await api.hexists("h", "absent") is False
        expected = {**VALUES, "one": "uno", "f0": "changed"}
        assert await api.hgetall("h") == expected
        assert sorted(map(repr, await api.hvals("h"))) == sorted(map(repr, expected.values()))
        assert await api.hmget("h", ["one", "absent", "list"]) == ["uno", None, [1, "two", None]]
        assert await api.hgetall("missing") == {}
        assert await api.hkeys("missing") == []

    run(scenario)


def test_none_is_a_value(run) -> None:
    async def scenario(api: Api) -> None:
        assert await api.hset("h", "nothing", None) == 1
        assert await api.hexists("h", "nothing") is True
        assert await api.hgetall("h") == {"nothing": None}

    run(scenario)


def test_delete_setnx_incr(run) -> None:
    async def scenario(api: Api) -> None:
        assert await api.hsetnx("h", "f", "first") is True
        assert await api.hsetnx("h", "f", "second") is False
        assert await api.hget("h", "f") == "first"
        assert await api.hdel("h", "f") == 1
        assert await api.hdel("h", "f") == 0
        assert await api.hincrby("h", "n") == 1
        assert await api.hincrby("h", "n", 41) == 42
        assert await api.hincrby("h", "n", -2) == 40
        # ints are stored as plain digits, so hset'ed ints take HINCRBY too.
        await api.hset("h", "counted", 10)
        assert await api.hincrby("h", "counted", 5) == 15
        assert await api.hget("h", "counted") == 15

    run(scenario)


def test_hset_needs_something_to_set(flushed_redis: redis.Redis) -> None:
    cache = make_cache()
    with pytest.raises(ValueError, match="field"):
        cache.hset("h")
    with pytest.raises(TypeError, match="iterable"):
        cache.hmget("h", "field")


def test_fields_are_stored_as_plain_strings(flushed_redis: redis.Redis) -> None:
    cache = make_cache()
    cache.hset("h", "name", "value")
    assert flushed_redis.hkeys("structures:1:h") == [b"name"]
