"""The small Django site of the HTTP load test (``benchmarks/http_load.py``).

One project, served as ASGI (``benchmarks.e2e_site:application``: uvicorn,
granian) and as WSGI (``benchmarks.e2e_site:wsgi_application``: gunicorn). Its
views read like a real site's:

* ``/page/`` (async): three ``aget`` and one ``aset``, as a page that reads
  a few cached fragments and records something;
* ``/page-sync/``: the same with ``get`` and ``set``, for the WSGI servers;
* ``/cached/`` (async): a page behind ``cache_page``. With our backend it is
  our ``django_async_redis.decorators.cache_page`` (it awaits the cache), with
  every other backend Django's (it calls the cache's sync methods around the
  async view), as each backend's users would write it;
* ``/session/`` (async): loads the session named by the ``sessionid`` cookie
  and answers with what it holds. ``SESSION_ENGINE`` is
  ``django_async_redis.sessions`` for ours, Django's cache engine
  (``django.contrib.sessions.backends.cache``) for the others;
* ``/setup/`` (async) and ``/setup-sync/``: write the three values the pages
  read and create the session; answer with the session's key (the load
  generator sends it as a cookie).

The cache comes as JSON in ``BENCH_CACHE``; ``BENCH_OURS=1`` picks our
session engine and ``cache_page``. No database, and no middleware: each view
does its own cache and session work, so what is measured is that work,
Django's request cycle and the server.
"""

from __future__ import annotations

import itertools
import json
import os

from django.conf import settings

OURS = os.environ.get("BENCH_OURS") == "1"

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="benchmarks-e2e-site",
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    USE_TZ=True,
    CACHES={"default": json.loads(os.environ["BENCH_CACHE"])},
    SESSION_ENGINE=(
        "django_async_redis.sessions" if OURS else "django.contrib.sessions.backends.cache"
    ),
    # A view's exception as one stderr line per frame: the runner reports the last.
    LOGGING={
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stderr": {"class": "logging.StreamHandler"}},
        "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
    },
)

import django  # noqa: E402

django.setup(set_prefix=False)

from importlib import import_module  # noqa: E402

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

from benchmarks.workloads import value_for  # noqa: E402

if OURS:
    from django_async_redis.decorators import cache_page
else:
    from django.views.decorators.cache import cache_page

KEYS = ("site:header", "site:menu", "site:footer")
VALUES = {key: value_for(i) for i, key in enumerate(KEYS)}
SESSION_USER = "bench-user"
SessionStore = import_module(settings.SESSION_ENGINE).SessionStore
_renders = itertools.count(1)  # how many times /cached/ ran its view


def _text(body: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(body.encode(), content_type="text/plain", status=status)
    # As CommonMiddleware would: without it uvicorn answers chunked.
    response["Content-Length"] = str(len(response.content))
    return response


def _page_body(values: list) -> str:
    missing = [key for key, value in zip(KEYS, values, strict=True) if value is None]
    if missing:
        return f"missing {missing}"
    return " | ".join(value["title"] for value in values)


async def page(request: HttpRequest) -> HttpResponse:
    values = [await cache.aget(key) for key in KEYS]
    await cache.aset("site:last-visit", len(values), 300)
    return _text(_page_body(values), 200 if None not in values else 500)


def page_sync(request: HttpRequest) -> HttpResponse:
    values = [cache.get(key) for key in KEYS]
    cache.set("site:last-visit", len(values), 300)
    return _text(_page_body(values), 200 if None not in values else 500)


@cache_page(300)
async def cached(request: HttpRequest) -> HttpResponse:
    await cache.aget(KEYS[0])  # the page's own work, done once per cached copy
    return _text(f"cached page, render {next(_renders)}")


async def session(request: HttpRequest) -> HttpResponse:
    store = SessionStore(request.COOKIES.get("sessionid"))
    user = await store.aget("user")
    if user is None:
        return _text("no session", 403)
    return _text(f"hello {user}")


async def setup(request: HttpRequest) -> HttpResponse:
    for key, value in VALUES.items():
        await cache.aset(key, value, None)
    store = SessionStore()
    store["user"] = SESSION_USER
    await store.asave(must_create=True)
    return _text(store.session_key)


def setup_sync(request: HttpRequest) -> HttpResponse:
    for key, value in VALUES.items():
        cache.set(key, value, None)
    store = SessionStore()
    store["user"] = SESSION_USER
    store.save(must_create=True)
    return _text(store.session_key)


urlpatterns = [
    path("page/", page),
    path("page-sync/", page_sync),
    path("cached/", cached),
    path("session/", session),
    path("setup/", setup),
    path("setup-sync/", setup_sync),
]
application = get_asgi_application()
wsgi_application = get_wsgi_application()
