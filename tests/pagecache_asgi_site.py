"""A small Django project, settings to views in one module, that
tests/test_pagecache_asgi.py serves with real ASGI servers (uvicorn, hypercorn).

Pages: a page cached with our ``cache_page`` (an async view), the same view
uncached (the baseline), a template with a ``{% cache %}`` fragment, and a
session counter written through the session engine's async API. ``/counters/``
reports what the process did: renders, ``sync_to_async`` calls and threads
started, all of them and those started by this project's code (a call with a
frame of the ``django_async_redis`` package on its stack).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import asgiref.sync
from django.http import HttpRequest, HttpResponse, JsonResponse

# The URL patterns below build our cache_page, which reads the settings: they
# are this module, already holding the names above it by then.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", __name__)

SECRET_KEY = "pagecache-asgi-site"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = __name__
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, Any] = {}
MIDDLEWARE: list[str] = []
USE_TZ = True
CACHES = {
    "default": {
        "BACKEND": "django_async_redis.cache.RedisCache",
        "LOCATION": os.environ.get("SITE_CACHE_URL", "redis://127.0.0.1:6379/0"),
        "KEY_PREFIX": os.environ.get("SITE_KEY_PREFIX", "site"),
    }
}
SESSION_ENGINE = "django_async_redis.sessions"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates"}]

# What the process did, for /counters/ (counted from the moment this module loads).
counts = {
    "renders": 0,
    "fragments": 0,
    "sync_to_async": 0,
    "threads_started": 0,
    "ours_sync_to_async": 0,
    "ours_threads_started": 0,
}
_original_sync_to_async_call = asgiref.sync.SyncToAsync.__call__
_original_thread_start = threading.Thread.start


def _package_dir() -> str:
    import django_async_redis

    return os.path.dirname(django_async_redis.__file__) + os.sep


_OURS = _package_dir()


def _called_from_ours() -> bool:
    """Whether a frame of this project's package is on the caller's stack.

    A coroutine's frames are on the stack while it runs, so a thread or a
    sync_to_async started from within our cache_page, cache or session code is
    ours, and one Django's handler starts around a view is not.
    """
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith(_OURS):
            return True
        frame = frame.f_back
    return False


def _counted_sync_to_async(self: Any, *args: Any, **kwargs: Any) -> Any:
    counts["sync_to_async"] += 1
    if _called_from_ours():
        counts["ours_sync_to_async"] += 1
    return _original_sync_to_async_call(self, *args, **kwargs)


def _counted_start(self: threading.Thread) -> None:
    counts["threads_started"] += 1
    if _called_from_ours():
        counts["ours_threads_started"] += 1
    _original_thread_start(self)


asgiref.sync.SyncToAsync.__call__ = _counted_sync_to_async  # type: ignore[method-assign]
threading.Thread.start = _counted_start  # type: ignore[method-assign]


async def page(request: HttpRequest) -> HttpResponse:
    counts["renders"] += 1
    return HttpResponse(f"page rendered {counts['renders']} times")


def fragment(request: HttpRequest) -> HttpResponse:
    from django.template import engines

    def expensive() -> str:
        counts["fragments"] += 1
        return "fragment body"

    template = engines["django"].from_string(
        "{% load cache %}{% cache 60 box %}{{ body }}{% endcache %}"
    )
    return HttpResponse(template.render({"body": expensive}))


async def session_counter(request: HttpRequest) -> HttpResponse:
    from django.conf import settings
    from django.contrib.sessions.backends.base import SessionBase
    from django.utils.module_loading import import_string

    store: SessionBase = import_string(settings.SESSION_ENGINE + ".SessionStore")(
        request.COOKIES.get("sessionid")
    )
    visits = await store.aget("visits", 0) + 1
    await store.aset("visits", visits)
    await store.asave()
    response = HttpResponse(str(visits))
    response.set_cookie("sessionid", store.session_key)
    return response


async def counters(request: HttpRequest) -> JsonResponse:
    return JsonResponse({**counts, "threads_alive": threading.active_count()})


def _urls() -> list[Any]:
    from django.urls import path

    from django_async_redis.decorators import cache_page

    return [
        path("cached/", cache_page(60)(page)),
        path("plain/", page),
        path("fragment/", fragment),
        path("session/", session_counter),
        path("counters/", counters),
    ]


urlpatterns = _urls()


def _application() -> Any:
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


application = _application()
