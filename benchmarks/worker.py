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
import faulthandler
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from benchmarks import workloads as w
from benchmarks.backends import Backend, resolve

HANG_LIMIT = 20.0  # seconds past a workload's own budget
SYNC_WORKLOADS = ("get", "get_many", "set_many")
ASYNC_WORKLOADS = ("aget", "concurrent", "concurrent_proxy", "aget_many", "aset_many")


def emit(tag: str, payload: Any) -> None:
    sys.stdout.write(f"{tag} {json.dumps(payload)}\n")
    sys.stdout.flush()


# What the event loop's exception handler saw: a protocol callback that raised
# (connection_made, data_received) leaves its caller waiting for a timeout,
# and this says why.
LOOP_ERRORS: list[str] = []


def _reason(exc: BaseException) -> str:
    reason = f"{type(exc).__name__}: {exc}".strip()
    if LOOP_ERRORS:
        reason += f" (the event loop logged {LOOP_ERRORS[0]})"
    return reason[:300]


def _record_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    if isinstance(exc, BaseException) and len(LOOP_ERRORS) < 5:
        frames = traceback.extract_tb(exc.__traceback__)
        where = ""
        if frames:
            parts = frames[-1].filename.replace(os.sep, "/").split("/")
            where = f" at {'/'.join(parts[-2:])}:{frames[-1].lineno}"
        LOOP_ERRORS.append(f"{type(exc).__name__}{f': {exc}' if str(exc) else ''}{where}")
    loop.default_exception_handler(context)


def _main_thread_position() -> str:
    """Where the main thread is stuck, e.g. `` at transport/sync.py:114 (peer_closed)``."""
    frame = sys._current_frames().get(threading.main_thread().ident)
    if frame is None:
        return ""
    summary = traceback.extract_stack(frame)[-1]
    parts = summary.filename.replace(os.sep, "/").split("/")
    return f" at {'/'.join(parts[-2:])}:{summary.lineno} ({summary.name})"


class Watchdog:
    """A contender that hangs must not hang the run: if a step gives no result
    within its limit, say where it hung (every stack goes to stderr) and exit."""

    def __init__(self) -> None:
        self.timer: threading.Timer | None = None

    def arm(self, step: str, seconds: float, fatal: bool = False) -> None:
        self.disarm()
        self.timer = threading.Timer(seconds, self._fire, (step, seconds, fatal))
        self.timer.daemon = True
        self.timer.start()

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def _fire(self, step: str, seconds: float, fatal: bool) -> None:
        faulthandler.dump_traceback(file=sys.stderr)
        where = _main_thread_position()
        if fatal:
            emit("BENCH-RESULT", {"unavailable": f"hung in {step}{where}"})
        else:
            emit("BENCH-RESULT", {"error": f"hung: no result after {seconds:.0f} s{where}"})
        os._exit(0)


WATCHDOG = Watchdog()


class ServerCounter:
    """Commands the server processed, read with a client of our own: a contender
    that answered from process memory would show fewer than one per get."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)

    def __call__(self) -> int:
        return int(self.client.info("stats")["total_commands_processed"])


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
    loop.set_exception_handler(_record_loop_error)
    return loop


def setup_django(backend: Backend, url: str) -> Any:
    from django.conf import settings

    settings.configure(
        CACHES={"default": backend.cache_settings(url)},
        USE_TZ=True,
        SECRET_KEY="benchmarks",
        INSTALLED_APPS=[],
        LOGGING_CONFIG=None,
    )
    import django

    django.setup()
    module, _, cls = backend.path.rpartition(".")
    __import__(module)  # a missing peer fails here, with its own message
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
        self.count = ServerCounter(url)
        self.raw_async = None
        self.proxy: w.Target | None = None  # calls through django.core.cache.cache
        if backend.kind == "django":
            self.target = w.django_target(setup_django(backend, url), backend.has_sync)
            self.proxy = w.proxy_target()
        elif backend.kind == "ceiling":
            self.target = w.ceiling_target(compiled=backend.name == "ceiling-compiled")
        else:
            import redis

            self.target = w.raw_sync_target(redis.Redis.from_url(url))
            self.loop.run_until_complete(self._raw_async())
        self.keys = [w.key_for(i) for i in range(w.MANY)]
        self.mapping = {f"m{i}": w.value_for(i) for i in range(w.MANY)}

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

    def workload(self, name: str) -> tuple[Callable[[], dict], float]:
        """A callable giving the result, and its time budget."""
        t, b, one, keys, mapping = self.target, self.budgets, w.key_for(3), self.keys, self.mapping
        run = self.loop.run_until_complete
        proxy, tasks = self.proxy, self.concurrency
        jobs: dict[str, Callable[[], dict]] = {
            "get": lambda: w.sequential(lambda: t.get(one), b["get"]),
            "get_many": lambda: w.sequential(lambda: t.get_many(keys), b["get_many"]),
            "set_many": lambda: w.sequential(lambda: t.set_many(mapping), b["set_many"]),
            "aget": lambda: run(w.asequential(lambda: t.aget(one), b["aget"])),
            "concurrent": lambda: run(w.concurrent_mixed(t, tasks, b["concurrent"])),
            "concurrent_proxy": lambda: run(
                w.concurrent_mixed(proxy, tasks, b["concurrent_proxy"])
            ),
            "aget_many": lambda: run(w.asequential(lambda: t.aget_many(keys), b["aget_many"])),
            "aset_many": lambda: run(w.asequential(lambda: t.aset_many(mapping), b["aset_many"])),
        }
        budget = b[name]
        return jobs[name], budget.warmup + budget.duration

    def run(self, name: str) -> dict:
        if (reason := self.skip_reason(name)) is not None:
            return {"skipped": reason}
        fn, limit = self.workload(name)
        WATCHDOG.arm(name, limit + HANG_LIMIT)
        try:
            before = self.count()
            result = fn()
            after = self.count()
            if result.get("total_ops"):  # minus one: the INFO that took ``before``
                result["server_commands_per_op"] = round(
                    (after - before - 1) / result["total_ops"], 3
                )
            return result
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            return {"error": _reason(exc)}
        finally:
            WATCHDOG.disarm()


def serve(backend: Backend, url: str, params: dict) -> None:
    WATCHDOG.arm("setup", HANG_LIMIT, fatal=True)
    try:
        contender = Contender(backend, url, params)
        contender.populate()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        emit("BENCH-RESULT", {"unavailable": _reason(exc)})
        return
    finally:
        WATCHDOG.disarm()
    emit("BENCH-READY", {"pid": os.getpid(), "core": imported_core()})
    for line in sys.stdin:
        name = line.strip()
        if name == "exit" or not name:
            break
        emit("BENCH-RESULT", contender.run(name))


def burst(backend: Backend, url: str, params: dict) -> None:
    WATCHDOG.arm("burst setup", HANG_LIMIT, fatal=True)
    try:
        if backend.kind == "django":
            target = w.django_target(setup_django(backend, url), has_sync=False)
        else:
            target = w.Target()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        emit("BENCH-RESULT", {"unavailable": _reason(exc)})
        return

    async def main() -> dict:
        client = None
        if backend.kind == "raw":
            import redis.asyncio

            client = redis.asyncio.Redis.from_url(url)
            w.raw_async_target(client, target)
        await w.apopulate(target)
        emit("BENCH-EVENT", "ready")
        WATCHDOG.arm("burst", params["seconds"] + HANG_LIMIT, fatal=True)
        try:
            return await w.burst(target, params["tasks"], params["ops_per_task"], params["seconds"])
        finally:
            WATCHDOG.disarm()
            emit("BENCH-EVENT", "done")
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
        result = {"unavailable": _reason(exc)}
    emit("BENCH-RESULT", result)


def main() -> None:
    name, url, mode, raw_params = sys.argv[1:5]
    backend = resolve(name)
    os.environ.update(contender_environment(backend))  # before the contender is imported
    (serve if mode == "serve" else burst)(backend, url, json.loads(raw_params))


if __name__ == "__main__":
    main()
