"""Our page caching beyond Django's suite: the async path really is async, and
pages are shared with Django's own middleware (same keys, same stored form)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator
from typing import Any

import asgiref.sync
import pytest
import redis
from asgiref.sync import iscoroutinefunction
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.middleware import cache as django_middleware
from django.template import engines
from django.template.response import TemplateResponse
from django.test import AsyncClient, AsyncRequestFactory, RequestFactory, override_settings
from django.urls import path
from django.views.decorators.cache import cache_page as django_cache_page

from django_async_redis import middleware
from django_async_redis.decorators import cache_page
from django_async_redis.pagecache import aget_cache_key, alearn_cache_key

OURS = [
    "django_async_redis.middleware.UpdateCacheMiddleware",
    "django_async_redis.middleware.FetchFromCacheMiddleware",
]
DJANGOS = [
    "django.middleware.cache.UpdateCacheMiddleware",
    "django.middleware.cache.FetchFromCacheMiddleware",
]
served: list[str] = []


async def async_page(request: HttpRequest) -> HttpResponse:
    served.append("async")
    return HttpResponse(f"async page {len(served)}")


def sync_page(request: HttpRequest) -> HttpResponse:
    served.append("sync")
    return HttpResponse(f"sync page {len(served)}")


async def async_template_page(request: HttpRequest) -> TemplateResponse:
    served.append("template")
    template = engines["django"].from_string("template page {{ n }}")
    return TemplateResponse(request, template, {"n": len(served)})


urlpatterns = [
    path("async/", async_page),
    path("sync/", sync_page),
    path("template/", async_template_page),
    path("decorated/", cache_page(30)(async_page)),
]

TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates"}]


@pytest.fixture(autouse=True)
def _clean(flushed_redis: redis.Redis) -> Iterator[None]:
    served.clear()
    with override_settings(ROOT_URLCONF=__name__, TEMPLATES=TEMPLATES):
        yield


class HopCounter:
    """Counts every ``sync_to_async`` call made while it is installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        original = asgiref.sync.SyncToAsync.__call__

        def counted(this: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls.append(getattr(this.func, "__qualname__", repr(this.func)))
            return original(this, *args, **kwargs)

        monkeypatch.setattr(asgiref.sync.SyncToAsync, "__call__", counted)


def _hops_per_request(monkeypatch: pytest.MonkeyPatch, stack: list[str], url: str) -> list[int]:
    caches["default"].clear()  # the stacks share keys: each starts from a miss
    counter = HopCounter(monkeypatch)
    counts = []

    async def requests() -> None:
        client = AsyncClient()
        for _ in range(3):
            before = len(counter.calls)
            response = await client.get(url)
            assert response.status_code == 200
            counts.append(len(counter.calls) - before)

    with override_settings(MIDDLEWARE=stack, CACHE_MIDDLEWARE_SECONDS=30):
        asyncio.run(requests())
    return counts


def test_asgi_middleware_adds_no_thread_hop(monkeypatch: pytest.MonkeyPatch) -> None:
    # Django's handler itself hops for its signal receivers: that is the baseline.
    baseline = _hops_per_request(monkeypatch, [], "/async/")
    ours = _hops_per_request(monkeypatch, OURS, "/async/")
    djangos = _hops_per_request(monkeypatch, DJANGOS, "/async/")
    assert served.count("async") == 3 + 1 + 1  # each cached stack ran the view once
    assert ours == baseline
    # Django's middleware: process_request and process_response in a thread each.
    assert [d - b for d, b in zip(djangos, baseline, strict=True)] == [2, 2, 2]


def test_async_view_and_middleware_use_no_executor_or_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counter = HopCounter(monkeypatch)
    started: list[threading.Thread] = []
    original_start = threading.Thread.start

    def recording_start(self: threading.Thread) -> None:
        started.append(self)
        original_start(self)

    class RefusingExecutor(concurrent.futures.ThreadPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"{fn!r} was sent to an executor")

    view = cache_page(30)(async_page)
    stack = middleware.CacheMiddleware(async_page)
    assert iscoroutinefunction(view) and iscoroutinefunction(stack)

    async def scenario() -> list[bytes]:
        asyncio.get_running_loop().set_default_executor(RefusingExecutor(max_workers=1))
        monkeypatch.setattr(threading.Thread, "start", recording_start)
        factory = AsyncRequestFactory()
        bodies = []
        for _ in range(2):
            bodies.append((await view(factory.get("/v/"))).content)
            bodies.append((await stack(factory.get("/m/"))).content)
        # Before asyncio.run's own shutdown, which starts a thread of its own.
        monkeypatch.setattr(threading.Thread, "start", original_start)
        return bodies

    assert asyncio.run(scenario()) == [b"async page 1", b"async page 2"] * 2
    assert counter.calls == []
    assert started == []


def test_pages_are_shared_with_djangos_middleware() -> None:
    """Same keys and stored form: a page either stores, the other serves."""
    sync_request = RequestFactory().get("/shared/")
    djangos_view = django_cache_page(30)(sync_page)
    assert djangos_view(sync_request).content == b"sync page 1"

    async def read_through_ours() -> bytes:
        return (await cache_page(30)(async_page)(AsyncRequestFactory().get("/shared/"))).content

    assert asyncio.run(read_through_ours()) == b"sync page 1"

    async def store_through_ours() -> None:
        await cache_page(30, key_prefix="p")(async_page)(AsyncRequestFactory().get("/other/"))

    asyncio.run(store_through_ours())
    again = django_cache_page(30, key_prefix="p")(sync_page)(RequestFactory().get("/other/"))
    assert again.content == b"async page 2"
    assert served == ["sync", "async"]


def test_key_twins_build_djangos_keys() -> None:
    from django.utils.cache import get_cache_key, learn_cache_key

    request = RequestFactory().get("/keys/?a=1", HTTP_ACCEPT_ENCODING="gzip")
    response = HttpResponse()
    response["Vary"] = "Accept-Encoding, Cookie"
    cache = caches["default"]
    expected = learn_cache_key(request, response, 30, "k", cache=cache)
    assert get_cache_key(request, "k", cache=cache) == expected
    cache.clear()

    async def twins() -> tuple[str, str | None, str | None]:
        learned = await alearn_cache_key(request, response, 30, "k", cache=cache)
        return learned, await aget_cache_key(request, "k"), await aget_cache_key(request, "x")

    assert asyncio.run(twins()) == (expected, expected, None)
    assert get_cache_key(request, "k", cache=cache) == expected  # what ours stored, Django reads


def test_template_response_of_async_view_is_stored_once_rendered() -> None:
    async def requests() -> list[bytes]:
        client = AsyncClient()
        return [(await client.get("/template/")).content for _ in range(2)]

    with override_settings(MIDDLEWARE=OURS, CACHE_MIDDLEWARE_SECONDS=30):
        assert asyncio.run(requests()) == [b"template page 1"] * 2
    view = cache_page(30)(async_template_page)

    async def decorated() -> list[Any]:
        responses = []
        for _ in range(2):
            response = await view(AsyncRequestFactory().get("/t2/"))
            if not response.is_rendered:
                # Django renders in sync code: do as its handler does.
                response = await asgiref.sync.sync_to_async(response.render)()
            responses.append(response.content)
        return responses

    assert asyncio.run(decorated()) == [b"template page 2"] * 2


def test_decorated_async_view_under_asgi() -> None:
    async def requests() -> list[Any]:
        client = AsyncClient()
        first = await client.get("/decorated/")
        second = await client.get("/decorated/")
        head = await client.head("/decorated/")
        post = await client.post("/decorated/")
        return [first, second, head, post]

    first, second, head, post = asyncio.run(requests())
    assert first.content == second.content == b"async page 1"
    assert first["Cache-Control"] == "max-age=30" and "Expires" in first
    # As Django's own middleware (since 5.0): a page served from the cache says its Age.
    assert "Age" in second
    assert head.status_code == 200
    assert post.content == b"async page 2"  # POST is never served from the cache


def test_middleware_protocol() -> None:
    async def async_response(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    def sync_response(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    for cls in (
        middleware.CacheMiddleware,
        middleware.FetchFromCacheMiddleware,
        middleware.UpdateCacheMiddleware,
    ):
        assert cls.sync_capable and cls.async_capable
        assert iscoroutinefunction(cls(async_response)) is True
        assert iscoroutinefunction(cls(sync_response)) is False
        assert issubclass(cls, getattr(django_middleware, cls.__name__))
        with pytest.raises(ValueError, match="get_response must be provided"):
            cls(None)  # type: ignore[arg-type]
    assert iscoroutinefunction(cache_page(1)(async_response))
    assert not iscoroutinefunction(cache_page(1)(sync_response))


def test_unreachable_cache_fails_the_request_loudly_or_serves_uncached() -> None:
    dead = {"BACKEND": "django_async_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1"}
    caches_setting = {
        "default": {**dead, "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5}},
        "tolerant": {
            **dead,
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "LOG_IGNORED_EXCEPTIONS": False},
        },
    }

    async def call(alias: str) -> bytes:
        view = cache_page(30, cache=alias)(async_page)
        return (await view(AsyncRequestFactory().get("/dead/"))).content

    with override_settings(CACHES=caches_setting):
        with pytest.raises(redis.exceptions.ConnectionError):
            asyncio.run(call("default"))
        assert asyncio.run(call("tolerant")) == b"async page 1"
        assert asyncio.run(call("tolerant")) == b"async page 2"
