"""``python -m benchmarks.per_request``: the cache as Django uses it under ASGI.

Django's ``caches`` is an asgiref ``Local``: each request runs in a task of its
own, in a context that never saw the cache, so Django builds a new backend for
the request and ``close_all()`` closes it when the request ends. This measures
that path against a kept backend, per contender, each in its own process (its
own settings), in interleaved rounds:

- per request: a new task in a fresh ``contextvars.Context`` that does
  ``await caches[alias].aget(key)`` and then ``caches.close_all()``, awaited
  one after another;
- kept: ``await backend.aget(key)`` on one backend in a loop;
- where the time goes: the same task with no cache call (what the task and
  context cost), with only ``caches[alias]`` and ``close_all()`` (Django's
  part: building and closing the request's backend), and with a kept
  backend's ``aget`` (the call in a task of its own).

Figures are microseconds per request, medians over the rounds (min-max shown).
Run it with the bench venv's Python (``benchmarks/bootstrap.py`` makes it):
``.venvs/bench/bin/python -m benchmarks.per_request [--rounds 7] [--requests 2000]
[--only ours,vcache]``. A server is started on a free port (benchmarks/server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import statistics
import sys
import time

from benchmarks.backends import BY_NAME
from benchmarks.figures import median_range
from benchmarks.protocol import RESULT, emit
from benchmarks.runner import fresh, interleave
from benchmarks.targets import status

DEFAULT = ["ours", "vcache", "django", "locmem"]
VALUE = "v" * 600


def worker(name: str, url: str, requests: int) -> dict[str, float]:
    """One contender's three figures, in µs per request (runs in its own process)."""
    import os

    import django
    from django.conf import settings

    backend = BY_NAME[name]
    os.environ.update(backend.env)
    if backend.name == "locmem":
        url = ""
    settings.configure(CACHES={"default": backend.cache_settings(url)}, USE_TZ=True)
    django.setup()
    from django.core.cache import caches

    async def empty() -> None:
        return None

    async def request() -> None:
        await caches["default"].aget("per-request")
        caches.close_all()

    async def lookup() -> None:  # Django's part: the backend built for the request, closed
        caches["default"]
        caches.close_all()

    kept = caches["default"]

    async def kept_in_task() -> None:  # the call in a request's task, no backend built
        await kept.aget("per-request")

    async def timed_tasks(body: object) -> float:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        for _ in range(requests):
            await loop.create_task(body(), context=contextvars.Context())  # type: ignore[operator]
        return (time.perf_counter() - started) / requests * 1e6

    async def timed_kept() -> float:
        started = time.perf_counter()
        for _ in range(requests):
            await kept.aget("per-request")
        return (time.perf_counter() - started) / requests * 1e6

    async def main() -> dict[str, float]:
        await caches["default"].aset("per-request", VALUE, None)
        assert await caches["default"].aget("per-request") == VALUE
        await timed_tasks(request)  # warm: connections open, code paths taken
        await timed_kept()
        return {
            "per_request": await timed_tasks(request),
            "kept": await timed_kept(),
            "empty": await timed_tasks(empty),
            "lookup": await timed_tasks(lookup),
            "kept_in_task": await timed_tasks(kept_in_task),
        }

    return asyncio.run(main())


def spread(values: list[float]) -> str:
    return median_range(values, ".1f", ".0f")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        emit(RESULT, worker(argv[1], argv[2], int(argv[3])))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.per_request")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--only", default=",".join(DEFAULT))
    args = parser.parse_args(argv)
    names = [name for name in args.only.split(",") if name]
    from benchmarks import server as servers

    server = servers.start()
    try:
        figures = interleave(
            names,
            args.rounds,
            lambda name: fresh(
                "benchmarks.per_request", name, server.url, str(args.requests),
                timeout=600, prefix="per-request",
            ),
        )  # fmt: skip
    finally:
        server.stop()
    print(f"\nµs per request, median (min-max) of {args.rounds} interleaved rounds, "
          f"{args.requests} requests each\n")  # fmt: skip
    print("| contender | new backend + aget + close_all | kept backend, aget | "
          "per request / kept | empty task | task + caches[alias] + close_all | "
          "task + kept backend's aget |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    medians: dict[str, float] = {}
    for name in names:
        got = figures[name]
        if not got:
            print(f"| {name} | failed | | | | | |")
            continue
        per_request, kept = statistics.median(got["per_request"]), statistics.median(got["kept"])
        medians[name] = per_request
        print(f"| {BY_NAME[name].label} | {spread(got['per_request'])} | {spread(got['kept'])} | "
              f"{per_request / kept:.2f}x | {spread(got['empty'])} | {spread(got['lookup'])} | "
              f"{spread(got['kept_in_task'])} |")  # fmt: skip
    if figures.get("ours"):
        ours = figures["ours"]
        ratio = statistics.median(ours["per_request"]) / statistics.median(ours["kept"])
        print(f"\n{status(ratio <= 1.3)}: per request <= 1.3x our kept aget: {ratio:.2f}x")
        if "vcache" in medians:
            versus = medians["ours"] / medians["vcache"]
            print(f"{status(versus <= 0.7)}: per request <= 0.7x django-vcache's: {versus:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
