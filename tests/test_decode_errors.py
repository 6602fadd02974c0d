"""Bytes that cannot be read back: a clear DecodeError naming the key, or a logged miss.

Garbage under a key, a value another serializer wrote, a truncated compressed
stream: each read raises DecodeError (the serializer's or compressor's own
exception as ``__cause__``) naming the Redis key and what failed, or, with
OPTIONS["ON_DECODE_ERROR"] = "miss", logs a warning naming the key and answers
as if the key were absent. The reply was read in full before decoding, so the
connection stays in step: every test makes a follow-up call on it.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from django_async_redis.cache import RedisCache
from django_async_redis.exceptions import DecodeError
from tests import servers

GARBAGE = b"\x80\x05garbage that is no pickle"
ZLIB = "django_async_redis.compressors.zlib.ZlibCompressor"
JSON = "django_async_redis.serializers.json.JSONSerializer"


@pytest.fixture
def make_cache(
    redis_server: servers.Server, flushed_redis: redis.Redis
) -> Iterator[Callable[..., RedisCache]]:
    made: list[RedisCache] = []

    def make(**options: Any) -> RedisCache:
        cache = RedisCache(redis_server.url(), {"OPTIONS": options})
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.close()


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def call(api: str, cache: RedisCache, name: str, *args: Any, **kwargs: Any) -> Any:
    """``cache.name(...)`` or ``asyncio.run(cache.aname(...))``: one test, both APIs."""
    if api == "sync":
        return getattr(cache, name)(*args, **kwargs)
    return asyncio.run(getattr(cache, "a" + name)(*args, **kwargs))


def rkey(cache: RedisCache, key: str) -> str:
    return cache.make_key(key)


def still_in_step(api: str, cache: RedisCache) -> None:
    """The connection that carried the bad value still answers correctly."""
    call(api, cache, "set", "after", {"fine": True})
    assert call(api, cache, "get", "after") == {"fine": True}


# ---------------------------------------------------------------- plain values


def test_garbage_raises_naming_the_key_and_the_serializer(
    api: str, make_cache: Callable[..., RedisCache], flushed_redis: redis.Redis
) -> None:
    cache = make_cache()
    flushed_redis.set(rkey(cache, "bad"), GARBAGE)
    with pytest.raises(DecodeError) as caught:
        call(api, cache, "get", "bad")
    message = str(caught.value)
    assert rkey(cache, "bad") in message and "PickleSerializer" in message
    assert isinstance(caught.value.__cause__, pickle.UnpicklingError)
    assert caught.value.keys == [rkey(cache, "bad").encode()]
    # Only our own frames: the error is raised by the codec, not pickle deep down.
    assert isinstance(caught.value, ValueError)
    still_in_step(api, cache)


def test_a_value_written_by_another_serializer(
    api: str, make_cache: Callable[..., RedisCache]
) -> None:
    writer, reader = make_cache(SERIALIZER=JSON), make_cache()
    writer.set("k", {"written": "as json"})
    with pytest.raises(DecodeError, match=r"PickleSerializer\.loads failed") as caught:
        call(api, reader, "get", "k")
    assert rkey(reader, "k") in str(caught.value)
    still_in_step(api, reader)


def test_a_truncated_compressed_value_names_compressor_and_serializer(
    api: str, make_cache: Callable[..., RedisCache], flushed_redis: redis.Redis
) -> None:
    cache = make_cache(COMPRESSOR=ZLIB)
    cache.set("big", "x" * 10_000)
    stored = flushed_redis.get(rkey(cache, "big"))
    assert stored is not None and zlib.decompress(stored)  # really compressed
    flushed_redis.set(rkey(cache, "big"), stored[: len(stored) // 2])
    with pytest.raises(DecodeError) as caught:
        call(api, cache, "get", "big")
    message = str(caught.value)
    assert "ZlibCompressor" in message and "PickleSerializer" in message, message
    assert rkey(cache, "big") in message
    still_in_step(api, cache)


def test_json_garbage_and_bad_utf8(api: str, make_cache: Callable[..., RedisCache]) -> None:
    cache = make_cache(SERIALIZER=JSON)
    raw = cache.client.raw_client()
    raw.set(rkey(cache, "text"), b"{not json")
    raw.set(rkey(cache, "bytes"), b"\xff\xfe")
    for key in ("text", "bytes"):
        with pytest.raises(DecodeError, match=r"JSONSerializer\.loads failed"):
            call(api, cache, "get", key)
    still_in_step(api, cache)


def test_get_many_names_only_the_bad_keys(
    api: str, make_cache: Callable[..., RedisCache], flushed_redis: redis.Redis
) -> None:
    cache = make_cache()
    cache.set_many({"a": 1, "b": "two", "d": [4]})
    flushed_redis.set(rkey(cache, "c"), GARBAGE)
    flushed_redis.set(rkey(cache, "e"), b"also garbage")
    with pytest.raises(DecodeError) as caught:
        call(api, cache, "get_many", ["a", "b", "c", "d", "e", "missing"])
    assert caught.value.keys == [rkey(cache, "c").encode(), rkey(cache, "e").encode()]
    assert "Redis keys" in str(caught.value)
    assert rkey(cache, "a") not in str(caught.value)
    still_in_step(api, cache)


def test_get_or_set_raises_and_leaves_the_value(
    api: str, make_cache: Callable[..., RedisCache], flushed_redis: redis.Redis
) -> None:
    cache = make_cache()
    flushed_redis.set(rkey(cache, "k"), GARBAGE)
    computed: list[int] = []
    with pytest.raises(DecodeError, match=rkey(cache, "k")):
        call(api, cache, "get_or_set", "k", lambda: computed.append(1) or "fresh")
    assert computed == []
    assert flushed_redis.get(rkey(cache, "k")) == GARBAGE
    still_in_step(api, cache)


# ---------------------------------------------------------------- miss mode


def test_miss_mode_logs_the_key_and_answers_the_default(
    api: str,
    make_cache: Callable[..., RedisCache],
    flushed_redis: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = make_cache(ON_DECODE_ERROR="miss")
    flushed_redis.set(rkey(cache, "bad"), GARBAGE)
    with caplog.at_level(logging.WARNING, logger="django_async_redis"):
        assert call(api, cache, "get", "bad", "default") == "default"
    assert rkey(cache, "bad") in caplog.text and "PickleSerializer" in caplog.text
    still_in_step(api, cache)


def test_miss_mode_get_many_keeps_the_good_values(
    api: str,
    make_cache: Callable[..., RedisCache],
    flushed_redis: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = make_cache(ON_DECODE_ERROR="miss")
    cache.set_many({"a": 1, "b": "two"})
    flushed_redis.set(rkey(cache, "c"), GARBAGE)
    with caplog.at_level(logging.WARNING, logger="django_async_redis"):
        assert call(api, cache, "get_many", ["a", "b", "c"]) == {"a": 1, "b": "two"}
    assert rkey(cache, "c") in caplog.text
    still_in_step(api, cache)


def test_miss_mode_get_or_set_stores_the_default_over_the_bad_value(
    api: str, make_cache: Callable[..., RedisCache], flushed_redis: redis.Redis
) -> None:
    cache = make_cache(ON_DECODE_ERROR="miss")
    flushed_redis.set(rkey(cache, "k"), GARBAGE)
    assert call(api, cache, "get_or_set", "k", lambda: {"fresh": 1}) == {"fresh": 1}
    assert cache.get("k") == {"fresh": 1}
    assert 0 < cache.ttl("k") <= 300  # the cache's default timeout, as a normal set
    still_in_step(api, cache)


@pytest.mark.parametrize("options", [{"HERD": True}, {"STAMPEDE_LOCK": True}])
def test_the_herd_and_the_lock_read_the_same_way(
    api: str,
    make_cache: Callable[..., RedisCache],
    flushed_redis: redis.Redis,
    options: dict[str, Any],
) -> None:
    cache = make_cache(**options)
    cache.set("good", 1)
    flushed_redis.set(rkey(cache, "bad"), GARBAGE, px=600_000)
    with pytest.raises(DecodeError, match=rkey(cache, "bad")):
        call(api, cache, "get", "bad")
    with pytest.raises(DecodeError) as caught:
        call(api, cache, "get_many", ["good", "bad"])
    assert caught.value.keys == [rkey(cache, "bad").encode()]
    with pytest.raises(DecodeError, match=rkey(cache, "bad")):
        call(api, cache, "get_or_set", "bad", "x")
    lenient = make_cache(ON_DECODE_ERROR="miss", **options)
    assert call(api, lenient, "get_many", ["good", "bad"]) == {"good": 1}
    assert call(api, lenient, "get_or_set", "bad", "x") == "x"
    assert lenient.get("bad") == "x"
    still_in_step(api, cache)


def test_on_decode_error_is_checked_at_startup(redis_server: servers.Server) -> None:
    with pytest.raises(ImproperlyConfigured, match="ON_DECODE_ERROR must be 'raise' or 'miss'"):
        RedisCache(redis_server.url(), {"OPTIONS": {"ON_DECODE_ERROR": "ignore"}})


# ---------------------------------------------------------------- data structures


def _plant(raw: redis.Redis, cache: RedisCache) -> None:
    """One good and one undecodable member in each kind of structure."""
    good = pickle.dumps("good")
    raw.sadd(rkey(cache, "set"), good, GARBAGE)
    raw.rpush(rkey(cache, "list"), good, GARBAGE)
    raw.hset(rkey(cache, "hash"), mapping={"good": good, "bad": GARBAGE})
    raw.zadd(rkey(cache, "zset"), {good: 1, GARBAGE: 2})


STRUCTURE_READS: list[tuple[str, tuple[Any, ...]]] = [
    ("smembers", ("set",)),
    ("sunion", ("set", "set")),
    ("sscan", ("set",)),
    ("lrange", ("list", 0, -1)),
    ("lindex", ("list", 1)),
    ("hgetall", ("hash",)),
    ("hvals", ("hash",)),
    ("hget", ("hash", "bad")),
    ("zrange", ("zset", 0, -1)),
    ("zpopmax", ("zset",)),
]


@pytest.mark.parametrize(("name", "args"), STRUCTURE_READS, ids=[n for n, _ in STRUCTURE_READS])
def test_structure_members_raise_naming_the_key(
    api: str,
    make_cache: Callable[..., RedisCache],
    flushed_redis: redis.Redis,
    name: str,
    args: tuple[Any, ...],
) -> None:
    cache = make_cache()
    _plant(flushed_redis, cache)
    with pytest.raises(DecodeError) as caught:
        call(api, cache, name, *args)
    assert rkey(cache, args[0]) in str(caught.value)
    still_in_step(api, cache)


@pytest.mark.parametrize(("name", "args"), STRUCTURE_READS, ids=[n for n, _ in STRUCTURE_READS])
def test_structure_reads_in_miss_mode_answer_none_and_log(
    api: str,
    make_cache: Callable[..., RedisCache],
    flushed_redis: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    name: str,
    args: tuple[Any, ...],
) -> None:
    cache = make_cache(ON_DECODE_ERROR="miss")
    _plant(flushed_redis, cache)
    with caplog.at_level(logging.WARNING, logger="django_async_redis"):
        assert call(api, cache, name, *args) is None
    assert rkey(cache, args[0]) in caplog.text
    still_in_step(api, cache)


def test_sscan_iter_names_the_key(
    make_cache: Callable[..., RedisCache], flushed_redis: redis.Redis
) -> None:
    cache = make_cache()
    _plant(flushed_redis, cache)
    with pytest.raises(DecodeError, match=rkey(cache, "set")):
        list(cache.sscan_iter("set"))

    async def drain() -> list[Any]:
        return [member async for member in cache.asscan_iter("set")]

    with pytest.raises(DecodeError, match=rkey(cache, "set")):
        asyncio.run(drain())
    lenient = make_cache(ON_DECODE_ERROR="miss")
    # The iterator stops at the bad page (what it does on a swallowed error too).
    assert set(lenient.sscan_iter("set")) <= {"good"}
    still_in_step("sync", cache)


# ---------------------------------------------------------------- sessions


def test_a_corrupt_session_reads_as_an_empty_one(
    api: str, flushed_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # As Django's engines do (SessionBase.decode): an empty session, the
    # corruption logged to django.security.SuspiciousSession.
    from django_async_redis.sessions import SessionStore

    store = SessionStore()
    store["a"] = 1
    store.save()
    flushed_redis.set(store.redis_key(), GARBAGE, px=60_000)
    fresh = SessionStore(store.session_key)
    with caplog.at_level(logging.WARNING, logger="django.security.SuspiciousSession"):
        loaded = fresh.load() if api == "sync" else asyncio.run(fresh.aload())
    assert loaded == {} and "Session data corrupted" in caplog.text
    again = SessionStore()
    again["b"] = 2
    again.save()
    assert SessionStore(again.session_key).load() == {"b": 2}


# ---------------------------------------------------------------- topologies


@pytest.mark.topology
@pytest.mark.parametrize("topology", ["cluster", "sentinel", "shard"])
def test_topologies_name_the_bad_key_among_keys_on_several_nodes(
    api: str, topology: str, caplog: pytest.LogCaptureFixture
) -> None:
    from tests import topologies

    def make(**options: Any) -> RedisCache:
        entry = topologies.cache_settings(topology, **options)
        return RedisCache(entry["LOCATION"], {"KEY_PREFIX": "dec", "OPTIONS": entry["OPTIONS"]})

    cache = make()
    cache.clear()
    good = {f"good{i}": i for i in range(8)}  # spread over slots / shards
    cache.set_many(good)
    bad = rkey(cache, "bad").encode()
    cache.client.raw_client(write=True, key=bad).set(bad, GARBAGE)
    with pytest.raises(DecodeError) as caught:
        call(api, cache, "get_many", [*good, "bad"])
    assert caught.value.keys == [bad]
    with pytest.raises(DecodeError, match=rkey(cache, "bad")):
        call(api, cache, "get", "bad")
    lenient = make(ON_DECODE_ERROR="miss")
    with caplog.at_level(logging.WARNING, logger="django_async_redis"):
        assert call(api, lenient, "get_many", [*good, "bad"]) == good
    assert rkey(cache, "bad") in caplog.text
    assert call(api, cache, "get_many", list(good)) == good
    cache.clear()
