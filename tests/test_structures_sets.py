"""Sets, sync and async, with members encoded by each serializer, on a real server."""

from __future__ import annotations

import pytest
import redis

from tests.structures_support import MEMBERS, Api, make_cache, mode, run, serializer

__all__ = ["mode", "run", "serializer"]  # fixtures used by name


def test_add_remove_count_membership(run) -> None:
    async def scenario(api: Api) -> None:
        assert await api.sadd("s", *MEMBERS) == len(MEMBERS)
        assert await api.sadd("s", MEMBERS[0], "new") == 1
        assert await api.scard("s") == len(MEMBERS) + 1
        assert await api.smembers("s") == {*MEMBERS, "new"}
        for member in MEMBERS:
            assert await api.sismember("s", member) is True
        assert await api.sismember("s", "absent") is False
        assert await api.smismember("s", "text", "absent", 42) == [True, False, True]
        assert await api.srem("s", "new", "absent") == 1
        assert await api.smembers("missing") == set()
        assert await api.scard("missing") == 0

    run(scenario)


def test_int_and_str_members_stay_apart(run) -> None:
    async def scenario(api: Api) -> None:
        await api.sadd("s", 42, "42")
        assert await api.smembers("s") == {42, "42"}

    run(scenario)


def test_versions_keep_sets_apart(run) -> None:
    async def scenario(api: Api) -> None:
        await api.sadd("s", "v1")
        await api.sadd("s", "v2", version=2)
        assert await api.smembers("s") == {"v1"}
        assert await api.smembers("s", version=2) == {"v2"}

    run(scenario)


def test_combinations(run) -> None:
    async def scenario(api: Api) -> None:
        await api.sadd("a", "x", 1, None)
        await api.sadd("b", 1, "y")
        assert await api.sdiff("a", "b") == {"x", None}
        assert await api.sinter("a", "b") == {1}
        assert await api.sunion("a", "b") == {"x", 1, None, "y"}
        assert await api.sdiffstore("d", "a", "b") == 2
        assert await api.smembers("d") == {"x", None}
        assert await api.sinterstore("i", "a", "b") == 1
        assert await api.smembers("i") == {1}
        assert await api.sunionstore("u", "a", "b") == 4
        assert await api.smembers("u") == {"x", 1, None, "y"}
        # sdiffstore versions the destination and the sources separately.
        await api.sadd("c", "only-v2", version=2)
        assert await api.sdiffstore("d2", "c", version_dest=3, version_keys=2) == 1
        assert await api.smembers("d2", version=3) == {"only-v2"}

    run(scenario)


def test_smove(run) -> None:
    async def scenario(api: Api) -> None:
        await api.sadd("from", "m", 5)
        assert await api.smove("from", "to", "m") is True
        assert await api.smove("from", "to", "absent") is False
        assert await api.smembers("from") == {5}
        assert await api.smembers("to") == {"m"}

    run(scenario)


def test_spop_and_srandmember(run) -> None:
    async def scenario(api: Api) -> None:
        assert await api.spop("empty") is None
        assert await api.srandmember("empty") is None
        assert await api.srandmember("empty", 2) == []
        await api.sadd("s", "a", "b", "c", 4)
        one = await api.srandmember("s")
        assert one in {"a", "b", "c", 4}
        some = await api.srandmember("s", 2)
        assert isinstance(some, list) and len(some) == 2 and set(some) <= {"a", "b", "c", 4}
        assert len(await api.srandmember("s", -6)) == 6  # negative: repeats allowed
        popped = await api.spop("s")
        assert popped in {"a", "b", "c", 4}
        rest = await api.spop("s", 10)
        assert isinstance(rest, set) and rest | {popped} == {"a", "b", "c", 4}
        assert await api.scard("s") == 0

    run(scenario)


def test_sscan_walks_every_page(run) -> None:
    async def scenario(api: Api) -> None:
        members = {f"m{i}" for i in range(300)} | {7, None}
        await api.sadd("big", *members)
        assert await api.sscan("big", count=10) == members
        assert set(await api.collect("sscan_iter", "big", count=25)) == members
        assert await api.sscan("missing") == set()
        assert await api.collect("sscan_iter", "missing") == []

    run(scenario)


def test_sscan_match_uses_the_serialized_form(flushed_redis: redis.Redis, mode: str) -> None:
    # As in django-redis the pattern is serialized like a member, so it is
    # matched against members' stored form: with JSON, "abc" matches the
    # member "abc" (both stored as '"abc"') and nothing else.
    import asyncio

    cache = make_cache("json")
    api = Api(cache, mode)

    async def scenario() -> None:
        await api.sadd("s", "abc", "abd", "x")
        assert await api.sscan("s", match="abc") == {"abc"}
        assert await api.collect("sscan_iter", "s", match="x") == ["x"]

    asyncio.run(scenario())


def test_sscan_match_refused_with_compression(flushed_redis: redis.Redis) -> None:
    cache = make_cache(COMPRESSOR="django_async_redis.compressors.zlib.ZlibCompressor")
    with pytest.raises(ValueError, match="compression"):
        cache.sscan("s", match="a*")
    with pytest.raises(ValueError, match="compression"):
        list(cache.sscan_iter("s", match="a*"))
    assert cache.sscan("s") == set()


def test_keys_are_the_cache_keys(flushed_redis: redis.Redis) -> None:
    cache = make_cache()
    cache.sadd("s", 1)
    assert flushed_redis.smembers("structures:1:s") == {b"1"}
    assert cache.ttl("s") is None
    assert cache.delete("s") is True


def test_wrong_type_raises(flushed_redis: redis.Redis) -> None:
    cache = make_cache()
    cache.set("plain", "value")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        cache.sadd("plain", 1)
