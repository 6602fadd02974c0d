"""The site of tests/test_toolbar.py: two views using the cache, sync and async, and the toolbar."""

from __future__ import annotations

from debug_toolbar.toolbar import debug_toolbar_urls
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.urls import path

PAGE = "<html><body><p>{}</p></body></html>"


def sync_view(request: HttpRequest) -> HttpResponse:
    cache.set("toolbar:sync", "s")
    found = cache.get("toolbar:sync")
    missing = cache.get("toolbar:missing")
    return HttpResponse(PAGE.format(f"{found} {missing}"))


async def async_view(request: HttpRequest) -> HttpResponse:
    await cache.aset("toolbar:async", "a")
    found = await cache.aget("toolbar:async")
    missing = await cache.aget("toolbar:missing")
    many = await cache.aget_many(["toolbar:async", "toolbar:nothing"])
    # get_or_set reads and writes inside: recorded once, as the call it is.
    made = await cache.aget_or_set("toolbar:made", "m")
    return HttpResponse(PAGE.format(f"{found} {missing} {many} {made}"))


urlpatterns = [
    path("sync/", sync_view),
    path("async/", async_view),
    *debug_toolbar_urls(),
]
