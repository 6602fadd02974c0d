"""``python -m benchmarks.client_cache``: the local tier against a round trip and the floor.

Contenders, each in its own process (its own settings), in interleaved rounds:
ours with ``CLIENT_CACHE`` on, ours without, django-vcache, and LocMemCache
(the floor: a dict in the process). Figures:

- sequential ``get`` and ``aget`` of a hot ~1 KiB pickled value, µs per call;
- 100 tasks, 90% ``aget`` / 10% ``aset`` over 1,000 keys drawn from a Zipf
  distribution (s = 1.1), ops/s; and the same with 1% writes;
- for the client cache only: from another client's acknowledged SET to our first
  read that returns it (p50/p99, µs), the memory per entry of ~1 KiB values,
  and what the server pays per write for each process tracking the prefix
  (``redis-benchmark`` SET throughput with 0, 1, 10 and 50 broadcast trackers).

Run it with the bench venv's Python (``benchmarks/bootstrap.py`` makes it):
``.venvs/bench/bin/python -m benchmarks.client_cache [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from benchmarks.figures import median_range
from benchmarks.protocol import RESULT, emit
from benchmarks.runner import fresh, interleave
from benchmarks.targets import status

VALUE = {"title": "t" * 40, "body": "b" * 900, "tags": list(range(10))}  # ~1 KiB pickled
KEYS = 1000
TASKS = 100
MIX_OPS = 20_000
SEQUENTIAL = 20_000
CONTENDERS = {
    "ours+cc": ("django_async_redis.cache.RedisCache", {"CLIENT_CACHE": True}),
    "ours": ("django_async_redis.cache.RedisCache", {}),
    "vcache": (
        "django_vcache.backend.ValkeyCache",
        {"SERIALIZER": "pickle", "COMPRESS_MIN_LEN": 1 << 30},
    ),
    "locmem": ("django.core.cache.backends.locmem.LocMemCache", {}),
}
LABELS = {
    "ours+cc": "django-async-redis, CLIENT_CACHE on",
    "ours": "django-async-redis, off",
    "vcache": "django-vcache",
    "locmem": "LocMemCache (floor)",
}


def zipf_keys(count: int, seed: int) -> list[str]:
    """``count`` key names over KEYS keys, rank r drawn with weight 1 / r**1.1."""
    weights = [1 / (rank**1.1) for rank in range(1, KEYS + 1)]
    return [f"z{n}" for n in random.Random(seed).choices(range(KEYS), weights, k=count)]


def worker(name: str, url: str) -> dict[str, Any]:
    import django
    from django.conf import settings

    path, options = CONTENDERS[name]
    settings.configure(
        CACHES={
            "default": {
                "BACKEND": path,
                "LOCATION": "" if name == "locmem" else url,
                "KEY_PREFIX": f"cc-bench-{name}",
                "TIMEOUT": 300,
                "OPTIONS": dict(options),
            }
        },
        USE_TZ=True,
    )
    django.setup()
    from django.core.cache import cache

    cache.set("hot", VALUE)
    assert cache.get("hot") == VALUE
    for _ in range(200):  # warm: connections open, the entry kept
        cache.get("hot")

    started = time.perf_counter()
    for _ in range(SEQUENTIAL):
        cache.get("hot")
    figures: dict[str, Any] = {"get": (time.perf_counter() - started) / SEQUENTIAL * 1e6}

    draws = zipf_keys(MIX_OPS, seed=7)

    async def run() -> None:
        await cache.aget("hot")
        started = time.perf_counter()
        for _ in range(SEQUENTIAL):
            await cache.aget("hot")
        figures["aget"] = (time.perf_counter() - started) / SEQUENTIAL * 1e6
        await cache.aset_many({f"z{n}": VALUE for n in range(KEYS)})
        for figure, share in (("mix", 10), ("mix1", 100)):  # 10% and 1% writes
            writes = set(random.Random(8).sample(range(MIX_OPS), MIX_OPS // share))
            queue = iter(enumerate(draws))

            async def task(queue: Any = queue, writes: set[int] = writes) -> None:
                for index, key in queue:
                    if index in writes:
                        await cache.aset(key, VALUE)
                    else:
                        await cache.aget(key)

            started = time.perf_counter()
            await asyncio.gather(*(task() for _ in range(TASKS)))
            figures[figure] = MIX_OPS / (time.perf_counter() - started)

    asyncio.run(run())
    if name == "ours+cc":
        figures.update(freshness(cache, url))
        figures.update(memory_per_entry(url))
    return figures


def freshness(cache: Any, url: str) -> dict[str, Any]:
    """µs from another client's acknowledged SET to our first read that returns it."""
    import redis

    other = redis.Redis.from_url(url)
    key = cache.make_key("fresh")
    cache.set("fresh", 0)
    waits = []
    for version in range(1, 2001):
        assert cache.get("fresh") == version - 1  # kept locally (after the first)
        other.set(key, str(version).encode())
        acknowledged = time.perf_counter()
        while cache.get("fresh") != version:
            pass
        waits.append((time.perf_counter() - acknowledged) * 1e6)
    other.close()
    waits.sort()
    return {"fresh_p50": waits[len(waits) // 2], "fresh_p99": waits[int(len(waits) * 0.99)]}


def memory_per_entry(url: str) -> dict[str, Any]:
    """Bytes the tier holds per ~1 KiB entry, as tracemalloc counts them, over the value."""
    import pickle
    import tracemalloc

    from django_async_redis.cache import RedisCache

    backend = RedisCache(url, {"KEY_PREFIX": "cc-mem", "OPTIONS": {"CLIENT_CACHE": True}})
    count = 5000
    backend.set_many({f"m{n}": VALUE for n in range(count)})
    tier = backend.client.tier
    keys = [f"m{n}" for n in range(count)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for key in keys:
        backend.get(key)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert tier.stats()["entries"] >= count
    value_bytes = len(pickle.dumps(VALUE, pickle.HIGHEST_PROTOCOL))
    return {"entry_bytes": (after - before) / count, "value_bytes": value_bytes}


def tracking_cost(host: str, port: int) -> list[tuple[int, float]]:
    """SET ops/s from redis-benchmark with 0, 1, 10, 50 broadcast trackers reading along."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return []
    rows = []
    for trackers in (0, 1, 10, 50):
        sockets, threads, stop = [], [], threading.Event()
        for _ in range(trackers):
            sock = socket.create_connection((host, port))
            sock.sendall(b"HELLO 3\r\nCLIENT TRACKING ON BCAST PREFIX key:\r\n")
            sock.settimeout(0.2)
            sockets.append(sock)

            def drain(sock: socket.socket = sock, stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    try:
                        if not sock.recv(1 << 16):
                            return
                    except OSError:
                        continue

            threads.append(threading.Thread(target=drain, daemon=True))
        for thread in threads:
            thread.start()
        done = subprocess.run(
            [binary, "-h", host, "-p", str(port), "-t", "set", "-n", "200000", "-c", "50",
             "-r", "10000", "-d", "100", "-q", "--csv"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        stop.set()
        for sock in sockets:
            sock.close()
        line = [row for row in done.stdout.splitlines() if row.startswith('"SET"')]
        ops = float(line[0].split(",")[1].strip('"')) if line else float("nan")
        rows.append((trackers, ops))
    return rows


def spread(values: list[float], digits: int = 1) -> str:
    return median_range(values, f".{digits}f")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        emit(RESULT, worker(argv[1], argv[2]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.client_cache")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default=",".join(CONTENDERS))
    args = parser.parse_args(argv)
    names = [name for name in args.only.split(",") if name]
    from benchmarks import server as servers

    server = servers.start()
    try:
        figures = interleave(
            names,
            args.rounds,
            lambda name: fresh(
                "benchmarks.client_cache", name, server.url, timeout=900, prefix="client-cache"
            ),
        )
        cost = tracking_cost(server.host, server.port)
    finally:
        server.stop()
    print(f"\nmedian (min-max) of {args.rounds} interleaved rounds\n")
    print("| contender | sync get, µs | aget, µs | 100 tasks, 90/10 Zipf, ops/s | "
          "100 tasks, 99/1 Zipf, ops/s |")  # fmt: skip
    print("| --- | --- | --- | --- | --- |")
    for name in names:
        got = figures[name]
        if not got:
            print(f"| {LABELS[name]} | failed | | |")
            continue
        print(f"| {LABELS[name]} | {spread(got['get'], 2)} | {spread(got['aget'], 2)} | "
              f"{spread(got['mix'], 0)} | {spread(got['mix1'], 0)} |")  # fmt: skip
    ours = figures.get("ours+cc") or {}
    floor = figures.get("locmem") or {}
    if ours and floor:
        ratio = statistics.median(ours["get"]) / statistics.median(floor["get"])
        print(f"\n{status(ratio <= 1.5)}: a local hit <= 1.5x LocMemCache's "
              f"time: {ratio:.2f}x (sync get)")  # fmt: skip
        ratio = statistics.median(ours["aget"]) / statistics.median(floor["aget"])
        print(f"{status(ratio <= 1.5)}: ... (aget): {ratio:.2f}x")
    if ours and figures.get("vcache"):
        ratio = statistics.median(ours["mix"]) / statistics.median(figures["vcache"]["mix"])
        print(f"{status(ratio >= 5)}: 100 tasks 90/10 Zipf >= 5x django-vcache: "
              f"{ratio:.2f}x")  # fmt: skip
        ratio = statistics.median(ours["mix1"]) / statistics.median(figures["vcache"]["mix1"])
        print(f"(99/1 Zipf: {ratio:.2f}x django-vcache)")
    if ours:
        p99 = statistics.median(ours["fresh_p99"])
        print(f"\nanother client's SET acknowledged -> our first fresh read: p50 "
              f"{spread(ours['fresh_p50'])} µs, p99 {spread(ours['fresh_p99'])} µs "
              f"({status(p99 < 1000)}: p99 < 1 ms)")  # fmt: skip
        print(f"memory per entry: {statistics.median(ours['entry_bytes']):.0f} bytes for a "
              f"{statistics.median(ours['value_bytes']):.0f}-byte value")  # fmt: skip
    if cost:
        base = cost[0][1]
        print("\n| processes tracking the prefix (BCAST) | redis-benchmark SET ops/s | vs none |")
        print("| --- | --- | --- |")
        for trackers, ops in cost:
            print(f"| {trackers} | {ops:,.0f} | {ops / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
