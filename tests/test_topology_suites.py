"""Django's own suites, unmodified, on every topology client.

Django's ``BaseCacheTests`` (sync), the async mirror of it (every case driven
through the ``a*`` methods, see ``test_django_cache_suite_async.py``) and
Django's session suites, each run against a real Redis Cluster (3 primaries,
3 replicas), a Sentinel-watched primary + replica (3 sentinels) and two
independent shard servers, all started by the harness (``tests/topologies.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest
from django.core.cache import caches
from django.test import SimpleTestCase
from sessions_tests import tests as django_session_tests

from django_async_redis.client import ClusterClient, SentinelClient, ShardClient
from django_async_redis.sessions import SessionStore
from tests import test_django_cache_suite as sync_suite
from tests import test_django_cache_suite_async as async_suite
from tests import topologies

pytestmark = pytest.mark.topology


CLIENT_CLASSES = {"cluster": ClusterClient, "sentinel": SentinelClient, "shard": ShardClient}


class _OnTopology:
    """Point the test case's caches at a topology, started when the class runs."""

    topology: ClassVar[str]
    _overridden_settings: ClassVar[dict[str, Any]]

    @classmethod
    def setUpClass(cls) -> None:
        base = topologies.cache_settings(cls.topology)
        cls._overridden_settings = {"CACHES": sync_suite.suite_caches(base)}
        super().setUpClass()  # type: ignore[misc]

    def test_suite_runs_on_the_topology(self) -> None:
        for alias in ("default", "prefix", "v2"):
            assert type(caches[alias].client) is CLIENT_CLASSES[self.topology]


class ClusterCacheSuiteTests(_OnTopology, sync_suite.DjangoCacheSuiteTests):
    topology = "cluster"


class SentinelCacheSuiteTests(_OnTopology, sync_suite.DjangoCacheSuiteTests):
    topology = "sentinel"


class ShardCacheSuiteTests(_OnTopology, sync_suite.DjangoCacheSuiteTests):
    topology = "shard"


class ClusterAsyncCacheSuiteTests(_OnTopology, async_suite.AsyncMirrorOfDjangoCacheSuiteTests):
    topology = "cluster"


class SentinelAsyncCacheSuiteTests(_OnTopology, async_suite.AsyncMirrorOfDjangoCacheSuiteTests):
    topology = "sentinel"


class ShardAsyncCacheSuiteTests(_OnTopology, async_suite.AsyncMirrorOfDjangoCacheSuiteTests):
    topology = "shard"


class _SessionsOnTopology:
    topology: ClassVar[str]
    _overridden_settings: ClassVar[dict[str, Any]]

    @classmethod
    def setUpClass(cls) -> None:
        cls._overridden_settings = {"CACHES": {"default": topologies.cache_settings(cls.topology)}}
        super().setUpClass()  # type: ignore[misc]

    def test_sessions_run_on_the_topology(self) -> None:
        assert type(caches["default"].client) is CLIENT_CLASSES[self.topology]


class ClusterSessionTests(
    _SessionsOnTopology, django_session_tests.SessionTestsMixin, SimpleTestCase
):
    topology = "cluster"
    backend = SessionStore


class SentinelSessionTests(
    _SessionsOnTopology, django_session_tests.SessionTestsMixin, SimpleTestCase
):
    topology = "sentinel"
    backend = SessionStore


class ShardSessionTests(
    _SessionsOnTopology, django_session_tests.SessionTestsMixin, SimpleTestCase
):
    topology = "shard"
    backend = SessionStore


class ClusterCacheEngineSessionTests(_SessionsOnTopology, django_session_tests.CacheSessionTests):
    topology = "cluster"


class ShardCacheEngineSessionTests(_SessionsOnTopology, django_session_tests.CacheSessionTests):
    topology = "shard"


@pytest.mark.parametrize("topology", topologies.TOPOLOGIES)
def test_log_out_everywhere_on_every_topology(topology: str) -> None:
    """A user's sessions (keys on several nodes, one index key) listed and ended."""
    from django.contrib.auth import SESSION_KEY
    from django.test import override_settings

    from django_async_redis import sessions

    with override_settings(CACHES={"default": topologies.cache_settings(topology)}):
        caches["default"].clear()
        stores = []
        for _ in range(6):
            store = SessionStore()
            store[SESSION_KEY] = "42"
            store.save()
            stores.append(store)
        other = SessionStore()
        other[SESSION_KEY] = "7"
        other.save()
        live = sessions.user_sessions(42)
        assert sorted(s.session_key for s in live) == sorted(s.session_key for s in stores)
        kept = stores[0].session_key
        assert sessions.end_user_sessions(42, keep=kept) == 5
        assert [s.session_key for s in sessions.user_sessions(42)] == [kept]
        assert all(not SessionStore().exists(s.session_key) for s in stores[1:])

        async def asynchronously() -> int:
            listed = await sessions.auser_sessions("42")
            assert [s.session_key for s in listed] == [kept]
            return await sessions.aend_user_sessions("42")

        assert asyncio.run(asynchronously()) == 1
        assert not SessionStore().exists(kept)
        assert SessionStore().exists(other.session_key)
        caches["default"].clear()
