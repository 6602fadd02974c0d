"""Transport behaviour under stress: multiplexing, cancellation, lost connections, threads, fork."""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from typing import Any

import pytest
from redis import exceptions as redis_errors

from django_async_redis.cache import RedisCache
from tests import servers
from tests.forking import answer_from_a_child


def build(server: servers.Server, **options: Any) -> RedisCache:
    return RedisCache(server.url(), {"OPTIONS": options})


@pytest.fixture
def server() -> Any:
    # A server of the test's own: these tests kill connections and count clients.
    started = servers.start_server()
    yield started
    started.stop()


def test_cancellation_storm_never_crosses_replies(server: servers.Server) -> None:
    cache = build(server)
    keys = [f"storm:{index}" for index in range(3000)]
    cache.set_many({key: f"value of {key}" for key in keys}, timeout=None)

    async def reader(key: str) -> tuple[str, Any]:
        await asyncio.sleep(0)
        return key, await cache.aget(key)

    async def storm() -> int:
        tasks = [asyncio.ensure_future(reader(key)) for key in keys]
        victims = random.Random(7).sample(tasks, len(tasks) // 3)
        for round_index, victim in enumerate(victims):
            if round_index % 50 == 0:
                await asyncio.sleep(0)  # cancel at different moments: queued, written, in flight
            victim.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        completed = 0
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, asyncio.CancelledError):
                continue
            assert not isinstance(result, BaseException), result
            assert result == (key, f"value of {key}")
            completed += 1
        # Right afterwards, every key reads back its own value on the same connection.
        after = await asyncio.gather(*(cache.aget(key) for key in keys))
        assert after == [f"value of {key}" for key in keys]
        return completed

    completed = asyncio.run(storm())
    assert 0 < completed < len(keys)


def test_pipelined_large_replies_parse_across_feed_slices(server: servers.Server) -> None:
    # Reads are handed to the parser in FEED_SLICE pieces; replies that straddle
    # a slice edge, span several slices or share one must all come back whole.
    from django_async_redis import ops
    from django_async_redis.transport.resp import FEED_SLICE

    cache = build(server)
    rng = random.Random(3)
    sizes = [1, 900, FEED_SLICE - 7, FEED_SLICE, FEED_SLICE + 13, 3 * FEED_SLICE + 1, 300_000]
    values = {f"big:{n}": rng.randbytes(sizes[n % len(sizes)]) for n in range(70)}
    cache.set_many(values, timeout=None)
    keys = list(values)

    # Sync: one round trip of 70 GETs, so a single recv carries many replies.
    raw = [cache.make_key(key).encode() for key in keys]
    step = ops.Step([(b"GET", key) for key in raw], lambda replies: replies, write=False)
    replies = cache.client.execute(step)
    assert [cache._decode(reply) for reply in replies] == [values[key] for key in keys]
    assert cache.get_many(keys) == values

    async def read_all() -> list[Any]:
        return await asyncio.gather(*(cache.aget(key) for key in keys * 3))

    assert asyncio.run(read_all()) == [values[key] for key in keys * 3]


def test_sync_connection_with_unasked_replies_is_dropped(server: servers.Server) -> None:
    # Two PINGs sent, one reply expected: the second reply must not reach the
    # next caller. The call fails, the connection is closed, the next call works.
    from django_async_redis.transport.registry import sync_pool
    from django_async_redis.transport.resp import encode_commands

    cache = build(server)
    cache.set("after", "fine")
    pool = sync_pool(cache.client.config.primary, cache.client.config.max_connections)
    with pytest.raises(redis_errors.ConnectionError, match="a reply nobody asked for"):
        pool.execute(encode_commands([(b"PING",), (b"PING",)]), 1)
    assert cache.get("after") == "fine"


def test_connection_count_bounded_in_burst(server: servers.Server) -> None:
    cache = build(server, ASYNC_CONNECTIONS=3)
    peak = 0

    async def one(index: int) -> None:
        await cache.aset(f"burst:{index}", index)
        assert await cache.aget(f"burst:{index}") == index

    async def burst() -> None:
        nonlocal peak
        tasks = [asyncio.ensure_future(one(index)) for index in range(2000)]
        while not all(task.done() for task in tasks):
            peak = max(peak, len(servers.clients_of_this_process(server)))
            await asyncio.sleep(0.001)
        await asyncio.gather(*tasks)
        peak = max(peak, len(servers.clients_of_this_process(server)))

    asyncio.run(burst())
    print(f"\npeak connections during a 2,000-task burst with ASYNC_CONNECTIONS=3: {peak}")
    assert 1 <= peak <= 3


def test_client_kill_mid_burst(server: servers.Server) -> None:
    strict = build(server)
    lenient = build(server, IGNORE_EXCEPTIONS=True)

    async def scenario() -> None:
        await strict.aset("k", "v")

        async def reader(cache: RedisCache) -> Any:
            return await cache.aget("k", "default")

        tasks = [asyncio.ensure_future(reader(strict)) for _ in range(500)]
        tasks += [asyncio.ensure_future(reader(lenient)) for _ in range(500)]
        await asyncio.sleep(0)
        with server.client() as admin:
            admin.client_kill_filter(_type="normal", skipme=True)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results[:500]:
            assert result == "v" or isinstance(result, redis_errors.ConnectionError), result
        for result in results[500:]:
            assert result in ("v", "default"), result
        # The next calls reconnect.
        assert await strict.aget("k") == "v"
        assert await lenient.aget("k") == "v"

    asyncio.run(scenario())

    strict.set("s", 1)
    with server.client() as admin:
        admin.client_kill_filter(_type="normal", skipme=True)
    time.sleep(0.05)  # let the server's hang-up reach our socket
    # The pool notices the killed idle connection and replaces it before sending.
    assert strict.get("s") == 1


def test_sync_and_async_users_never_share(server: servers.Server) -> None:
    cache = build(server)
    cache.set("k", 1)
    sync_ports = servers.local_ports_to(server)

    async def scenario() -> set[int]:
        await cache.aget("k")
        return servers.local_ports_to(server) - sync_ports

    async_ports = asyncio.run(scenario())
    assert sync_ports and async_ports and not (sync_ports & async_ports)


def test_each_loop_gets_its_own_connection(server: servers.Server) -> None:
    cache = build(server)
    results: dict[str, Any] = {}

    def in_thread(name: str) -> None:
        async def scenario() -> Any:
            await cache.aset(name, name)
            await asyncio.sleep(0.2)  # both loops alive at once
            return await cache.aget(name)

        results[name] = asyncio.run(scenario())

    threads = [threading.Thread(target=in_thread, args=(f"t{index}",)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {f"t{index}": f"t{index}" for index in range(4)}


def test_threads_share_the_sync_pool_safely(server: servers.Server) -> None:
    cache = build(server, CONNECTION_POOL_KWARGS={"max_connections": 4})
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for round_index in range(200):
                key = f"thread:{index}:{round_index}"
                cache.set(key, key)
                assert cache.get(key) == key
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(servers.clients_of_this_process(server)) <= 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_fork_gets_fresh_connections(server: servers.Server) -> None:
    cache = build(server)
    cache.set("forked", "parent")

    def child() -> str:  # must not reuse the parent's socket
        cache.set("forked", "child")
        return str(cache.get("forked"))

    assert answer_from_a_child(child) == "child"
    assert cache.get("forked") == "child"


def _server_saw_them_all_close(server: servers.Server) -> bool:
    """Whether the server lists no connection of ours, polled: it notices a close
    when its event loop gets to it (the bound is against a hang only)."""
    deadline = time.monotonic() + 30
    while servers.clients_of_this_process(server):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_close_connection_option(server: servers.Server) -> None:
    cache = build(server, CLOSE_CONNECTION=True)
    cache.set("k", 1)
    assert servers.clients_of_this_process(server)
    cache.close()
    assert _server_saw_them_all_close(server)

    async def all_closed() -> None:
        # Still on the loop, which would close what is left when it ends.
        deadline = time.monotonic() + 30
        while servers.clients_of_this_process(server):
            assert time.monotonic() < deadline, "aclose() left connections open"
            await asyncio.sleep(0.01)

    async def scenario() -> None:
        await cache.aget("k")
        assert servers.clients_of_this_process(server)
        await cache.aclose()
        await all_closed()
        # The next request (the next request's backend, under ASGI) connects
        # anew, and its aclose() closes that connection too: nothing holds on to
        # the closed pool.
        assert await cache.aget("k") == 1
        assert servers.clients_of_this_process(server)
        await cache.aclose()
        await all_closed()

    asyncio.run(scenario())


def test_default_close_keeps_connections(server: servers.Server) -> None:
    cache = build(server)
    cache.set("k", 1)
    before = servers.local_ports_to(server)
    cache.close()
    assert cache.get("k") == 1
    assert servers.local_ports_to(server) == before
