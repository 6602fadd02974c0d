"""JSON endpoints behind the dashboard and the race page."""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from typing import Any

from django.core.cache import cache, caches
from django.http import HttpRequest, HttpResponse, JsonResponse

from django_async_redis import get_async_redis_connection

PERCENTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
# The simulated visitors' key space: a few popular keys, a long tail, short
# lifetimes, so there are always some misses to see.
TRAFFIC_KEYS = 400
TRAFFIC_READS_PER_REQUEST = 8

RACE_BACKENDS = {"ours": "race-ours", "django": "race-django"}
RACE_KEYS = 200
RACE_MAX_TASKS = 500
RACE_MAX_SECONDS = 10.0
# About 1 KiB pickled: a typical cached object.
RACE_VALUE = {"id": 1, "title": "x" * 600, "tags": list(range(60)), "score": 0.5}


def latency_buckets(snapshot: dict[str, Any]) -> list[list[float | None]]:
    """The histogram as [upper bound in µs (None: no bound), calls at or below it].

    JSON has no infinity, hence None for the last bucket.
    """
    return [
        [None if math.isinf(bound) else round(bound * 1e6), count]
        for bound, count in snapshot["latency"]["buckets"]
    ]


def percentile(buckets: list[list[float | None]], share: float) -> float | None:
    """The bucket bound at or below which `share` of the calls fell: an upper bound."""
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    for bound, count in buckets:
        if count is not None and count >= share * total:
            return bound
    return None


def app_metrics() -> dict[str, Any]:
    """The backend's own counters for the default alias (OPTIONS METRICS), in this process."""
    snapshot = cache.stats()  # type: ignore[attr-defined]
    buckets = latency_buckets(snapshot)
    return {
        "hits": snapshot["hits"],
        "misses": snapshot["misses"],
        "hit_ratio": snapshot["hit_ratio"],
        "operations": sum(snapshot["calls"].values()),
        "errors": sum(snapshot["errors"].values()),
        "latency_buckets_us": buckets,
        "latency_us": {share: percentile(buckets, q) for share, q in PERCENTILES.items()},
        # The client cache's own figures (OPTIONS CLIENT_CACHE): hits answered in
        # the process, keys the server told us changed, what it holds.
        "local": snapshot.get("client_cache"),
    }


async def stats(request: HttpRequest) -> JsonResponse:
    """The backend's metrics plus what the server says about itself."""
    raw = get_async_redis_connection("default")
    info: dict[str, Any] = await raw.info()
    keys = await raw.dbsize()
    server = "valkey" if "valkey_version" in info else "redis"
    return JsonResponse(
        {
            "app": app_metrics(),
            "server": {
                "name": f"{server} {info.get(f'{server}_version', info.get('redis_version'))}",
                "connected_clients": info.get("connected_clients"),
                "used_memory": info.get("used_memory"),
                "used_memory_human": info.get("used_memory_human"),
                "ops_per_sec": info.get("instantaneous_ops_per_sec"),
                "total_commands": info.get("total_commands_processed"),
                "keyspace_hits": info.get("keyspace_hits"),
                "keyspace_misses": info.get("keyspace_misses"),
                "keys": keys,
            },
            "time": time.time(),
        }
    )


def _traffic_key(rng: random.Random) -> str:
    # Cubing a uniform draw skews it towards small numbers: popular keys.
    return f"item:{int(TRAFFIC_KEYS * rng.random() ** 3)}"


async def traffic(request: HttpRequest) -> JsonResponse:
    """One simulated visitor request: several concurrent reads, a write per miss."""
    rng = random.Random()
    keys = [_traffic_key(rng) for _ in range(TRAFFIC_READS_PER_REQUEST)]
    values = await asyncio.gather(*(cache.aget(key) for key in keys))
    missing = [key for key, value in zip(keys, values, strict=True) if value is None]
    await asyncio.gather(
        *(cache.aset(key, {"key": key, "at": time.time()}, rng.randint(3, 15)) for key in missing)
    )
    return JsonResponse({"reads": len(keys), "misses": len(missing)})


def _bad_request(message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=400)


def _number(raw: str | None, name: str, low: float, high: float, default: float) -> float:
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, not {value:g}")
    return value


async def race(request: HttpRequest) -> HttpResponse:
    """POST backend=ours|django, tasks=N, seconds=S: run the workload through one backend.

    N tasks on this event loop, each looping until the time is up over 90%
    ``aget`` / 10% ``aset`` of a ~1 KiB value. The browser runs the two
    backends one after the other, so they never compete for the server.
    """
    if request.method != "POST":
        return JsonResponse({"error": "POST only"}, status=405)
    alias = RACE_BACKENDS.get(request.POST.get("backend", ""))
    if alias is None:
        return _bad_request(f"backend must be one of {sorted(RACE_BACKENDS)}")
    try:
        tasks = int(_number(request.POST.get("tasks"), "tasks", 1, RACE_MAX_TASKS, 100))
        seconds = _number(request.POST.get("seconds"), "seconds", 0.1, RACE_MAX_SECONDS, 2.0)
    except ValueError as error:
        return _bad_request(str(error))
    result = await run_race(caches[alias], tasks, seconds)
    result.update(backend=request.POST["backend"], cache=caches[alias].__class__.__module__)
    return JsonResponse(result)


async def run_race(race_cache: Any, tasks: int, seconds: float) -> dict[str, Any]:
    keys = [f"item:{n}" for n in range(RACE_KEYS)]
    await race_cache.aset_many(dict.fromkeys(keys, RACE_VALUE), timeout=60)
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        while loop.time() < deadline:
            key = rng.choice(keys)
            started = time.perf_counter()
            if rng.random() < 0.9:
                await race_cache.aget(key)
            else:
                await race_cache.aset(key, RACE_VALUE, 60)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(tasks)))
    elapsed = time.perf_counter() - started
    await race_cache.adelete_many(keys)
    latencies.sort()

    def ms(share: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(share * len(latencies)))] * 1000, 2)

    return {
        "tasks": tasks,
        "seconds": round(elapsed, 3),
        "operations": len(latencies),
        "ops_per_sec": round(len(latencies) / elapsed),
        "p50_ms": ms(0.5) if latencies else None,
        "p99_ms": ms(0.99) if latencies else None,
    }


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse(json.dumps({"ok": True}), content_type="application/json")
