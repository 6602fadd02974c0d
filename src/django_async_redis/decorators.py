"""``cache_page`` that awaits the cache on async views.

Django's ``cache_page`` runs the cache middleware's sync methods even around an
async view, so every cached request blocks the event loop on two or three
cache round trips. This one takes the same arguments; on a sync view it is
Django's decorator exactly (built on our :class:`CacheMiddleware`), on an async
view it awaits the middleware's async twins instead.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import decorator_from_middleware_with_args

from .middleware import CacheMiddleware

__all__ = ["cache_page"]

View = Callable[..., Any]


def cache_page(
    timeout: float | None, *, cache: str | None = None, key_prefix: str | None = None
) -> Callable[[View], View]:
    """Cache the view's responses for ``timeout`` seconds (Django's arguments and keys)."""
    sync_decorator = decorator_from_middleware_with_args(CacheMiddleware)(
        page_timeout=timeout, cache_alias=cache, key_prefix=key_prefix
    )

    def decorator(view: View) -> View:
        if not iscoroutinefunction(view):
            return sync_decorator(view)
        middleware = CacheMiddleware(
            view, page_timeout=timeout, cache_alias=cache, key_prefix=key_prefix
        )
        return _async_view(view, middleware)

    return decorator


def _async_view(view: Callable[..., Awaitable[Any]], middleware: CacheMiddleware) -> View:
    @functools.wraps(view)
    async def cached_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        cached = await middleware.aprocess_request(request)
        if cached is not None:
            return cached
        response = await view(request, *args, **kwargs)
        render = getattr(response, "render", None)
        if callable(render) and not getattr(response, "is_rendered", True):
            # As Django does: store it once rendered, so template-response
            # middleware further out may still change it. Django renders in
            # sync code (a worker thread under ASGI), where the sync API belongs.
            response.add_post_render_callback(
                lambda rendered: middleware.process_response(request, rendered)
            )
            return response
        processed: HttpResponseBase = await middleware.aprocess_response(request, response)
        return processed

    return cached_view
