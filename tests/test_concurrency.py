"""2,000 concurrent tasks on one loop: every task gets its own value, on a few connections.

Each task writes then reads its own key. The connections this process holds to
the server's database are sampled while the tasks run (from this process's
socket table, so sampling costs no round trip) and counted again on the server
afterwards (CLIENT LIST, matched by our local ports).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from django.core.cache import BaseCache, caches
from django.test import override_settings

from tests import servers

TASKS = 2000
CONCURRENCY_DB = 12
MAX_CONNECTIONS = 4
HANG_BOUND = 120.0  # seconds; a hang, not a speed, is what this catches


@pytest.fixture
def concurrency_cache(redis_server: servers.Server) -> Iterator[BaseCache]:
    """A cache on its own database, so its connections can be told apart."""
    from django.conf import settings

    backend = settings.CACHES["default"]["BACKEND"]
    location = redis_server.url(CONCURRENCY_DB)
    with override_settings(
        CACHES={
            "default": {"BACKEND": backend, "LOCATION": redis_server.url()},
            "concurrency": {"BACKEND": backend, "LOCATION": location},
        }
    ):
        flush(redis_server)
        yield caches["concurrency"]
        flush(redis_server)


def flush(server: servers.Server) -> None:
    with server.client(CONCURRENCY_DB) as raw:  # closed again: not counted as ours
        raw.flushdb()


def test_two_thousand_concurrent_tasks(
    concurrency_cache: BaseCache,
    redis_server: servers.Server,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = concurrency_cache
    baseline = servers.local_ports_to(redis_server)
    peak: set[int] = set()

    async def task(index: int) -> tuple[int, object]:
        value = {"task": index, "payload": "x" * (index % 50)}
        await cache.aset(f"task:{index}", value)
        return index, await cache.aget(f"task:{index}")

    async def sample(stop: asyncio.Event) -> None:
        while not stop.is_set():
            peak.update(servers.local_ports_to(redis_server) - baseline)
            await asyncio.sleep(0.001)

    async def main() -> tuple[list[tuple[int, object] | BaseException], int]:
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample(stop))
        try:
            results = await asyncio.wait_for(
                asyncio.gather(*(task(i) for i in range(TASKS)), return_exceptions=True),
                HANG_BOUND,
            )
        finally:
            stop.set()
            await sampler
        # Before the loop closes: the server's view of our connections on this db.
        on_server = len(servers.clients_of_this_process(redis_server, db=CONCURRENCY_DB))
        return results, on_server

    results, on_server = asyncio.run(main())

    errors = [result for result in results if isinstance(result, BaseException)]
    assert errors == []
    wrong = [
        result
        for result in results
        if not isinstance(result, BaseException)
        and result[1] != {"task": result[0], "payload": "x" * (result[0] % 50)}
    ]
    assert wrong == []
    with capsys.disabled():
        print(
            f"\nconcurrency: {TASKS} tasks, {len(errors)} errors; connections to the server "
            f"opened by this process during the run: {len(peak)} (peak, sampled); "
            f"on the server afterwards (CLIENT LIST, db {CONCURRENCY_DB}): {on_server}"
        )
    assert 1 <= len(peak) <= MAX_CONNECTIONS
    assert on_server <= MAX_CONNECTIONS
