"""Cache middleware that stays on the event loop under ASGI.

Drop-in for ``django.middleware.cache``: the same classes, settings and
arguments. Under WSGI (a sync ``get_response``) they are Django's middleware,
unchanged. Under ASGI, Django's ``MiddlewareMixin`` would run
``process_request`` and ``process_response`` in a worker thread through
``sync_to_async``; these run Django's very same methods on the loop instead,
with the cache reads and writes done by ``aget`` / ``aset`` (see
:mod:`django_async_redis.pagecache`)::

    MIDDLEWARE = [
        "django_async_redis.middleware.UpdateCacheMiddleware",
        ...
        "django_async_redis.middleware.FetchFromCacheMiddleware",
    ]
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, cast

from django.core.cache import BaseCache, caches
from django.http import HttpRequest, HttpResponseBase
from django.middleware import cache as django_cache

from .pagecache import DeferredCache, arun_deferred

__all__ = ["CacheMiddleware", "FetchFromCacheMiddleware", "UpdateCacheMiddleware"]


# While Django's own process_request/process_response run for an async
# request, ``self.cache`` is the run's DeferredCache. A context variable, not
# an attribute: one middleware instance serves every concurrent request, and
# each task sees only its own run. The runs are plain sync code (no await in
# them), so nothing else interleaves while one is set.
_deferred: ContextVar[DeferredCache | None] = ContextVar(
    "django_async_redis_deferred", default=None
)


class _AsyncCacheIO:
    """Gives the middleware's sync methods a stand-in cache while the async path runs them."""

    cache_alias: str

    @property
    def cache(self) -> Any:
        deferred = _deferred.get()
        return caches[self.cache_alias] if deferred is None else deferred

    @property
    def real_cache(self) -> BaseCache:
        return caches[self.cache_alias]

    async def _adeferred(self, method: Callable[..., Any], *args: Any) -> Any:
        def run(deferred: DeferredCache) -> Any:
            token = _deferred.set(deferred)
            try:
                return method(*args)
            finally:
                _deferred.reset(token)

        return await arun_deferred(run, self.real_cache)


class UpdateCacheMiddleware(_AsyncCacheIO, django_cache.UpdateCacheMiddleware):
    """Stores cacheable responses: Django's rules, ``aset`` on the async path."""

    get_response: Callable[[HttpRequest], Any]

    async def aprocess_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        # A response still to be rendered is stored by Django's post-render
        # callback, which reads self.cache when it runs: after this run, so it
        # gets the real cache, in the sync context the render happens in.
        # Django's stubs let process_response take and give a str as well.
        processed = await self._adeferred(self.process_response, request, response)
        return cast(HttpResponseBase, processed)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.get_response(request)
        return await self.aprocess_response(request, response)


class FetchFromCacheMiddleware(_AsyncCacheIO, django_cache.FetchFromCacheMiddleware):
    """Answers from the cache when it can: Django's rules, ``aget`` on the async path."""

    get_response: Callable[[HttpRequest], Any]

    async def aprocess_request(self, request: HttpRequest) -> HttpResponseBase | None:
        cached = await self._adeferred(self.process_request, request)
        return cast("HttpResponseBase | None", cached)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.aprocess_request(request)
        return response or await self.get_response(request)


class CacheMiddleware(
    UpdateCacheMiddleware, FetchFromCacheMiddleware, django_cache.CacheMiddleware
):
    """Both halves in one (what ``cache_page`` uses), with Django's constructor arguments."""

    def __init__(
        self,
        get_response: Callable[[HttpRequest], Any],
        cache_timeout: float | None = None,
        page_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(get_response, cache_timeout, page_timeout, **kwargs)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.aprocess_request(request)
        response = response or await self.get_response(request)
        return await self.aprocess_response(request, response)
