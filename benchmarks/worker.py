"""One contender, one subprocess: ``python -m benchmarks.worker NAME URL MODE JSON``.

MODE ``serve`` sets the contender up (Django settings, the data every workload
reads), prints ``BENCH-READY`` (with where ``django_async_redis`` was imported
from, and whether its compiled core runs), then runs one workload per line read
on stdin (``get``, ``aget``, ``concurrent``, ...; ``exit`` ends it), printing one
``BENCH-RESULT {json}`` line for each. All async workloads run on one event
loop that lives as long as the process: some peers cannot survive a second loop.
It is asyncio's, or uvloop's for a contender named ``NAME@uvloop``.
The parent keeps every contender's process alive and runs workload by workload
across them, so a slow moment of the machine falls on all of them alike.

The contender's environment (``Backend.env``: the compiled core off, the
baseline's PYTHONPATH) is set by the parent when it starts this process, since
PYTHONPATH only counts at start-up; ``main`` sets it again before anything
imports the contender, for a worker started by hand.

MODE ``burst`` runs the 2,000-task burst, printing ``BENCH-EVENT ready`` first
so the parent can watch the process's connections.

A contender that cannot be imported, fails its first round trip or hangs in
setup prints ``BENCH-RESULT {"unavailable": reason}`` and exits.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback
from typing import Any

from benchmarks import protocol
from benchmarks import workloads as w
from benchmarks.backends import Backend, resolve
from benchmarks.protocol import EVENT, HANG_LIMIT, RESULT, WATCHDOG, emit, reason

SYNC_WORKLOADS = ("get", "get_many", "set_many")


class ServerCounter:
    """Commands the servers processed, summed, read with clients of our own: a
    contender that answered from process memory would show fewer than one per
    get. ``reads``: the commands one reading costs (an INFO per server)."""

    def __init__(self, urls: list[str]) -> None:
        import redis

        self.clients = [redis.Redis.from_url(url) for url in urls]
        self.reads = len(self.clients)

    def __call__(self) -> int:
        return sum(int(c.info("stats")["total_commands_processed"]) for c in self.clients)


def contender_environment(backend: Backend) -> dict[str, str]:
    """What the contender's process must have in its environment before importing it."""
    return dict(backend.env)


def imported_core() -> dict:
    """Where ``django_async_redis`` came from, and whether its compiled core runs
    (None: a version without one): the parent checks it is the one it meant."""
    module = sys.modules.get("django_async_redis")
    if module is None:
        return {}
    aio = sys.modules.get("django_async_redis.transport.aio")
    return {"file": module.__file__, "compiled": getattr(aio, "COMPILED", None)}


def new_event_loop(kind: str = "asyncio") -> asyncio.AbstractEventLoop:
    """A new event loop of ``kind``: the standard library's, or uvloop's."""
    if kind == "uvloop":
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    loop.set_exception_handler(protocol.record_loop_error)
    return loop


def setup_django(cache: dict[str, Any]) -> Any:
    """Django configured with ``cache`` as its default cache, and that cache;
    a peer that is not installed fails here, with its own message."""
    from django.conf import settings

    settings.configure(
        CACHES={"default": cache},
        USE_TZ=True,
        SECRET_KEY="benchmarks",
        INSTALLED_APPS=[],
        LOGGING_CONFIG=None,
    )
    import django

    django.setup()
    module, _, cls = cache["BACKEND"].rpartition(".")
    __import__(module)
    getattr(sys.modules[module], cls)
    from django.core.cache import caches

    return caches["default"]


class Contender:
    """A set-up contender and the workloads it can run."""

    def __init__(self, backend: Backend, url: str, params: dict) -> None:
        self.backend = backend
        self.url = url
        self.budgets = {k: w.Budget(**v) for k, v in params.get("budgets", {}).items()}
        self.concurrency = params.get("concurrency", 100)
        self.loop = new_event_loop(backend.loop)
        asyncio.set_event_loop(self.loop)
        self.count = ServerCounter([url])
        self.raw_async = None
        self.proxy: w.Target | None = None  # calls through django.core.cache.cache
        if backend.kind == "django":
            self.target = w.django_target(
                setup_django(backend.cache_settings(url)), backend.has_sync
            )
            self.proxy = w.proxy_target()
        elif backend.kind == "ceiling":
            self.target = w.ceiling_target(compiled=backend.name == "ceiling-compiled")
        else:
            import redis

            self.target = w.raw_sync_target(redis.Redis.from_url(url))
            self.loop.run_until_complete(self._raw_async())
        keys = [w.key_for(i) for i in range(w.MANY)]
        mapping = {f"m{i}": w.value_for(i) for i in range(w.MANY)}
        run = self.loop.run_until_complete
        self.jobs = w.jobs(
            self.target, self.budgets, run, self.concurrency, keys, mapping, self.proxy
        )

    async def _raw_async(self) -> None:
        import redis.asyncio

        self.raw_async = redis.asyncio.Redis.from_url(self.url)
        w.raw_async_target(self.raw_async, self.target)

    def populate(self) -> None:
        if self.target.get is not None:
            w.populate_sync(self.target)
        self.loop.run_until_complete(w.apopulate(self.target))

    def skip_reason(self, name: str) -> str | None:
        if name in SYNC_WORKLOADS and self.target.get is None:
            return "n/a (async-only backend)"
        if name in SYNC_WORKLOADS and self.backend.loop != "asyncio":
            return "n/a (a sync call runs no event loop: see the asyncio row)"
        if name == "concurrent_proxy" and self.proxy is None:
            return "n/a (not a Django cache)"
        return None

    def run(self, name: str) -> dict:
        if (why := self.skip_reason(name)) is not None:
            return {"skipped": why}
        limit = self.budgets[name].limit
        return protocol.measured(name, self.jobs[name], limit, self.count, self.count.reads)


def serve(backend: Backend, url: str, params: dict) -> None:
    def setup() -> tuple[Contender, dict]:
        contender = Contender(backend, url, params)
        contender.populate()
        return contender, {"pid": os.getpid(), "core": imported_core()}

    protocol.serve(setup)


def burst(backend: Backend, url: str, params: dict) -> None:
    WATCHDOG.arm("burst setup", HANG_LIMIT, fatal=True)
    try:
        if backend.kind == "django":
            target = w.django_target(setup_django(backend.cache_settings(url)), has_sync=False)
        else:
            target = w.Target()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        emit(RESULT, {"unavailable": reason(exc)})
        return

    async def main() -> dict:
        client = None
        if backend.kind == "raw":
            import redis.asyncio

            client = redis.asyncio.Redis.from_url(url)
            w.raw_async_target(client, target)
        await w.apopulate(target)
        emit(EVENT, "ready")
        WATCHDOG.arm("burst", params["seconds"] + HANG_LIMIT, fatal=True)
        try:
            return await w.burst(target, params["tasks"], params["ops_per_task"], params["seconds"])
        finally:
            WATCHDOG.disarm()
            emit(EVENT, "done")
            if client is not None:
                await client.aclose()

    try:
        loop = new_event_loop(backend.loop)
        try:
            result = loop.run_until_complete(main())
        finally:
            loop.close()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        result = {"unavailable": reason(exc)}
    emit(RESULT, result)


def main() -> None:
    name, url, mode, raw_params = sys.argv[1:5]
    backend = resolve(name)
    os.environ.update(contender_environment(backend))  # before the contender is imported
    (serve if mode == "serve" else burst)(backend, url, json.loads(raw_params))


if __name__ == "__main__":
    main()
