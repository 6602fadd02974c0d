"""``python -m benchmarks.threads``: the sync path under threads.

Threads calling ``cache.get`` of a 600-byte value in a loop for a second and a
half, each contender in its own process, interleaved rounds (every contender
at every thread count once per round), ops/s medians. Contenders: ``ours``
(one connection per call in flight, the default), ``ours-shared``
(``SYNC_CONNECTIONS: 2``), ``django-redis``, ``vcache`` (django-vcache needs
Python 3.12+: run with the bench venv's Python, ``.venvs/bench/bin/python``).

    python -m benchmarks.threads [--threads 1,4,16,64] [--rounds 3]
        [--only ours,ours-shared,django-redis,vcache]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from typing import Any

from benchmarks.protocol import RESULT, emit
from benchmarks.runner import fresh, interleave

SECONDS = 1.5
CONTENDERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ours": ("django_async_redis.cache.RedisCache", {}),
    "ours-shared": ("django_async_redis.cache.RedisCache", {"SYNC_CONNECTIONS": 2}),
    "django-redis": ("django_redis.cache.RedisCache", {}),
    "vcache": (
        "django_vcache.backend.ValkeyCache",
        {"SERIALIZER": "pickle", "COMPRESS_MIN_LEN": 1 << 30},
    ),
}


def worker(name: str, url: str, threads: int) -> float:
    import django
    from django.conf import settings

    backend, options = CONTENDERS[name]
    settings.configure(
        CACHES={"default": {"BACKEND": backend, "LOCATION": url, "OPTIONS": options}},
        USE_TZ=True,
    )
    django.setup()
    from django.core.cache import caches

    caches["default"].set("threads", "v" * 600, None)
    stop = time.monotonic() + SECONDS
    counts = [0] * threads

    def run(index: int) -> None:
        cache = caches["default"]  # each thread's own backend, as Django gives it
        done = 0
        while time.monotonic() < stop:
            cache.get("threads")
            done += 1
        counts[index] = done

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        emit(RESULT, {"ops_per_s": worker(argv[1], argv[2], int(argv[3]))})
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.threads")
    parser.add_argument("--threads", default="1,4,16,64")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(CONTENDERS))
    args = parser.parse_args(argv)
    names = [name for name in args.only.split(",") if name]
    counts = [int(count) for count in args.threads.split(",")]
    from benchmarks import server as servers

    server = servers.start()

    def measure(cell: tuple[int, str]) -> dict[str, float] | None:
        threads, name = cell
        args = (name, server.url, str(threads))
        return fresh(
            "benchmarks.threads", *args, timeout=300, prefix="threads", what=f"{name} x{threads}"
        )

    cells = [(threads, name) for threads in counts for name in names]
    try:
        measured = interleave(cells, args.rounds, measure)
    finally:
        server.stop()
    figures = {(n, t): measured[(t, n)].get("ops_per_s", []) for n in names for t in counts}
    print(f"\nget ops/s, medians of {args.rounds} interleaved rounds\n")
    print("| threads | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for threads in counts:
        cells = [
            f"{statistics.median(figures[(n, threads)]):,.0f}" if figures[(n, threads)] else "-"
            for n in names
        ]
        print(f"| {threads} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
