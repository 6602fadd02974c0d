"""Values larger than the server takes are refused before anything is sent.

Redis takes a bulk string of at most proto-max-bulk-len bytes (512 MiB by
default): past it, Redis drops the connection mid-request (seen as "Connection
reset by peer" after seconds of writing) and an async request gets "invalid
bulk length". Ours raises ValueTooLarge, a ValueError naming the size and the
limit, at the call, on both paths and for every command that carries a value,
whatever IGNORE_EXCEPTIONS says. A small MAX_VALUE_SIZE stands in for the
server's limit; one test sends a real 513 MiB value against the default.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_async_redis.cache import RedisCache
from django_async_redis.exceptions import ValueTooLarge
from tests import servers

LIMIT = 1000
BIG = "x" * 2000  # pickled: a little over 2,000 bytes


def build(server: servers.Server, **options: Any) -> RedisCache:
    options = {"MAX_VALUE_SIZE": LIMIT, "IGNORE_EXCEPTIONS": True, **options}
    return RedisCache(server.url(4), {"KEY_PREFIX": "size", "OPTIONS": options})


# Every call that carries a value: (name, sync call, async call).
CALLS: list[tuple[str, Callable[[RedisCache], Any], Callable[[RedisCache], Any]]] = [
    ("set", lambda c: c.set("k", BIG), lambda c: c.aset("k", BIG)),
    ("add", lambda c: c.add("k", BIG), lambda c: c.aadd("k", BIG)),
    ("set_many", lambda c: c.set_many({"a": 1, "k": BIG}), lambda c: c.aset_many({"k": BIG})),
    (
        "get_or_set",
        lambda c: c.get_or_set("k", lambda: BIG),
        lambda c: c.aget_or_set("k", lambda: BIG),
    ),
    ("hset", lambda c: c.hset("h", "f", BIG), lambda c: c.ahset("h", "f", BIG)),
    ("sadd", lambda c: c.sadd("s", BIG), lambda c: c.asadd("s", BIG)),
    ("zadd", lambda c: c.zadd("z", {BIG: 1}), lambda c: c.azadd("z", {BIG: 1})),
    ("lpush", lambda c: c.lpush("l", BIG), lambda c: c.alpush("l", BIG)),
    ("rpush", lambda c: c.rpush("l", "ok", BIG), lambda c: c.arpush("l", BIG)),
]


@pytest.mark.parametrize(("name", "sync_call", "async_call"), CALLS, ids=[c[0] for c in CALLS])
def test_every_value_carrying_call_refuses_a_value_too_large(
    redis_server: servers.Server,
    name: str,
    sync_call: Callable[[RedisCache], Any],
    async_call: Callable[[RedisCache], Any],
) -> None:
    cache = build(redis_server)
    cache.clear()
    with pytest.raises(ValueTooLarge, match=r"is 2,0\d\d bytes as stored.*1,000 bytes"):
        sync_call(cache)

    async def call() -> None:
        with pytest.raises(ValueTooLarge, match="proto-max-bulk-len"):
            await async_call(cache)

    asyncio.run(call())
    # Nothing was sent: not even the small value beside it in set_many.
    with redis_server.client(db=4) as raw:
        assert raw.dbsize() == 0
    # The connections are as good as before.
    assert cache.set("small", "v") and asyncio.run(cache.aget("small")) == "v"


def test_compression_and_signing_count_as_stored(redis_server: servers.Server) -> None:
    # 2,000 bytes that zlib shrinks far below the limit: accepted.
    compressed = build(
        redis_server, COMPRESSOR="django_async_redis.compressors.zlib.ZlibCompressor"
    )
    assert compressed.set("k", BIG) is True and compressed.get("k") == BIG
    # Just under the limit unsigned, over it once the signature is added.
    value = "y" * (LIMIT - 30)
    assert build(redis_server).set("k", value) is True
    signed = build(redis_server, SIGNING={"KEY": "k" * 32})
    with pytest.raises(ValueTooLarge):
        signed.set("k", value)


def test_a_value_too_large_is_a_value_error(redis_server: servers.Server) -> None:
    cache = build(redis_server)
    with pytest.raises(ValueError):
        cache.set("k", BIG)


@pytest.mark.parametrize("value", [0, -1, "512MB", 1.5, True, None])
def test_a_bad_limit_fails_at_startup(redis_server: servers.Server, value: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="MAX_VALUE_SIZE must be a positive number"):
        build(redis_server, MAX_VALUE_SIZE=value)


def test_a_session_too_large_is_refused(redis_server: servers.Server, settings: Any) -> None:
    settings.CACHES = {
        **settings.CACHES,
        "sessions": {
            "BACKEND": "django_async_redis.cache.RedisCache",
            "LOCATION": redis_server.url(4),
            "OPTIONS": {"MAX_VALUE_SIZE": LIMIT},
        },
    }
    settings.SESSION_CACHE_ALIAS = "sessions"
    from django_async_redis.sessions import SessionStore

    store = SessionStore()
    store["blob"] = BIG
    with pytest.raises(ValueTooLarge, match="the session is"):
        store.save()
    other = SessionStore()
    other["blob"] = BIG
    with pytest.raises(ValueTooLarge):
        asyncio.run(other.asave())


def test_the_default_limit_is_the_servers(redis_server: servers.Server) -> None:
    """513 MiB against Redis's default proto-max-bulk-len: refused here, at once."""
    cache = RedisCache(redis_server.url(4), {"OPTIONS": {"IGNORE_EXCEPTIONS": True}})
    huge = b"\0" * (513 * 1024 * 1024)
    with pytest.raises(ValueTooLarge, match="536,870,912 bytes"):
        cache.set("huge", huge)

    async def call() -> None:
        with pytest.raises(ValueTooLarge):
            await cache.aset("huge", huge)

    asyncio.run(call())
    # The default is the server's own limit, and nothing reached it.
    with redis_server.client(db=4) as raw:
        limit = int(raw.config_get("proto-max-bulk-len")["proto-max-bulk-len"])
        assert raw.exists(cache.make_key("huge")) == 0
    assert limit == 512 * 1024 * 1024
