"""Redis and Valkey cache backend for Django: native sync, native async."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__version__ = "1.0.0.dev0"


def _backend(alias: str) -> object:
    from django.core.cache import caches

    from .cache import RedisCache

    cache = caches[alias]
    if not isinstance(cache, RedisCache):
        raise TypeError(
            f"The cache {alias!r} is a {type(cache).__module__}.{type(cache).__name__}, "
            "not a django_async_redis.cache.RedisCache"
        )
    return cache


def get_redis_connection(alias: str = "default", write: bool = True) -> redis.Redis:
    """A ``redis.Redis`` on the cache's primary (or, with write=False, a replica)."""
    from .cache import RedisCache

    cache = _backend(alias)
    assert isinstance(cache, RedisCache)
    return cache.client.raw_client(write=write)


def get_async_redis_connection(alias: str = "default", write: bool = True) -> redis.asyncio.Redis:
    """A ``redis.asyncio.Redis`` for the running event loop, closed when the loop shuts down."""
    from .cache import RedisCache

    cache = _backend(alias)
    assert isinstance(cache, RedisCache)
    return cache.client.async_raw_client(write=write)
