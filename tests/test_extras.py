"""The Redis extras beyond Django's API, on the sync and the async path."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
import redis.asyncio
from django.core.cache import caches

from django_async_redis import get_async_redis_connection, get_redis_connection
from django_async_redis.cache import RedisCache


@pytest.fixture
def cache(flushed_redis: redis.Redis) -> Iterator[RedisCache]:
    backend = caches["default"]
    assert isinstance(backend, RedisCache)
    yield backend


def test_ttl_family(cache: RedisCache) -> None:
    cache.set("forever", 1, timeout=None)
    cache.set("short", 1, timeout=100)
    assert cache.ttl("forever") is None
    assert 99 <= (cache.ttl("short") or 0) <= 100
    assert 99_000 <= (cache.pttl("short") or 0) <= 100_000
    assert cache.ttl("missing") == 0 and cache.pttl("missing") == 0

    assert cache.expire("forever", 50) is True
    assert 49 <= (cache.ttl("forever") or 0) <= 50
    assert cache.pexpire("forever", 20_000) is True
    assert 19_000 <= (cache.pttl("forever") or 0) <= 20_000
    assert cache.expire("forever", timedelta(seconds=70)) is True
    assert 69 <= (cache.ttl("forever") or 0) <= 70
    assert cache.persist("forever") is True
    assert cache.ttl("forever") is None
    assert cache.expire("missing", 5) is False

    soon = datetime.now(UTC) + timedelta(seconds=30)
    assert cache.expire_at("short", soon) is True
    assert 28 <= (cache.ttl("short") or 0) <= 30
    assert cache.pexpire_at("short", int((time.time() + 40) * 1000)) is True
    assert 38 <= (cache.ttl("short") or 0) <= 40


def test_ttl_family_async(cache: RedisCache) -> None:
    async def scenario() -> None:
        await cache.aset("forever", 1, timeout=None)
        await cache.aset("short", 1, timeout=100)
        assert await cache.attl("forever") is None
        assert 99 <= (await cache.attl("short") or 0) <= 100
        assert 99_000 <= (await cache.apttl("short") or 0) <= 100_000
        assert await cache.attl("missing") == 0
        assert await cache.aexpire("forever", 50) is True
        assert await cache.apexpire("forever", 20_000) is True
        assert 19_000 <= (await cache.apttl("forever") or 0) <= 20_000
        assert await cache.apersist("forever") is True
        assert await cache.attl("forever") is None
        soon = datetime.now(UTC) + timedelta(seconds=30)
        assert await cache.aexpire_at("short", soon) is True
        assert 28 <= (await cache.attl("short") or 0) <= 30
        assert await cache.apexpire_at("short", int((time.time() + 40) * 1000)) is True
        assert await cache.aexpire("missing", 5) is False

    asyncio.run(scenario())


def test_set_nx_xx(cache: RedisCache) -> None:
    assert cache.set("k", 1, xx=True) is False
    assert cache.get("k") is None
    assert cache.set("k", 1, nx=True) is True
    assert cache.set("k", 2, nx=True) is False
    assert cache.get("k") == 1
    assert cache.set("k", 3, xx=True) is True
    assert cache.get("k") == 3
    with pytest.raises(ValueError, match="not both"):
        cache.set("k", 4, nx=True, xx=True)

    async def scenario() -> None:
        assert await cache.aset("a", 1, xx=True) is False
        assert await cache.aset("a", 1, nx=True) is True
        assert await cache.aset("a", 2, nx=True) is False
        assert await cache.aset("a", 3, xx=True) is True
        assert await cache.aget("a") == 3

    asyncio.run(scenario())


def test_incr_ignore_key_check(cache: RedisCache) -> None:
    with pytest.raises(ValueError, match="not found"):
        cache.incr("counter")
    assert cache.incr("counter", 5, ignore_key_check=True) == 5
    assert cache.incr("counter", 2) == 7
    assert cache.decr("counter", 10) == -3

    async def scenario() -> None:
        with pytest.raises(ValueError, match="not found"):
            await cache.aincr("acounter")
        assert await cache.aincr("acounter", 3, ignore_key_check=True) == 3
        assert await cache.adecr("acounter") == 2

    asyncio.run(scenario())


def test_incr_keeps_expiry_and_rejects_bad_delta(cache: RedisCache) -> None:
    cache.set("n", 1, timeout=100)
    cache.incr("n")
    assert 99 <= (cache.ttl("n") or 0) <= 100
    with pytest.raises(TypeError, match="delta"):
        cache.incr("n", 1.5)  # type: ignore[arg-type]


def test_keys_iter_keys_delete_pattern(cache: RedisCache) -> None:
    for index in range(25):
        cache.set(f"user:{index}", index)
    cache.set("other", 1)
    cache.set("user:1", "v2", version=2)
    assert sorted(cache.keys("user:*")) == sorted(f"user:{index}" for index in range(25))
    assert sorted(cache.iter_keys("user:*", itersize=3)) == sorted(
        f"user:{index}" for index in range(25)
    )
    assert cache.keys("user:1", version=2) == ["user:1"]
    assert cache.delete_pattern("user:*", itersize=4) == 25
    assert cache.keys("user:*") == []
    assert cache.get("other") == 1
    assert cache.get("user:1", version=2) == "v2"


def test_keys_async(cache: RedisCache) -> None:
    async def scenario() -> None:
        await cache.aset_many({f"k{index}": index for index in range(30)})
        assert len(await cache.akeys("k*")) == 30
        seen = [key async for key in cache.aiter_keys("k*", itersize=7)]
        assert sorted(seen) == sorted(f"k{index}" for index in range(30))
        assert await cache.adelete_pattern("k1*") == 11
        assert len(await cache.akeys("k*")) == 19

    asyncio.run(scenario())


def test_glob_characters_in_prefix_are_escaped(flushed_redis: redis.Redis) -> None:
    location = caches["default"]._config.primary  # type: ignore[attr-defined]
    url = f"redis://{location.host}:{location.port}/{location.db}"
    starred = RedisCache(url, {"KEY_PREFIX": "a*"})
    plain = RedisCache(url, {"KEY_PREFIX": "ab"})
    starred.set("x", 1)
    plain.set("x", 2)
    assert starred.keys("*") == ["x"]
    assert starred.delete_pattern("*") == 1
    assert plain.get("x") == 2


def test_locks(cache: RedisCache) -> None:
    lock = cache.lock("job", timeout=5)
    assert isinstance(lock, redis.lock.Lock)
    with lock:
        other = cache.lock("job", blocking=False)
        assert other.acquire() is False
    assert cache.lock("job", blocking=False).acquire() is True

    async def scenario() -> None:
        async with cache.alock("ajob", timeout=5):
            assert await cache.alock("ajob", blocking=False).acquire() is False
        second = cache.alock("ajob", blocking=False)
        assert await second.acquire() is True
        await second.release()

    asyncio.run(scenario())


def test_raw_connections(cache: RedisCache) -> None:
    client = get_redis_connection("default")
    assert isinstance(client, redis.Redis)
    cache.set("raw", 5)
    assert client.get(cache.make_key("raw")) == b"5"

    async def scenario() -> None:
        aclient = get_async_redis_connection("default")
        assert isinstance(aclient, redis.asyncio.Redis)
        assert aclient is get_async_redis_connection("default")
        assert await aclient.get(cache.make_key("raw")) == b"5"

    for _ in range(3):  # a new loop each time: the client of a closed loop is never reused
        asyncio.run(scenario())


def test_raw_connection_of_other_backend_is_refused() -> None:
    from django.test import override_settings

    locmem = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    caches_setting = {"default": caches.settings["default"], "mem": locmem}
    with (
        override_settings(CACHES=caches_setting),
        pytest.raises(TypeError, match="not a django_async_redis"),
    ):
        get_redis_connection("mem")


def test_keys_are_made_and_checked_as_django_does(cache: RedisCache) -> None:
    # _key builds the default key itself and only calls validate_key when a
    # warning is possible: the keys and the warnings must be Django's exactly.
    import warnings

    from django.core.cache.backends.base import CacheKeyWarning

    raw = get_redis_connection("default")
    cache.set("plain", 1, version=3)
    assert raw.get(cache.make_key("plain", version=3)) == b"1"

    def warned(key: str) -> bool:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cache.set(key, 1)
        return any(issubclass(w.category, CacheKeyWarning) for w in caught)

    for key in ("has space", "tab\there", "del\x7f", "nl\n", "x" * 300):
        assert warned(key), repr(key)
    for key in ("plain", "ünïcode-ключ", "line\u2028separator", "x" * 200):
        assert not warned(key), repr(key)

    from django.conf import settings

    custom = RedisCache(
        settings.CACHES["default"]["LOCATION"],
        {"KEY_FUNCTION": lambda key, prefix, version: f"custom|{key}", "KEY_PREFIX": "p"},
    )
    custom.set("k", 2)
    assert raw.get("custom|k") == b"2"


def test_key_space_arguments_mean_what_they_mean_in_django_redis(cache: RedisCache) -> None:
    """Positional calls written for django-redis: iter_keys(search, itersize, version),
    delete_pattern(pattern, version, prefix, itersize)."""
    cache.set_many({f"pos:{n}": n for n in range(12)})
    cache.set("pos:v2", 2, version=2)
    assert sorted(cache.iter_keys("pos:*", 5)) == sorted(f"pos:{n}" for n in range(12))
    assert list(cache.iter_keys("pos:*", 5, 2)) == ["pos:v2"]
    assert cache.keys(search="pos:v*", version=2) == ["pos:v2"]
    other = RedisCache(cache._config.locations[0], {"KEY_PREFIX": "elsewhere"})
    other.set("pos:1", "theirs")
    # prefix= stands in for KEY_PREFIX: delete another prefix's keys from here.
    assert cache.delete_pattern("pos:*", None, "elsewhere") == 1
    assert other.get("pos:1") is None and cache.get("pos:1") == 1
    assert asyncio.run(cache.adelete_pattern("pos:*", 2)) == 1
    assert cache.delete_pattern("pos:*", None, None, 3) == 12
