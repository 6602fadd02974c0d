"""Event loops come and go; the backend must leave nothing behind.

Hundreds of successive ``asyncio.run`` and ``async_to_sync`` calls, mixed with
sync calls (from plain code, from inside coroutines as ``cache_page`` does on
async views, and from ``sync_to_async`` threads), with the shared backend and
with per-task backend instances. Every warning is an error, ignored exceptions
(in ``__del__``, finalizers, callbacks) are collected and fail the test, and
neither this process's open sockets nor the server's connected clients may
grow beyond a small fixed bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.cache import BaseCache, caches
from django.test import override_settings

from tests import servers

ROUNDS = 150  # each round: 2 asyncio.run, 1 async_to_sync, sync calls
CHURN_DB = 11
# Sockets / server clients allowed above the warmed-up baseline: a sync pool
# may open one more connection when two threads meet in it.
SLACK = 2


@dataclass
class Snapshot:
    sockets: int
    sockets_to_server: int
    server_clients: int
    our_server_clients: int

    @classmethod
    def take(cls, server: servers.Server) -> Snapshot:
        gc.collect()
        return cls(
            sockets=servers.open_socket_count(),
            sockets_to_server=len(servers.local_ports_to(server)),
            server_clients=server.connected_clients() - 1,  # minus the probe
            our_server_clients=len(servers.clients_of_this_process(server, db=CHURN_DB)),
        )


@contextlib.contextmanager
def nothing_ignored(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """Warnings raise; ignored exceptions and logged errors are collected."""
    problems: list[str] = []
    previous_hook = sys.unraisablehook

    def unraisable(report: Any) -> None:
        problems.append(
            f"unraisable in {report.object!r}: {report.exc_type.__name__}: {report.exc_value}"
        )

    sys.unraisablehook = unraisable
    caplog.set_level(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield problems
            gc.collect()
    finally:
        sys.unraisablehook = previous_hook
    problems.extend(
        f"log {record.name} {record.levelname}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.WARNING
    )


@pytest.fixture
def churn_cache(redis_server: servers.Server) -> Iterator[str]:
    """A ``churn`` alias on its own database, so its clients can be told apart."""
    caches_setting = {
        "default": {"BACKEND": _backend_path(), "LOCATION": redis_server.url()},
        "churn": {"BACKEND": _backend_path(), "LOCATION": redis_server.url(CHURN_DB)},
    }
    with override_settings(CACHES=caches_setting):
        caches["churn"].clear()
        yield "churn"
        caches["churn"].clear()


def _backend_path() -> str:
    from django.conf import settings

    return str(settings.CACHES["default"]["BACKEND"])


async def exercise(backend: BaseCache, tag: str) -> None:
    """One task's worth of cache use, async and (like cache_page) sync on the loop."""
    await backend.aset(f"{tag}:a", tag)
    assert await backend.aget(f"{tag}:a") == tag
    assert await backend.aadd(f"{tag}:n", 1) is True
    assert await backend.aincr(f"{tag}:n") == 2
    assert await backend.aget_many([f"{tag}:a", f"{tag}:n"]) == {f"{tag}:a": tag, f"{tag}:n": 2}
    backend.set(f"{tag}:sync-on-loop", 1)  # the sync API on the loop thread
    assert await backend.adelete(f"{tag}:sync-on-loop") is True
    await backend.adelete_many([f"{tag}:a", f"{tag}:n"])


async def per_task_instances(alias: str, tag: str, tasks: int = 5) -> None:
    """Several tasks, each with the backend instance Django would build for it."""

    async def one(index: int) -> None:
        backend = caches.create_connection(alias)
        await exercise(backend, f"{tag}:{index}")
        await backend.aclose()

    await asyncio.gather(*(one(index) for index in range(tasks)))


def direct_instance(url: str) -> BaseCache:
    from django.utils.module_loading import import_string

    backend_class: Callable[..., BaseCache] = import_string(_backend_path())
    return backend_class(url, {})


def churn_round(alias: str, url: str, index: int) -> None:
    shared = caches[alias]
    asyncio.run(exercise(shared, f"run-shared-{index}"))
    asyncio.run(per_task_instances(alias, f"run-tasks-{index}"))
    async_to_sync(exercise)(direct_instance(url), f"a2s-direct-{index}")
    if index % 10 == 0:
        # A thread hop in the caller's code: sync cache calls in a worker thread.
        async_to_sync(sync_to_async(shared.set))(f"s2a-{index}", index)
        assert shared.get(f"s2a-{index}") == index
    shared.set(f"sync-{index}", index)
    assert shared.get(f"sync-{index}") == index
    shared.delete(f"sync-{index}")
    separate = direct_instance(url)
    assert separate.add(f"sync-direct-{index}", index) is True
    separate.close()


def test_loop_churn(
    churn_cache: str,
    redis_server: servers.Server,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = redis_server.url(CHURN_DB)
    with nothing_ignored(caplog) as problems:
        churn_round(churn_cache, url, -1)  # warm up: sync pool, asgiref's threads
        before = Snapshot.take(redis_server)
        for index in range(ROUNDS):
            churn_round(churn_cache, url, index)
        after = Snapshot.take(redis_server)
    with capsys.disabled():
        print(
            f"\nloop churn: {ROUNDS} rounds = {ROUNDS * 2} asyncio.run + "
            f"{ROUNDS + ROUNDS // 10} async_to_sync + sync calls, "
            f"{ROUNDS * 7} backend instances; "
            f"sockets {before.sockets} -> {after.sockets}, "
            f"sockets to the server {before.sockets_to_server} -> {after.sockets_to_server}, "
            f"server clients {before.server_clients} -> {after.server_clients}, "
            f"ours on db {CHURN_DB} {before.our_server_clients} -> {after.our_server_clients}"
        )
    assert problems == []
    assert after.sockets <= before.sockets + SLACK
    assert after.sockets_to_server <= before.sockets_to_server + SLACK
    assert after.server_clients <= before.server_clients + SLACK
    assert after.our_server_clients <= before.our_server_clients + SLACK


def test_loops_closed_without_shutting_down_asyncgens(
    churn_cache: str,
    redis_server: servers.Server,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Code that closes its loop bluntly (no ``shutdown_asyncgens()``) leaks nothing either.

    Nothing tells the backend that such a loop is closing, so its connection on
    that loop is still open then. asyncio's loop closes without a word and the
    backend releases the socket when the next loop registers. uvloop's closes
    every handle still open itself, with one ResourceWarning ("unclosed
    resource <TCPTransport ...>") for each: on uvloop that one warning per loop
    is expected, and nothing else. The warnings of loop.close() are recorded
    rather than raised, as a raise inside uvloop's closing leaves that loop half
    closed, hanging in close().
    """
    iterations = 100
    uvloop = os.environ.get("TEST_EVENT_LOOP") == "uvloop"  # conftest.py made it so
    at_close: list[list[str]] = []
    with nothing_ignored(caplog) as problems:
        asyncio.run(exercise(caches[churn_cache], "warm-up"))
        before = Snapshot.take(redis_server)
        for index in range(iterations):
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(exercise(caches[churn_cache], f"blunt-{index}"))
            finally:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    loop.close()
                at_close.append([f"{w.category.__name__}: {w.message}" for w in caught])
        # The next loop to use the cache frees what the closed ones left.
        asyncio.run(exercise(caches[churn_cache], "after"))
        after = Snapshot.take(redis_server)
    with capsys.disabled():
        print(
            f"\nblunt loop closing: {iterations} loops; sockets {before.sockets} -> "
            f"{after.sockets}, server clients {before.server_clients} -> {after.server_clients}"
        )
    assert problems == []
    if uvloop:
        # One warning per loop, for its one connection: uvloop closed it.
        assert all(len(warned) == 1 for warned in at_close), at_close
        assert all(
            warned[0].startswith("ResourceWarning: unclosed resource <TCPTransport")
            for warned in at_close
        ), at_close
    else:
        assert at_close == [[]] * iterations
    assert after.sockets <= before.sockets + SLACK
    assert after.server_clients <= before.server_clients + SLACK


# The child runs on the loop the parent's run names (TEST_EVENT_LOOP, see conftest.py).
EXIT_PRELUDE = """
import asyncio, os, sys
from django.conf import settings

if os.environ.get("TEST_EVENT_LOOP") == "uvloop":
    import uvloop

    asyncio.events.new_event_loop = asyncio.new_event_loop = uvloop.new_event_loop

settings.configure(CACHES={"default": {"BACKEND": sys.argv[1], "LOCATION": sys.argv[2]}})
from django.core.cache import caches
from django.utils.module_loading import import_string

async def use(cache):
    await cache.aset("exit-check", 2)
    assert await cache.aget("exit-check") == 2
"""

EXIT_SCENARIOS = {
    "sync, own instance": """
cache = import_string(sys.argv[1])(sys.argv[2], {})
cache.set("exit-check", 1)
""",
    "async, own instance": """
cache = import_string(sys.argv[1])(sys.argv[2], {})
asyncio.run(use(cache))
""",
    "mixed, caches and async_to_sync": """
from asgiref.sync import async_to_sync
cache = caches["default"]
cache.set("exit-check", 1)
asyncio.run(use(cache))
async_to_sync(use)(cache)
async_to_sync(use)(import_string(sys.argv[1])(sys.argv[2], {}))
""",
}


@pytest.mark.parametrize("scenario", EXIT_SCENARIOS)
def test_process_exit_leaves_no_unclosed_socket(
    redis_server: servers.Server, scenario: str
) -> None:
    """A process that used the cache exits without a ResourceWarning (``-W error``)."""
    script = EXIT_PRELUDE + EXIT_SCENARIOS[scenario] + 'print("done")\n'
    completed = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, _backend_path(), redis_server.url(15)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (completed.returncode, completed.stdout.strip(), completed.stderr.strip()) == (
        0,
        "done",
        "",
    )
