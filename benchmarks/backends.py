"""The contenders: what each one is, how it is configured, what it can do.

Every Django backend stores the same bytes: a pickled dict, uncompressed
(django-vcache is told so; its default would be msgpack with zstd above 1 KiB).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

OURS = "ours"
BASELINE = "ours-baseline"
LOOPS = ("asyncio", "uvloop")


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
    env: dict[str, str] = field(default_factory=dict)  # in its process's environment
    loop: str = "asyncio"  # the event loop its async workloads run on

    @property
    def base(self) -> str:
        """The contender's name without its loop: ``ours`` for ``ours@uvloop``."""
        return self.name.partition("@")[0]

    def environ(self) -> dict[str, str]:
        """The environment of its processes: ours plus ``env`` (a PYTHONPATH
        goes ahead of the one we have)."""
        environ = dict(os.environ)
        for key, value in self.env.items():
            if key == "PYTHONPATH" and environ.get(key):
                value = value + os.pathsep + environ[key]
            environ[key] = value
        return environ

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
        "ours-pure",
        "django-async-redis, pure-Python path",
        "django",
        "django_async_redis.cache.RedisCache",
        "django-async-redis",
        async_note="as above, with the compiled core turned off",
        env={"DJANGO_ASYNC_REDIS_NO_EXTENSIONS": "1"},
        e2e=False,
        burst=False,
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
        "ceiling-compiled",
        "no Redis: pickle + one compiled reply future per call (ceiling)",
        "ceiling",
        async_note="as the ceiling, but each call awaits our compiled ReplyFuture, woken directly",
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

# ``--baseline REF``: our backend imported from a git worktree of REF (the
# runner puts its src/ first on PYTHONPATH), on its pure-Python path.
BASELINE_BACKEND = Backend(
    BASELINE,
    "django-async-redis at the baseline",
    "django",
    "django_async_redis.cache.RedisCache",
    async_note="our backend as it was at --baseline REF, pure-Python path",
    env={"DJANGO_ASYNC_REDIS_NO_EXTENSIONS": "1"},
    e2e=False,
    burst=False,
)

# Who also runs on each loop besides asyncio: the async micro workloads (and
# the burst, where the contender has one) of these ...
ON_EVERY_LOOP = (
    OURS, "ours-pure", BASELINE, "django-valkey", "vcache", "redis-py", "ceiling",
    "ceiling-compiled",
)  # fmt: skip
# ... and the end-to-end run (uvicorn --loop uvloop) of these.
E2E_ON_EVERY_LOOP = (OURS, "django-valkey", "vcache", "locmem")


def on_loop(backend: Backend, loop: str) -> Backend | None:
    """``backend`` on ``loop`` (``ours@uvloop``), or None: it runs on asyncio only."""
    if loop == "asyncio":
        return backend
    micro = backend.micro and backend.name in ON_EVERY_LOOP
    e2e = backend.e2e and backend.name in E2E_ON_EVERY_LOOP
    burst = backend.burst and micro
    if not (micro or e2e or burst):
        return None
    return replace(
        backend, name=f"{backend.name}@{loop}", loop=loop, micro=micro, e2e=e2e, burst=burst
    )


def name_on(name: str, loop: str) -> str:
    """The name of contender ``name`` on ``loop``: ``ours`` -> ``ours@uvloop``."""
    return name if loop == "asyncio" else f"{name}@{loop}"


def resolve(name: str) -> Backend:
    """The Backend a worker is started for: ``vcache``, ``ours@uvloop``, ``ours-baseline``."""
    base, _, loop = name.partition("@")
    backend = BASELINE_BACKEND if base == BASELINE else BY_NAME[base]
    found = on_loop(backend, loop or "asyncio")
    if found is None:
        raise KeyError(f"{base} does not run on {loop}")
    return found


REDIS_BENCHMARK = "redis-benchmark"
REDIS_BENCHMARK_LABEL = "redis-benchmark (C)"
