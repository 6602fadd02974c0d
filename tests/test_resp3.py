"""PROTOCOL: 3 (RESP3, HELLO 3) against a real server: the same answers as RESP2.

Django's cache suite (sync and the async mirror), Django's session suite and
every data-structure scenario run with RESP3 connections; maps, doubles and
nested score pairs come back in RESP3's shapes and must read as under RESP2.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
import redis
from django.core.cache import caches
from django.test import SimpleTestCase
from sessions_tests import tests as django_session_tests

from django_async_redis.cache import RedisCache
from django_async_redis.sessions import SessionStore
from tests import servers
from tests import test_django_cache_suite as sync_suite
from tests import test_django_cache_suite_async as async_suite
from tests.structures_support import SERIALIZERS, Api
from tests.test_structures_topologies import FAMILY_TESTS


def resp3_settings() -> dict[str, Any]:
    return {
        "BACKEND": "django_async_redis.cache.RedisCache",
        "LOCATION": servers.session_server().url(),
        "OPTIONS": {"PROTOCOL": 3},
    }


class _OnResp3:
    _overridden_settings: ClassVar[dict[str, Any]]

    @classmethod
    def setUpClass(cls) -> None:
        cls._overridden_settings = {"CACHES": sync_suite.suite_caches(resp3_settings())}
        super().setUpClass()  # type: ignore[misc]

    def test_connections_speak_resp3(self) -> None:
        cache = caches["default"]
        cache.set("proto", 1)
        assert cache.client.node_for(write=True).protocol == 3
        names = [entry.get("resp") for entry in servers.session_server().client_list()]
        assert "3" in names


# Django's suites again, over RESP3: a long suite in another configuration.
@pytest.mark.long
class Resp3CacheSuiteTests(_OnResp3, sync_suite.DjangoCacheSuiteTests):
    pass


@pytest.mark.long
class Resp3AsyncCacheSuiteTests(_OnResp3, async_suite.AsyncMirrorOfDjangoCacheSuiteTests):
    pass


class Resp3SessionTests(django_session_tests.SessionTestsMixin, SimpleTestCase):
    backend = SessionStore

    @classmethod
    def setUpClass(cls) -> None:
        cls._overridden_settings = {"CACHES": {"default": resp3_settings()}}
        super().setUpClass()


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("test", FAMILY_TESTS, ids=lambda t: f"{t.__module__[6:]}.{t.__name__}")
def test_structure_scenarios_over_resp3(
    test: Callable[..., None], mode: str, flushed_redis: redis.Redis
) -> None:
    cache = RedisCache(
        servers.session_server().url(),
        {
            "KEY_PREFIX": "resp3",
            "OPTIONS": {"PROTOCOL": 3, "SERIALIZER": SERIALIZERS["pickle"]},
        },
    )
    test(lambda scenario: asyncio.run(scenario(Api(cache, mode))))


def test_hello_authenticates_and_names_the_connection(extra_servers: list[servers.Server]) -> None:
    server = servers.start_server()
    extra_servers.append(server)
    with server.client() as raw:
        raw.config_set("requirepass", "s3cret")
    cache = RedisCache(
        f"redis://:s3cret@{server.host}:{server.port}/2",
        {"OPTIONS": {"PROTOCOL": 3, "CONNECTION_POOL_KWARGS": {"client_name": "resp3-app"}}},
    )
    cache.set("k", {"v": 1})
    assert asyncio.run(cache.aget("k")) == {"v": 1}
    with server.client(password="s3cret") as raw:
        entries = [e for e in raw.client_list() if e.get("name") == "resp3-app"]
    assert {e["resp"] for e in entries} == {"3"} and {e["db"] for e in entries} == {"2"}
    wrong = RedisCache(
        f"redis://:wrong@{server.host}:{server.port}/0", {"OPTIONS": {"PROTOCOL": 3}}
    )
    with pytest.raises(redis.AuthenticationError):
        wrong.get("k")


def test_protocol_setting_is_checked() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="PROTOCOL must be 2"):
        RedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"PROTOCOL": 4}})
    assert (
        RedisCache("redis://127.0.0.1:1/0?protocol=3", {}).client.node_for(write=True).protocol == 3
    )
