"""Django's own cache-middleware and ``cache_page`` tests, run against ours.

Django's test cases (from the installed version's sdist) name the middleware
classes, ``cache_page`` and ``learn_cache_key`` / ``get_cache_key`` as globals
of their modules, and configure LocMemCache. Each case here is Django's class,
unchanged, with:

* CACHES: the same aliases and parameters on our backend and the test server
  (an alias LocMemCache kept apart by its LOCATION is kept apart by a
  KEY_PREFIX of its own);
* those globals swapped, for the duration of each test, for ours.

Twice: **sync**, where the globals are our classes as they are (the sync path,
WSGI style), and **async**, where each is a stand-in that builds our class
around an async ``get_response`` / async view and drives its async path (the
``__acall__``, ``aprocess_request``, ``aprocess_response``, the async
``cache_page`` wrapper, ``alearn_cache_key`` / ``aget_cache_key``) to
completion on a loop the test owns. In the async run the backend's sync
``get``/``set`` are watched: a case fails if they were used.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import time
from collections.abc import Callable, Coroutine
from typing import Any
from unittest import mock

import cache.tests as django_cache_tests
from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import SimpleTestCase, override_settings

from django_async_redis import decorators, middleware, pagecache
from django_async_redis.cache import RedisCache

OUR_BACKEND = "django_async_redis.cache.RedisCache"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]

# Django's cases that exercise the middleware, cache_page or the key helpers.
CACHE_TESTS_CASES = (
    "CacheMiddlewareTest",
    "CacheI18nTest",
    "PrefixedCacheI18nTest",
    "CacheHEADTest",
    "CacheUtils",
    "PrefixedCacheUtils",
    "TestWithTemplateResponse",
)


def redis_caches(django_caches: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Django's CACHES for a case, every alias on our backend and the test server."""
    url = settings.CACHES["default"]["LOCATION"]
    ours = {}
    for alias, entry in django_caches.items():
        params = {k: v for k, v in entry.items() if k not in ("BACKEND", "LOCATION")}
        if alias != "default":
            # LocMemCache's LOCATION gave the alias a store of its own.
            params.setdefault("KEY_PREFIX", alias)
        ours[alias] = {**params, "BACKEND": OUR_BACKEND, "LOCATION": url}
    return ours


# Django's cases that sleep exactly as long as the timeout they wait out.
# Redis keeps expiry in whole milliseconds and a key lives until its expiry
# time is strictly past, so a read 1000.x ms after a 1 s write may still find
# it (LocMemCache compares float seconds). Those cases sleep 0.25 s longer
# here; which side of each timeout every read lands on is unchanged.
SLEEPS_AT_THE_EDGE = {"test_cache_page_timeout"}


class PatientTime:
    """The ``time`` module as such a case sees it: ``sleep`` a little longer."""

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds + 0.25)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


Swaps = Callable[[SimpleTestCase], dict[str, Any]]


def against_ours(case: type[SimpleTestCase], swaps: Swaps) -> type:
    """Django's ``case`` on our backend, with the module globals ``swaps`` names swapped.

    Only the globals the case's module has are swapped.
    """
    module = __import__(case.__module__, fromlist=["_"])
    overridden = getattr(case, "_overridden_settings", None) or {}
    caches = overridden.get("CACHES") or {"default": {}}

    # LANGUAGE_CODE, USE_TZ and TEMPLATES: what Django's runtests.py and
    # test_sqlite.py set for its suite.
    @override_settings(
        CACHES=redis_caches(caches), LANGUAGE_CODE="en", USE_TZ=False, TEMPLATES=TEMPLATES
    )
    class Ours(case):  # type: ignore[valid-type,misc]
        def setUp(self) -> None:
            # As Django's test client does: a response closed by the case would
            # otherwise make close_old_connections touch the database, which
            # pytest-django refuses in a SimpleTestCase once a TestCase opened it.
            request_finished.disconnect(close_old_connections)
            self.addCleanup(request_finished.connect, close_old_connections)
            if self._testMethodName in SLEEPS_AT_THE_EDGE and hasattr(module, "time"):
                patcher = mock.patch.object(module, "time", PatientTime())
                patcher.start()
                self.addCleanup(patcher.stop)
            for name, replacement in swaps(self).items():
                if not hasattr(module, name):
                    continue
                patcher = mock.patch.object(module, name, replacement)
                patcher.start()
                self.addCleanup(patcher.stop)
            super().setUp()

    return Ours


# sync: our classes as they are ---------------------------------------------------

SYNC_SWAPS = {
    "CacheMiddleware": middleware.CacheMiddleware,
    "FetchFromCacheMiddleware": middleware.FetchFromCacheMiddleware,
    "UpdateCacheMiddleware": middleware.UpdateCacheMiddleware,
    "cache_page": decorators.cache_page,
}


def _sync_swaps(test: SimpleTestCase) -> dict[str, Any]:
    return SYNC_SWAPS


for _name in CACHE_TESTS_CASES:
    globals()[f"Sync{_name}"] = against_ours(getattr(django_cache_tests, _name), _sync_swaps)


def _django_cache_page_case() -> type[SimpleTestCase]:
    """Django's cache_page case, from its decorators tests.

    Returned, never kept in a module global: pytest would collect Django's own class.
    """
    case: type[SimpleTestCase] = importlib.import_module(
        "decorators.test_cache"
    ).CachePageDecoratorTest
    return case


SyncCachePageDecoratorTest = against_ours(_django_cache_page_case(), _sync_swaps)


# async: stand-ins that drive our async paths -------------------------------------

Runner = Callable[[Coroutine[Any, Any, Any]], Any]
async_paths_taken: set[str] = set()


def _as_async(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as an async view / get_response (so ours takes its async path)."""

    async def call(request: Any, *args: Any, **kwargs: Any) -> Any:
        return function(request, *args, **kwargs)

    return call


class DrivenMiddleware:
    """Our middleware in async mode; its sync-looking calls run the async path to the end."""

    def __init__(self, target: Any, run: Runner) -> None:
        assert iscoroutinefunction(target.__acall__)
        self._target = target
        self._run = run

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def process_request(self, request: Any) -> Any:
        async_paths_taken.add("aprocess_request")
        return self._run(self._target.aprocess_request(request))

    def process_response(self, request: Any, response: Any) -> Any:
        async_paths_taken.add("aprocess_response")
        return self._run(self._target.aprocess_response(request, response))

    def __call__(self, request: Any) -> Any:
        async_paths_taken.add("__acall__")
        return self._run(self._target(request))


def _driven_class(cls: type, run: Runner) -> Callable[..., DrivenMiddleware]:
    def build(get_response: Callable[..., Any], *args: Any, **kwargs: Any) -> DrivenMiddleware:
        return DrivenMiddleware(cls(_as_async(get_response), *args, **kwargs), run)

    return build


def _driven_cache_page(run: Runner) -> Callable[..., Any]:
    def cache_page(*args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            cached = decorators.cache_page(*args, **kwargs)(_as_async(view))
            assert iscoroutinefunction(cached)

            @functools.wraps(view)
            def call(request: Any, *a: Any, **kw: Any) -> Any:
                async_paths_taken.add("cache_page")
                return run(cached(request, *a, **kw))

            return call

        return decorator

    return cache_page


def _driven(function: Callable[..., Coroutine[Any, Any, Any]], run: Runner) -> Callable[..., Any]:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        async_paths_taken.add(function.__name__)
        return run(function(*args, **kwargs))

    return call


def _async_swaps(test: SimpleTestCase) -> dict[str, Any]:
    loop = asyncio.new_event_loop()

    def close() -> None:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    test.addCleanup(close)
    run = loop.run_until_complete
    _forbid_sync_io(test)
    return {
        "CacheMiddleware": _driven_class(middleware.CacheMiddleware, run),
        "FetchFromCacheMiddleware": _driven_class(middleware.FetchFromCacheMiddleware, run),
        "UpdateCacheMiddleware": _driven_class(middleware.UpdateCacheMiddleware, run),
        "cache_page": _driven_cache_page(run),
        "learn_cache_key": _driven(pagecache.alearn_cache_key, run),
        "get_cache_key": _driven(pagecache.aget_cache_key, run),
    }


def _forbid_sync_io(test: SimpleTestCase) -> None:
    """Fail the case if the backend's sync get/set ran (the async path must not use them)."""
    used: list[str] = []
    for name in ("get", "set", "get_many", "set_many"):
        original = getattr(RedisCache, name)

        def watched(
            self: Any, *args: Any, _name: str = name, _original: Any = original, **kw: Any
        ) -> Any:
            used.append(_name)
            return _original(self, *args, **kw)

        patcher = mock.patch.object(RedisCache, name, watched)
        patcher.start()
        test.addCleanup(patcher.stop)
    test.addCleanup(lambda: test.assertEqual(used, [], "the sync cache API was used"))


for _name in CACHE_TESTS_CASES:
    globals()[f"Async{_name}"] = against_ours(getattr(django_cache_tests, _name), _async_swaps)

AsyncCachePageDecoratorTest = against_ours(_django_cache_page_case(), _async_swaps)


def test_async_paths_were_taken() -> None:
    """Runs last in this module: the async run went through every async entry point."""
    if not async_paths_taken:
        import pytest

        pytest.skip("no async case ran (selected out)")
    assert async_paths_taken >= {
        "aprocess_request",
        "aprocess_response",
        "__acall__",
        "cache_page",
        "alearn_cache_key",
        "aget_cache_key",
    }
