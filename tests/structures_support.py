"""Shared by the data-structure tests: a cache per serializer, and one way to
write a scenario once and run it through both the sync and the async API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis

from django_async_redis.cache import RedisCache
from tests import servers

SERIALIZERS = {
    "pickle": "django_async_redis.serializers.pickle.PickleSerializer",
    "json": "django_async_redis.serializers.json.JSONSerializer",
    "msgpack": "django_async_redis.serializers.msgpack.MSGPackSerializer",
}

# Hashable (sets decode into Python sets) and representable in every serializer.
MEMBERS: list[Any] = ["text", "héllo wörld", 42, -7, 3.5, None, "42", "x" * 300]


def make_cache(serializer: str = "pickle", **options: Any) -> RedisCache:
    server = servers.session_server()
    params = {"KEY_PREFIX": "structures", "OPTIONS": {"SERIALIZER": SERIALIZERS[serializer]}}
    params["OPTIONS"].update(options)  # type: ignore[attr-defined]
    return RedisCache(server.url(), params)


class Api:
    """``await api.sadd(...)`` calls ``cache.sadd`` or ``await cache.asadd``, by mode."""

    def __init__(self, cache: RedisCache, mode: str) -> None:
        self.cache = cache
        self.mode = mode

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if self.mode == "async":
            return getattr(self.cache, "a" + name)  # type: ignore[no-any-return]
        method = getattr(self.cache, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call

    async def collect(self, name: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Everything an iterator method (sscan_iter) yields, through either API."""
        if self.mode == "async":
            return [item async for item in getattr(self.cache, "a" + name)(*args, **kwargs)]
        return list(getattr(self.cache, name)(*args, **kwargs))


@pytest.fixture(params=sorted(SERIALIZERS))
def serializer(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def run(
    flushed_redis: redis.Redis, serializer: str, mode: str
) -> Iterator[Callable[[Callable[[Api], Awaitable[None]]], None]]:
    """Runs a scenario ``async def scenario(api)`` once, in the chosen mode and serializer."""
    cache = make_cache(serializer)

    def run(scenario: Callable[[Api], Awaitable[None]]) -> None:
        asyncio.run(scenario(Api(cache, mode)))

    yield run
