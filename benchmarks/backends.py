"""The contenders: what each one is, how it is configured, what it can do.

Every Django backend stores the same bytes: a pickled dict, uncompressed
(django-vcache is told so; its default would be msgpack with zstd above 1 KiB).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OURS = "ours"


@dataclass(frozen=True)
class Backend:
    name: str  # short id used in JSON and on the command line
    label: str  # what the table shows
    kind: str  # "django" (a CACHES backend), "raw" (redis-py clients) or "ceiling"
    path: str = ""  # BACKEND dotted path, for kind "django"
    dist: str = ""  # distribution whose version is reported
    has_sync: bool = True
    async_note: str = ""  # how its a* methods work, shown in the docs
    options: dict[str, Any] = field(default_factory=dict)
    e2e: bool = True  # part of the end-to-end ASGI run
    micro: bool = True  # part of the micro workloads
    burst: bool = True  # part of the 2,000-task burst

    def cache_settings(self, url: str) -> dict[str, Any]:
        return {
            "BACKEND": self.path,
            "LOCATION": url,
            "KEY_PREFIX": f"dar-bench-{self.name}",
            "TIMEOUT": 300,
            "OPTIONS": dict(self.options),
        }


BACKENDS: list[Backend] = [
    Backend(
        OURS,
        "django-async-redis",
        "django",
        "django_async_redis.cache.RedisCache",
        "django-async-redis",
        async_note="native async, auto-pipelined",
    ),
    Backend(
        "django",
        "Django built-in RedisCache",
        "django",
        "django.core.cache.backends.redis.RedisCache",
        "Django",
        async_note="sync method in one shared thread (sync_to_async)",
    ),
    Backend(
        "django-redis",
        "django-redis",
        "django",
        "django_redis.cache.RedisCache",
        "django-redis",
        async_note="Django's default a* methods: sync method in one shared thread",
    ),
    Backend(
        "django-valkey",
        "django-valkey (async)",
        "django",
        "django_valkey.async_cache.cache.AsyncValkeyCache",
        "django-valkey",
        has_sync=False,
        async_note="native async over valkey-py's asyncio pool",
    ),
    Backend(
        "vcache",
        "django-vcache",
        "django",
        "django_vcache.backend.ValkeyCache",
        "django-vcache",
        async_note="native async, Rust driver, one multiplexed connection",
        options={"SERIALIZER": "pickle", "COMPRESS_MIN_LEN": 1 << 30},
    ),
    Backend(
        "redis-py",
        "raw redis-py (sync / redis.asyncio)",
        "raw",
        dist="redis",
        async_note="redis.asyncio with its default pool",
        e2e=False,
    ),
    Backend(
        "ceiling",
        "no Redis: pickle + one asyncio future per call (ceiling)",
        "ceiling",
        async_note="a dict in the process; what every contender pays before any I/O",
        e2e=False,
        burst=False,
    ),
    Backend(
        "locmem",
        "no Redis: Django LocMemCache (ceiling)",
        "django",
        "django.core.cache.backends.locmem.LocMemCache",
        "Django",
        async_note="in-process dict; shows what Django's request cycle alone allows",
        micro=False,
        burst=False,
    ),
]

BY_NAME = {b.name: b for b in BACKENDS}
REDIS_BENCHMARK = "redis-benchmark"
REDIS_BENCHMARK_LABEL = "redis-benchmark (C)"
