"""Django's own cache and session suites, unmodified, with CLIENT_CACHE on.

The same classes as ``test_django_cache_suite.py``, its async mirror and
``test_django_session_suite.py``, each alias of the suite's CACHES given
``OPTIONS["CLIENT_CACHE"]``: on the session's server here, on every topology
in ``test_client_cache_topologies.py``. Every read the suite makes after a
write must see it, through the local tier, sync and async.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import SimpleTestCase
from sessions_tests import tests as django_session_tests

from django_async_redis.sessions import SessionStore
from tests import test_django_cache_suite as sync_suite
from tests import test_django_cache_suite_async as async_suite
from tests import topologies

pytestmark = pytest.mark.long


def client_cached(entry: dict[str, Any]) -> dict[str, Any]:
    """A CACHES entry with CLIENT_CACHE turned on."""
    return {**entry, "OPTIONS": {**entry.get("OPTIONS", {}), "CLIENT_CACHE": True}}


def base_entry(topology: str | None) -> dict[str, Any]:
    entry = settings.CACHES["default"] if topology is None else topologies.cache_settings(topology)
    return client_cached(dict(entry))


class WithClientCache:
    """Point the test case's caches at the server (or a topology), the client cache on."""

    topology: ClassVar[str | None] = None
    _overridden_settings: ClassVar[dict[str, Any]]

    @classmethod
    def setUpClass(cls) -> None:
        cls._overridden_settings = {"CACHES": sync_suite.suite_caches(base_entry(cls.topology))}
        super().setUpClass()  # type: ignore[misc]

    def test_the_client_cache_is_on(self) -> None:
        for alias in ("default", "prefix", "v2"):
            backend = caches[alias]
            backend.set("answered-here", [alias])
            assert backend.get("answered-here") == [alias]
            hits = backend.client.tier.hits
            assert backend.get("answered-here") == [alias]
            assert backend.client.tier.hits == hits + 1


class SessionsWithClientCache:
    topology: ClassVar[str | None] = None
    _overridden_settings: ClassVar[dict[str, Any]]

    @classmethod
    def setUpClass(cls) -> None:
        cls._overridden_settings = {"CACHES": {"default": base_entry(cls.topology)}}
        super().setUpClass()  # type: ignore[misc]

    def test_the_client_cache_is_on(self) -> None:
        assert hasattr(caches["default"].client, "tier")


class ClientCacheSuiteTests(WithClientCache, sync_suite.DjangoCacheSuiteTests):
    pass


class ClientCacheAsyncSuiteTests(WithClientCache, async_suite.AsyncMirrorOfDjangoCacheSuiteTests):
    pass


class ClientCacheSessionTests(
    SessionsWithClientCache, django_session_tests.SessionTestsMixin, SimpleTestCase
):
    backend = SessionStore


class ClientCacheCacheEngineSessionTests(
    SessionsWithClientCache, django_session_tests.CacheSessionTests
):
    pass
