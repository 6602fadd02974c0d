"""The behaviour django-redis users rely on: delete_many's count, big-int incr,
expire with DEFAULT_TIMEOUT, incr refused by HerdClient."""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT

from tests.structures_support import make_cache

BIG = 2**63 - 1


@pytest.fixture
def cache(flushed_redis: redis.Redis):
    return make_cache()


def test_delete_many_counts(cache) -> None:
    cache.set_many({"a": 1, "b": 2, "c": 3})
    assert cache.delete_many(["a", "b", "missing"]) == 2
    assert cache.delete_many([]) is None  # Django's own suite asks for None here

    async def scenario() -> None:
        assert await cache.adelete_many(["c", "missing"]) == 1
        assert await cache.adelete_many([]) is None

    asyncio.run(scenario())


def test_incr_past_64_bits(cache, flushed_redis: redis.Redis) -> None:
    cache.set("n", BIG, timeout=100)
    assert cache.incr("n") == BIG + 1
    assert cache.get("n") == BIG + 1
    assert cache.incr("n", 10**30) == BIG + 1 + 10**30
    assert cache.decr("n", 10**30) == BIG + 1
    assert cache.decr("n", 2) == BIG - 1  # back in range: plain INCRBY again
    assert cache.incr("n") == BIG
    assert 99 <= (cache.ttl("n") or 0) <= 100  # the expiry survives the big path

    cache.set("neg", -BIG - 1)
    assert cache.decr("neg") == -BIG - 2
    assert cache.incr("neg", 2 * BIG + 5) == BIG + 3
    assert cache.incr("neg", -(2 * BIG)) == -BIG + 3
    cache.set("zero", 10**20)
    assert cache.decr("zero", 10**20) == 0
    assert flushed_redis.get("structures:1:zero") == b"0"

    with pytest.raises(ValueError, match="not found"):
        cache.incr("missing", 10**30)
    assert cache.incr("fresh", 10**30, ignore_key_check=True) == 10**30


def test_incr_past_64_bits_async(cache) -> None:
    async def scenario() -> None:
        await cache.aset("n", BIG)
        assert await cache.aincr("n") == BIG + 1
        assert await cache.adecr("n", BIG + 1) == 0
        with pytest.raises(ValueError):
            await cache.aincr("missing", 10**25)

    asyncio.run(scenario())


def test_big_incr_is_atomic(cache) -> None:
    cache.set("n", BIG - 100)
    per_thread = 50

    def work() -> None:
        for _ in range(per_thread):
            cache.incr("n", 3)

    async def tasks() -> None:
        await asyncio.gather(*(cache.aincr("n", 3) for _ in range(200)))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    asyncio.run(tasks())
    for thread in threads:
        thread.join(timeout=60)
    assert cache.get("n") == BIG - 100 + 3 * (4 * per_thread + 200)


def test_incr_on_a_non_integer_still_fails(cache) -> None:
    cache.set("text", "abc")
    with pytest.raises(redis.ResponseError):
        cache.incr("text")


def test_expire_with_default_timeout(flushed_redis: redis.Redis) -> None:
    cache = make_cache()
    cache.default_timeout = 200
    cache.set("k", 1, timeout=None)
    assert cache.expire("k", DEFAULT_TIMEOUT) is True
    assert 199 <= (cache.ttl("k") or 0) <= 200
    cache.persist("k")
    assert cache.pexpire("k", DEFAULT_TIMEOUT) is True  # seconds, not 200 ms
    assert 199_000 <= (cache.pttl("k") or 0) <= 200_000
    assert cache.expire("missing", DEFAULT_TIMEOUT) is False

    async def scenario() -> None:
        await cache.apersist("k")
        assert await cache.aexpire("k", DEFAULT_TIMEOUT) is True
        assert await cache.apexpire("k", DEFAULT_TIMEOUT) is True
        assert 199 <= (await cache.attl("k") or 0) <= 200

    asyncio.run(scenario())

    cache.default_timeout = None
    assert cache.expire("k", DEFAULT_TIMEOUT) is True
    assert cache.ttl("k") is None


def test_herd_client_refuses_incr(flushed_redis: redis.Redis) -> None:
    cache = make_cache(CLIENT_CLASS="django_async_redis.client.HerdClient")
    cache.set("n", 1)
    with pytest.raises(NotImplementedError, match="herd"):
        cache.incr("n")
    with pytest.raises(NotImplementedError, match="herd"):
        cache.decr("n")

    async def scenario() -> None:
        with pytest.raises(NotImplementedError):
            await cache.aincr("n")

    asyncio.run(scenario())


STRUCTURE_CALLS: list[tuple[str, tuple[object, ...]]] = [
    ("sadd", ("s", 1)),
    ("smembers", ("s",)),
    ("sinter", ("a", "b")),
    ("sscan", ("s",)),
    ("hset", ("h", "f", 1)),
    ("hgetall", ("h",)),
    ("zadd", ("z", {"m": 1})),
    ("zrange", ("z", 0, -1)),
    ("lpush", ("l", 1)),
    ("lrange", ("l", 0, -1)),
]


@pytest.mark.parametrize(("method", "args"), STRUCTURE_CALLS, ids=[c[0] for c in STRUCTURE_CALLS])
def test_structures_ignore_exceptions_like_django_redis(method: str, args: tuple) -> None:
    from tests.test_errors import build, dead_url

    cache = build(dead_url(), IGNORE_EXCEPTIONS=True)
    assert getattr(cache, method)(*args) is None

    async def call() -> object:
        return await getattr(cache, "a" + method)(*args)

    assert asyncio.run(call()) is None
    strict = build(dead_url())
    with pytest.raises(redis.ConnectionError):
        getattr(strict, method)(*args)


def test_scan_iterators_and_herd_ignore_exceptions() -> None:
    from tests.test_errors import build, dead_url

    cache = build(dead_url(), IGNORE_EXCEPTIONS=True, HERD=True, STAMPEDE_LOCK=True)
    assert list(cache.sscan_iter("s")) == []
    assert cache.get("k", "fallback") == "fallback"
    assert cache.get_or_set("k", lambda: "computed") == "computed"

    async def scenario() -> None:
        assert [m async for m in cache.asscan_iter("s")] == []
        assert await cache.aget_or_set("k", lambda: "computed") == "computed"

    asyncio.run(scenario())


# Where our signature differs from django-redis's DefaultClient (its ``client``
# argument aside); docs/django-redis-compat.md says how.
KNOWN_SIGNATURE_DIFFERENCES = {"delete", "close"}


def test_every_django_redis_method_exists_with_its_arguments() -> None:
    import inspect

    from django_redis.cache import RedisCache as DjangoRedisCache
    from django_redis.client import DefaultClient as DjangoRedisClient

    from django_async_redis.cache import RedisCache

    public = [name for name, value in vars(DjangoRedisCache).items() if callable(value)]
    public = [name for name in public if not name.startswith("_")]
    # django-redis 7 has over 60.
    assert len(public) > 60
    for name in public:
        assert hasattr(RedisCache, name), name
        twin = {"lock": "alock", "iter_keys": "aiter_keys", "sscan_iter": "asscan_iter"}
        assert hasattr(RedisCache, twin.get(name, "a" + name)), name
        reference = getattr(DjangoRedisClient, name, None)
        # Signatures are django-redis 7's (what we match).
        if reference is None or name in KNOWN_SIGNATURE_DIFFERENCES:
            continue
        theirs = [p for p in inspect.signature(reference).parameters if p not in ("self", "client")]
        ours = [p for p in inspect.signature(getattr(RedisCache, name)).parameters if p != "self"]
        assert ours == theirs, name
