"""django-ratelimit with our backend: its own test suite, concurrent hits, its keys, its checks.

What django-ratelimit needs from a cache (its docs: shared by every worker, an
atomic increment): each hit is ``add(key, 1, period + 5)`` and, when the key
exists, ``incr(key)``; the count ``incr`` answers decides. Ours sends ``add``
as one ``SET NX PX`` and ``incr`` as one short script (EXISTS, INCRBY, GET),
so the count is kept by the server and no two hits can read the same value.

django-ratelimit 4.1.0 has no async API: its decorator wraps sync views (an
async view is not supported), which run in a thread under ASGI and call our
sync API there; ``test_hits_served_through_asgi`` covers that path.

Its suite ships in the wheel (``django_ratelimit/tests.py``): its test classes
are imported below and run here against our backend, with the cache aliases
its own settings define: ``connection-errors`` and ``connection-errors-redis``
(ours on a closed port, ``IGNORE_EXCEPTIONS``) and ``instant-expiration``
(Django's DummyCache, as upstream: a cache that keeps nothing).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import django_ratelimit.tests as ratelimit_suite
import pytest
import redis
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, SimpleTestCase, override_settings
from django.urls import path
from django_ratelimit.checks import check_caches
from django_ratelimit.decorators import ratelimit

from tests import servers
from tests.third_party import BACKEND, assert_warns_and_silences, installed

# The apps around the backend: one leg per Django version carries them (noxfile's MATRIX).
pytestmark = pytest.mark.apps

CLOSED = f"redis://127.0.0.1:{servers.free_port()}/0"
HANG_BOUND = 60.0  # seconds; catches a hang, never a speed
LIMIT = 5
HITS = 24
PERIOD = 3600  # "LIMIT/h"


def ratelimit_caches() -> dict[str, Any]:
    ours = {"BACKEND": BACKEND, "LOCATION": servers.session_server().url()}
    failing = {"BACKEND": BACKEND, "LOCATION": CLOSED, "OPTIONS": {"IGNORE_EXCEPTIONS": True}}
    return {
        "default": ours,
        "connection-errors": failing,
        "connection-errors-redis": failing,
        "closed-raising": {"BACKEND": BACKEND, "LOCATION": CLOSED},
        "instant-expiration": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
        "site-a": {**ours, "KEY_PREFIX": "site-a"},
        "site-b": {**ours, "KEY_PREFIX": "site-b"},
    }


@pytest.fixture(autouse=True, scope="module")
def _ratelimit_settings() -> Iterator[None]:
    """The cache aliases django-ratelimit's suite names, ours where it has a real cache."""
    with override_settings(CACHES=ratelimit_caches(), RATELIMIT_USE_CACHE="default"):
        yield


# django-ratelimit's own suite, collected here as if written in this module.
SUITE = {
    name: case
    for name, case in vars(ratelimit_suite).items()
    if isinstance(case, type)
    and issubclass(case, SimpleTestCase)
    and case.__module__ == ratelimit_suite.__name__
}
globals().update(SUITE)


def test_the_suite_is_collected() -> None:
    """Its classes are here (a rename upstream would otherwise silently run nothing)."""
    print(f"django-ratelimit {installed('django-ratelimit')}: {sorted(SUITE)}")
    assert {"RatelimitTests", "FunctionsTests", "CacheFailTests"} <= set(SUITE)


# ------------------------------------------------------------ concurrent hits


def far_from_a_window_edge(stem: str) -> str:
    """A key value whose rate window ends at least half a period from now.

    django-ratelimit puts the window in the cache key, and the window of a
    value ends at a fixed offset (``crc32(value) % period``) in each period.
    Hits that straddled that edge would be counted under two keys; choosing
    the value so that the edge is half an hour away makes that impossible
    during the test, whatever the clock says when it starts.
    """
    now = int(time.time())
    for n in range(1000):
        value = f"{stem}-{n}"
        end = now - now % PERIOD + zlib.crc32(value.encode()) % PERIOD
        if end < now:
            end += PERIOD
        if end - now >= PERIOD // 2:
            return value
    raise AssertionError("no key value found")  # pragma: no cover: half of them qualify


KEY_VALUE = far_from_a_window_edge("ratelimit-concurrency")


def client_key(group: str, request: HttpRequest) -> str:
    return KEY_VALUE


@ratelimit(key=client_key, rate=f"{LIMIT}/h")
def limited_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [path("limited/", limited_view)]


def command_calls(raw: redis.Redis) -> dict[str, int]:
    return {
        name.removeprefix("cmdstat_"): int(stats["calls"])
        for name, stats in raw.info("commandstats").items()
    }


def counter_keys(raw: redis.Redis) -> list[bytes]:
    return [key for key in raw.scan_iter(match=b"*rl:*")]


def test_concurrent_hits_block_exactly_the_excess(flushed_redis: redis.Redis) -> None:
    """HITS requests at once against a limit of LIMIT: exactly HITS - LIMIT get a 403.

    All threads wait on a barrier and then request together, each through its
    own test client (Django's request cycle, our sync API from many threads).
    Whatever the interleaving, the server's counter ends at HITS and every
    hit past the LIMIT-th is refused: the count is the server's INCR.
    """
    barrier = threading.Barrier(HITS)

    def hit(_: int) -> int:
        client = Client()
        barrier.wait(timeout=HANG_BOUND)
        return client.get("/limited/").status_code

    before = command_calls(flushed_redis)
    with override_settings(ROOT_URLCONF=__name__), ThreadPoolExecutor(HITS) as pool:
        statuses = list(pool.map(hit, range(HITS), timeout=HANG_BOUND))
    after = command_calls(flushed_redis)

    assert sorted(statuses) == [200] * LIMIT + [403] * (HITS - LIMIT)
    (key,) = counter_keys(flushed_redis)
    assert flushed_redis.get(key) == str(HITS).encode()  # a plain integer on the server
    assert 0 < flushed_redis.ttl(key) <= PERIOD + 5  # django-ratelimit's period + 5 s
    # Every hit tried one SET NX (add); all but the first then ran the
    # increment script once: one atomic server-side step per hit, no read-modify-write.
    assert after["set"] - before.get("set", 0) == HITS
    assert after["eval"] - before.get("eval", 0) == HITS - 1


def test_hits_served_through_asgi(flushed_redis: redis.Redis) -> None:
    """The same limit through Django's ASGI handler (the view runs in a worker thread)."""

    async def hits() -> list[int]:
        client = AsyncClient()
        responses = await asyncio.gather(*(client.get("/limited/") for _ in range(HITS)))
        return [response.status_code for response in responses]

    with override_settings(ROOT_URLCONF=__name__):
        statuses = asyncio.run(asyncio.wait_for(hits(), HANG_BOUND))
    assert sorted(statuses) == [200] * LIMIT + [403] * (HITS - LIMIT)
    (key,) = counter_keys(flushed_redis)
    assert flushed_redis.get(key) == str(HITS).encode()


# ------------------------------------------------------------ keys


def test_counters_live_under_the_caches_key_prefix(flushed_redis: redis.Redis) -> None:
    """Its keys go through our make_key: KEY_PREFIX and VERSION apply, sites do not share counts."""

    @ratelimit(key=client_key, rate=f"{LIMIT}/h", block=False)
    def view(request: HttpRequest) -> bool:
        return bool(request.limited)  # type: ignore[attr-defined]

    def hit() -> bool:
        request = HttpRequest()  # a new request each time: the decorator marks the one it sees
        request.method = "GET"
        return view(request)

    with override_settings(RATELIMIT_USE_CACHE="site-a"):
        site_a = [hit() for _ in range(LIMIT + 1)]
    with override_settings(RATELIMIT_USE_CACHE="site-b"):
        site_b = [hit() for _ in range(LIMIT)]
    assert site_a == [False] * LIMIT + [True]
    assert site_b == [False] * LIMIT  # a count of its own

    keys = sorted(key.decode() for key in counter_keys(flushed_redis))
    assert len(keys) == 2
    # django-ratelimit's key is "rl:" and a sha256; ours adds "<prefix>:<version>:".
    assert re.fullmatch(r"site-a:1:rl:[0-9a-f]{64}", keys[0])
    assert re.fullmatch(r"site-b:1:rl:[0-9a-f]{64}", keys[1])
    assert keys[0].removeprefix("site-a") == keys[1].removeprefix("site-b")
    assert caches["site-a"].get(keys[0].removeprefix("site-a:1:")) == LIMIT + 1


def test_without_ignore_exceptions_a_dead_server_is_an_error() -> None:
    """Without IGNORE_EXCEPTIONS the decorated view raises the connection error.

    (With it, its own suite's CacheFailTests cover both answers: every hit
    limited, or none with RATELIMIT_FAIL_OPEN.)
    """

    @ratelimit(key=client_key, rate=f"{LIMIT}/h", block=False)
    def view(request: HttpRequest) -> bool:
        return bool(request.limited)  # type: ignore[attr-defined]

    request = HttpRequest()
    request.method = "GET"
    with (
        override_settings(RATELIMIT_USE_CACHE="closed-raising"),
        pytest.raises(redis.ConnectionError),
    ):
        view(request)


# ------------------------------------------------------------ system checks


def check_ids(**settings: Any) -> list[str]:
    with override_settings(**settings):
        return sorted(str(message.id) for message in check_caches(None))


def test_its_check_warns_about_our_backend() -> None:
    """W001 (not on its allowlist of backends); never E003 (its list of broken ones)."""
    ours = {"BACKEND": BACKEND, "LOCATION": CLOSED}
    assert check_ids(CACHES={"default": ours}) == ["django_ratelimit.W001"]
    other = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert check_ids(CACHES={**other, "rl": ours}, RATELIMIT_USE_CACHE="rl") == [
        "django_ratelimit.W001"
    ]
    # What it does refuse, for contrast: LocMemCache is not shared between processes.
    assert check_ids(CACHES=other) == ["django_ratelimit.E003", "django_ratelimit.W001"]


SETTINGS_HEAD = f"""
    SECRET_KEY = "x"
    INSTALLED_APPS = ["django_ratelimit", "django_async_redis"]
    CACHES = {{"default": {{"BACKEND": "{BACKEND}", "LOCATION": "{CLOSED}"}}}}
"""


def test_manage_py_check_and_its_silencing(tmp_path: Path) -> None:
    """``manage.py check`` shows W001 for our backend; SILENCED_SYSTEM_CHECKS removes it."""
    message = f"cache backend {BACKEND} is not officially supported"
    assert_warns_and_silences(tmp_path, SETTINGS_HEAD, "django_ratelimit.W001", message)
