"""The async API runs on the event loop itself: no executor, no thread, no nested loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

import redis
from django.core.cache import caches

from django_async_redis.cache import RedisCache


class RefusingExecutor(concurrent.futures.ThreadPoolExecutor):
    """A default executor that fails the test if anything is handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted: list[Any] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        self.submitted.append(fn)
        raise AssertionError(f"{fn!r} was sent to an executor")


def test_every_async_method_stays_on_the_loop(flushed_redis: redis.Redis) -> None:
    cache = caches["default"]
    assert isinstance(cache, RedisCache)
    executor = RefusingExecutor()
    threads_before = set(threading.enumerate())
    created: list[threading.Thread] = []
    original_start = threading.Thread.start

    def recording_start(self: threading.Thread) -> None:
        created.append(self)
        original_start(self)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(executor)
        loop_thread = threading.get_ident()
        threading.Thread.start = recording_start  # type: ignore[method-assign]
        try:
            await exercise(loop_thread)
        finally:
            threading.Thread.start = original_start  # type: ignore[method-assign]

    async def exercise(loop_thread: int) -> None:
        assert await cache.aset("n", 1) is True
        assert await cache.aadd("m", 1) is True
        assert await cache.aget("n") == 1
        assert await cache.aget_many(["n", "m"]) == {"n": 1, "m": 1}
        assert await cache.aget_or_set("o", lambda: threading.get_ident()) == loop_thread
        assert await cache.ahas_key("n") is True
        assert await cache.aincr("n") == 2
        assert await cache.adecr("n") == 1
        assert await cache.atouch("n", 30) is True
        assert await cache.aset_many({"a": 1, "b": 2}) == []
        await cache.adelete_many(["a", "b"])
        assert await cache.adelete("m") is True
        assert await cache.aincr_version("n") == 2
        assert await cache.adecr_version("n", version=2) == 1
        assert await cache.aclear() is True
        await cache.aclose()

    asyncio.run(scenario())
    assert executor.submitted == []
    assert created == []
    assert set(threading.enumerate()) <= threads_before
