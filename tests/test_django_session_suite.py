"""Django's own session tests, unmodified, run against this project.

* ``SessionTestsMixin`` (every storage behaviour Django expects of an engine)
  against ``django_async_redis.sessions.SessionStore``.
* Django's ``CacheSessionTests`` and ``CacheDBSessionTests``: Django's own cache
  and cached_db engines, with this project's cache as the default cache (as
  ``tests/settings.py`` configures it).

The classes come from ``sessions_tests.tests`` in the source distribution of
the installed Django (see ``tests/django_source.py``), so the suite follows the
Django version under test, its async session tests included.

Django's ``SessionMiddlewareTests`` are not among them: one of them reads the
database engine's table directly. ``tests/test_sessions.py`` drives the
middleware with this engine instead.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import caches
from django.test import SimpleTestCase
from sessions_tests import tests as django_session_tests

from django_async_redis.cache import RedisCache
from django_async_redis.sessions import SessionStore


class RedisSessionTests(django_session_tests.SessionTestsMixin, SimpleTestCase):
    backend = SessionStore


class DjangoCacheSessionTests(django_session_tests.CacheSessionTests):
    pass


class DjangoCacheDBSessionTests(django_session_tests.CacheDBSessionTests):
    pass


class DjangoCacheDBSessionWithTimeZoneTests(django_session_tests.CacheDBSessionWithTimeZoneTests):
    pass


def test_default_cache_is_this_project() -> None:
    """The cache-engine classes above exercise our cache, not some other backend."""
    if settings.CACHES["default"]["BACKEND"] != "django_async_redis.cache.RedisCache":
        # tests/settings.py's TEST_CACHE_BACKEND comparison mode: nothing to assert.
        return
    assert isinstance(caches["default"], RedisCache)
