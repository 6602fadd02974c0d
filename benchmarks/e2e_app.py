"""A one-view Django ASGI project: every request reads the cache with ``aget``.

Served by uvicorn (``benchmarks.e2e_app:application``); the cache backend comes
as JSON in ``BENCH_CACHE``. No middleware, no database: the cache read, Django's
request cycle (including the ``close()`` of caches it runs after each request)
and the server are all that is measured.
"""

from __future__ import annotations

import json
import os

from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="benchmarks",
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    USE_TZ=True,
    CACHES={"default": json.loads(os.environ["BENCH_CACHE"])},
    LOGGING_CONFIG=None,
)

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

from benchmarks.workloads import value_for  # noqa: E402

KEY = "e2e:page"
VALUE = value_for(42)


async def page(request: HttpRequest) -> HttpResponse:
    value = await cache.aget(KEY)
    if value is None:  # first request only: the value has a 300 s timeout
        await cache.aset(KEY, VALUE)
        value = VALUE
    response = HttpResponse(value["title"].encode(), content_type="text/plain")
    # Set as CommonMiddleware would (there is no middleware here): without it
    # uvicorn answers chunked, which the Python load generator does not read.
    response["Content-Length"] = str(len(response.content))
    return response


urlpatterns = [path("", page)]
application = get_asgi_application()
