"""django-debug-toolbar's cache panel, recording the async calls too.

The toolbar's own ``CachePanel`` wraps the sync methods of every cache a
request uses (``get``, ``set``...), so it records our sync calls as they are.
It knows nothing of ``aget``, ``aset`` and the other ``a*`` methods, which
async views call. This panel is that panel, plus the same wrapping of our
``a*`` methods: each call is recorded under its sync name's counter (so the
hits and misses add up) and listed under its own name (``aget``), with
``async`` beside the backend. Use it in place of the stock one:

    DEBUG_TOOLBAR_PANELS = [..., "django_async_redis.toolbar.CachePanel", ...]

A call made from inside another recorded call (``aget_or_set`` reading its
value, say) is not recorded twice; concurrent calls of one task group are
each recorded. Only a request the toolbar instruments pays anything.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from debug_toolbar.panels import cache as stock
from debug_toolbar.utils import get_stack_trace, get_template_info
from django.core.cache import CacheHandler
from django.core.cache.backends.base import BaseCache

from .cache import RedisCache

# Our async method -> the stock panel's counter it adds to.
ASYNC_METHODS = {f"a{name}": name for name in stock.WRAPPED_CACHE_METHODS}

# Set while a recorded call runs in this task: calls it makes are not recorded again.
_inside: ContextVar[bool] = ContextVar("django_async_redis_toolbar_inside", default=False)


def _record_async(cache: RedisCache, alias: str, name: str) -> None:
    original: Callable[..., Awaitable[Any]] = getattr(cache, name)
    counter = ASYNC_METHODS[name]

    @functools.wraps(original)
    async def recorded(*args: Any, **kwargs: Any) -> Any:
        panel = getattr(cache, "_djdt_panel", None)
        if panel is None or _inside.get():
            return await original(*args, **kwargs)
        token = _inside.set(True)
        try:
            started = perf_counter()
            value = await original(*args, **kwargs)
            took = perf_counter() - started
        finally:
            _inside.reset(token)
        panel._store_call_info(
            name=counter,
            time_taken=took,
            return_value=value,
            args=args,
            kwargs=kwargs,
            trace=get_stack_trace(skip=2),
            template_info=get_template_info(),
            backend=f"{alias} ({type(cache).__name__}, async)",
        )
        panel.calls[-1]["name"] = name
        return value

    setattr(cache, name, recorded)


def instrument(cache: Any, alias: str) -> None:
    """Wrap ``cache``'s async methods once, if it is one of ours."""
    if isinstance(cache, RedisCache) and not getattr(cache, "_djdt_async", False):
        for name in ASYNC_METHODS:
            _record_async(cache, alias, name)
        setattr(cache, "_djdt_async", True)  # noqa: B010 - a marker, not an attribute of ours


class CachePanel(stock.CachePanel):
    """The toolbar's cache panel, with our async calls recorded."""

    @classmethod
    def ready(cls) -> None:
        super().ready()
        if getattr(CacheHandler, "_django_async_redis_toolbar", False):
            return
        # Caches first used during an instrumented request (under ASGI, Django
        # builds one per request context) are wrapped as they are made, as the
        # stock panel does for the sync methods.
        made = CacheHandler.create_connection

        @functools.wraps(made)
        def create_connection(handler: CacheHandler, alias: str) -> BaseCache:
            cache = made(handler, alias)
            if cls.current_instance() is not None:
                instrument(cache, alias)
            return cache

        # Patching Django's handler, as the toolbar's own panel does (typed
        # as Any: no stubs release can make this line wrong or its ignore unused).
        handler: Any = CacheHandler
        handler.create_connection = create_connection
        handler._django_async_redis_toolbar = True

    def enable_instrumentation(self) -> None:
        super().enable_instrumentation()
        for cache, alias in self.initialized_caches():
            instrument(cache, alias)
