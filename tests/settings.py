"""Django settings for the test suite.

The cache server URL comes from ``tests/conftest.py`` (which starts the server
before Django is set up) through ``DJANGO_ASYNC_REDIS_TEST_URL``; imported on
its own, this module starts the session server itself. ``TEST_CACHE_BACKEND``
swaps the backend class, e.g. to Django's built-in
``django.core.cache.backends.redis.RedisCache`` for comparison.
"""

from __future__ import annotations

import os

from tests import django_source, servers

DEFAULT_BACKEND = "django_async_redis.cache.RedisCache"

django_source.add_django_tests_to_path()

SECRET_KEY = "django-async-redis-tests"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    # tests/test_admin*.py: the admin's Cache section (its URLs, middleware and
    # templates are set by those tests, so nothing changes for the others).
    "django.contrib.admin",
    "django.contrib.messages",
    "django_async_redis.admin",
    # Django's own test apps, from the downloaded source distribution.
    "cache",
    "sessions_tests",
]

CACHE_BACKEND = os.environ.get("TEST_CACHE_BACKEND") or DEFAULT_BACKEND
CACHE_URL = os.environ.get(servers.TEST_URL_ENV) or servers.session_server().url()

CACHES = {"default": {"BACKEND": CACHE_BACKEND, "LOCATION": CACHE_URL}}
