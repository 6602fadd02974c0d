"""A backend built again from equal arguments is a copy; never across other settings.

Under ASGI Django builds a backend per request (``caches`` is an asgiref
Local). These tests check what construction.py promises: the second build
shares the first one's derived state, and any change of settings, any other
parameter, class, key function or client class gets its own, against a real
server.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest
from django.core.cache import caches
from django.test import override_settings

from django_async_redis.cache import RedisCache
from django_async_redis.client import DefaultClient
from tests import servers


def params(**options: Any) -> dict[str, Any]:
    return {"KEY_PREFIX": "construction", "OPTIONS": dict(options)}


def test_a_second_build_shares_what_the_first_derived(redis_server: servers.Server) -> None:
    url = redis_server.url(6)
    first, second = RedisCache(url, params()), RedisCache(url, params())
    assert first is not second
    assert second._config is first._config and second._client is first._client
    assert second._codec is first._codec and second._values is first._values
    assert second.key_prefix == "construction" and second.default_timeout == 300
    # Each is a backend of its own: an attribute set on one stays there.
    second.my_flag = True  # type: ignore[attr-defined]
    assert not hasattr(first, "my_flag") and not hasattr(RedisCache(url, params()), "my_flag")
    first.set("k", 1)
    assert second.get("k") == 1 and asyncio.run(second.aget("k")) == 1
    first.delete("k")


def test_other_parameters_share_nothing(redis_server: servers.Server) -> None:
    url = redis_server.url(6)
    plain = RedisCache(url, params())
    others = [
        RedisCache(redis_server.url(7), params()),
        RedisCache(url, params(IGNORE_EXCEPTIONS=True)),
        RedisCache(url, params(SERIALIZER="django_async_redis.serializers.json.JSONSerializer")),
        RedisCache(url, {**params(), "TIMEOUT": 60}),
        RedisCache(url, {**params(), "KEY_PREFIX": "other"}),
        RedisCache(url, params(HERD=True)),
    ]
    for other in others:
        assert other._config is not plain._config and other._client is not plain._client
    assert others[1]._ignore_exceptions and not plain._ignore_exceptions
    assert others[3].default_timeout == 60 and others[4].key_prefix == "other"
    # 1 and True, 1 and 1.0 are equal in Python but other settings here.
    assert RedisCache(url, {**params(), "TIMEOUT": 1.0})._config is not (
        RedisCache(url, {**params(), "TIMEOUT": 1})._config
    )


def _key_a(key: str, key_prefix: str, version: int) -> str:
    return f"a|{key}"


def _key_b(key: str, key_prefix: str, version: int) -> str:
    return f"b|{key}"


class MyClient(DefaultClient):
    pass


class MyCache(RedisCache):
    pass


def test_key_functions_client_classes_and_subclasses_are_told_apart(
    redis_server: servers.Server,
) -> None:
    url = redis_server.url(6)
    a = RedisCache(url, {"KEY_FUNCTION": _key_a})
    b = RedisCache(url, {"KEY_FUNCTION": _key_b})
    assert a.make_key("x") == "a|x" and b.make_key("x") == "b|x"
    assert RedisCache(url, {"KEY_FUNCTION": _key_a}).make_key("x") == "a|x"
    custom = RedisCache(url, params(CLIENT_CLASS="tests.test_construction.MyClient"))
    assert type(custom.client) is MyClient
    assert type(RedisCache(url, params()).client) is not MyClient
    sub = MyCache(url, params())
    assert type(sub) is MyCache and sub._client is not RedisCache(url, params())._client


def test_a_settings_change_is_seen_by_the_next_build(redis_server: servers.Server) -> None:
    url = redis_server.url(6)
    before = RedisCache(url, params())
    assert not before._ignore_exceptions
    with override_settings(DJANGO_REDIS_IGNORE_EXCEPTIONS=True, CACHE_HERD_TIMEOUT=2):
        during = RedisCache(url, params())
        herd = RedisCache(url, params(HERD=True))
        assert during._ignore_exceptions and during._config is not before._config
        assert herd._values.window_ms == 2000  # type: ignore[attr-defined]
    after = RedisCache(url, params())
    assert not after._ignore_exceptions
    assert RedisCache(url, params(HERD=True))._values.window_ms == 60_000  # type: ignore[attr-defined]


def test_the_settings_fixture_counts_as_a_change(
    redis_server: servers.Server, settings: Any
) -> None:
    url = redis_server.url(6)
    assert RedisCache(url, params(HERD=True))._values.window_ms == 60_000  # type: ignore[attr-defined]
    settings.CACHE_HERD_TIMEOUT = 2  # django-redis's own test suite does this
    assert RedisCache(url, params(HERD=True))._values.window_ms == 2000  # type: ignore[attr-defined]


def test_unfreezable_parameters_build_in_full_every_time(redis_server: servers.Server) -> None:
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

    url = redis_server.url(6)
    odd = {**params(), "EXTRA": Unhashable()}
    one, two = RedisCache(url, odd), RedisCache(url, odd)
    assert one._config is not two._config
    one.set("k", 2)
    assert two.get("k") == 2
    one.delete("k")


def test_bad_settings_fail_on_every_build(redis_server: servers.Server) -> None:
    from django.core.exceptions import ImproperlyConfigured

    for _ in range(2):
        with pytest.raises(ImproperlyConfigured):
            RedisCache(redis_server.url(6), params(SOCKET_TIMEOUT="soon"))


def test_per_request_backends_under_asgi_share_and_work(redis_server: servers.Server) -> None:
    """As an ASGI server runs requests: a task per request, in a fresh context."""
    setting = {
        "ctest": {
            "BACKEND": "django_async_redis.cache.RedisCache",
            "LOCATION": redis_server.url(6),
            "KEY_PREFIX": "construction",
        }
    }
    with override_settings(CACHES=setting):
        seen: list[RedisCache] = []

        async def request(n: int) -> Any:
            cache = caches["ctest"]
            seen.append(cache)
            await cache.aset(f"r{n}", n)
            value = await cache.aget(f"r{n}")
            await cache.aclose()
            return value

        async def server() -> list[Any]:
            loop = asyncio.get_running_loop()
            tasks = [loop.create_task(request(n), context=contextvars.Context()) for n in range(20)]
            return list(await asyncio.gather(*tasks))

        assert asyncio.run(server()) == list(range(20))
        assert len({id(cache) for cache in seen}) == 20  # a backend per request
        assert len({id(cache._client) for cache in seen}) == 1  # all built once
        caches["ctest"].delete_many([f"r{n}" for n in range(20)])

    # Other CACHES, other backend: the new LOCATION is the one used.
    moved = {"ctest": {**setting["ctest"], "LOCATION": redis_server.url(7)}}
    with override_settings(CACHES=moved):
        cache = caches["ctest"]
        cache.set("where", 7)
        with redis_server.client(db=7) as raw:
            assert raw.exists(cache.make_key("where")) == 1
        cache.delete("where")
