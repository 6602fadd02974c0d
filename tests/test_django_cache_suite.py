"""Django's own ``BaseCacheTests``, unmodified, against the configured backend.

Configured the way Django's ``RedisCacheTests`` configures the built-in Redis
backend: every cache alias of ``caches_setting_for_tests`` except the culling
ones, since Redis evicts by its own policy and has no MAX_ENTRIES. The three
cull tests therefore skip themselves ("Culling isn't implemented."), exactly
as they do for Django's Redis backend. Only generic facts are mirrored from
``RedisCacheTests``; its methods about Django's own client class are not ours.
"""

from __future__ import annotations

from typing import Any

import redis
from cache.tests import BaseCacheTests, caches_setting_for_tests
from django.conf import settings
from django.test import TestCase, override_settings

# Aliases Django's RedisCacheTests leaves out: Redis does not cull.
REDIS_EXCLUDED_CACHES = {"cull", "zero_cull"}


def suite_caches(base: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The CACHES setting for the suite: the test server (or ``base``) under every alias."""
    return caches_setting_for_tests(
        base=base or settings.CACHES["default"], exclude=REDIS_EXCLUDED_CACHES
    )


@override_settings(CACHES=suite_caches())
class DjangoCacheSuiteTests(BaseCacheTests, TestCase):
    # INCR of a pickled non-integer is refused by the server; callers get
    # redis-py's ResponseError, as with Django's own Redis backend.
    incr_decr_type_error = redis.exceptions.ResponseError
