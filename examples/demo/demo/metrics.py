"""Hit, miss and latency counting for the dashboard, done in the demo itself.

django-async-redis has no metrics of its own yet, so the demo's cache is a thin
subclass that times each call it makes and counts reads that found a value
(hits) and reads that did not (misses). Everything is kept in this process
(uvicorn runs one), in memory, for the dashboard to read.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from django_async_redis.cache import RedisCache

# A stored None is a hit; this marks "nothing there".
_MISSING = object()
# Latencies kept for the percentiles: the most recent ones, a few seconds' worth.
WINDOW = 4096


class Metrics:
    """Counters for one process. Sync calls come from worker threads, hence the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.operations = 0
        self.started = time.time()
        self._latencies: deque[float] = deque(maxlen=WINDOW)

    def record(self, seconds: float, hits: int = 0, misses: int = 0) -> None:
        with self._lock:
            self.operations += 1
            self.hits += hits
            self.misses += misses
            self._latencies.append(seconds)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            latencies = sorted(self._latencies)
            hits, misses, operations = self.hits, self.misses, self.operations
        reads = hits + misses

        def percentile(share: float) -> float | None:
            if not latencies:
                return None
            index = min(len(latencies) - 1, int(share * len(latencies)))
            return round(latencies[index] * 1e6, 1)  # microseconds

        return {
            "hits": hits,
            "misses": misses,
            "hit_ratio": round(hits / reads, 4) if reads else None,
            "operations": operations,
            "latency_us": {
                "p50": percentile(0.50),
                "p95": percentile(0.95),
                "p99": percentile(0.99),
            },
            "since": self.started,
        }


metrics = Metrics()


class CountingRedisCache(RedisCache):
    """django-async-redis's RedisCache, timing and counting what the demo asks of it.

    Only the methods the demo's pages reach are wrapped (Django's cache_page
    and {% cache %} use get/set; the views use aget/aset/adelete/get_many).
    """

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        started = time.perf_counter()
        value = super().get(key, _MISSING, version)
        hit = value is not _MISSING
        metrics.record(time.perf_counter() - started, hits=hit, misses=not hit)
        return value if hit else default

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        started = time.perf_counter()
        value = await super().aget(key, _MISSING, version)
        hit = value is not _MISSING
        metrics.record(time.perf_counter() - started, hits=hit, misses=not hit)
        return value if hit else default

    async def aget_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        keys = list(keys)
        started = time.perf_counter()
        found = await super().aget_many(keys, version)
        metrics.record(
            time.perf_counter() - started, hits=len(found), misses=len(keys) - len(found)
        )
        return found

    def set(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = super().set(*args, **kwargs)
        metrics.record(time.perf_counter() - started)
        return result

    async def aset(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = await super().aset(*args, **kwargs)
        metrics.record(time.perf_counter() - started)
        return result

    async def adelete(self, key: Any, version: int | None = None) -> bool:
        started = time.perf_counter()
        result = await super().adelete(key, version)
        metrics.record(time.perf_counter() - started)
        return result
