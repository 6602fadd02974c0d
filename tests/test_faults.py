"""Faults against real servers, and what users see.

A server restarted under sync and async load; maxclients reached; maxmemory
with noeviction; a network that stops delivering (a TCP proxy in the test
that stalls, then resumes). Afterwards nothing is corrupted and no reply
reaches the wrong caller. (CLIENT KILL mid-burst, the cancellation storm, 16
threads on one pool and fork are in test_transport.py; a hung server in
test_breaker.py.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from django_async_redis.cache import RedisCache
from tests import servers


def build(url: str, **options: Any) -> RedisCache:
    return RedisCache(url, {"OPTIONS": {"SOCKET_TIMEOUT": 1, **options}})


def test_server_restart_under_sync_and_async_load(extra_servers: list[servers.Server]) -> None:
    server = servers.start_server()
    extra_servers.append(server)
    cache = build(server.url(), SOCKET_CONNECT_TIMEOUT=1, BREAKER_COOLDOWN=0.2)
    done = threading.Event()
    wrong: list[Any] = []
    failures: dict[str, int] = {"sync": 0, "async": 0}
    successes: dict[str, int] = {"sync": 0, "async": 0}

    def sync_worker(worker: int) -> None:
        n = 0
        while not done.is_set():
            n += 1
            key = f"s{worker}"
            try:
                cache.set(key, (key, n))
                value = cache.get(key)
            except (redis.ConnectionError, redis.TimeoutError):
                failures["sync"] += 1
                time.sleep(0.01)
                continue
            if value not in ((key, n), None):  # None: the restart emptied the server
                wrong.append((key, n, value))
            successes["sync"] += 1

    async def task(worker: int) -> None:
        n = 0
        while not done.is_set():
            n += 1
            key = f"a{worker}"
            try:
                await cache.aset(key, (key, n))
                value = await cache.aget(key)
            except (redis.ConnectionError, redis.TimeoutError):
                failures["async"] += 1
                await asyncio.sleep(0.01)
                continue
            if value not in ((key, n), None):
                wrong.append((key, n, value))
            successes["async"] += 1

    def async_worker() -> None:
        async def main() -> None:
            await asyncio.gather(*(task(n) for n in range(20)))

        asyncio.run(main())

    threads = [threading.Thread(target=sync_worker, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=async_worker))
    for thread in threads:
        thread.start()
    try:
        # The load is under way on both paths before the server goes (a
        # condition, not a sleep; the bound is only against a hang).
        deadline = time.monotonic() + 60
        while min(successes.values()) < 20:
            assert time.monotonic() < deadline, f"load never got going: {successes}"
            time.sleep(0.01)
        port = server.port
        server.stop()
        time.sleep(0.3)
        extra_servers.append(servers.start_server(port=port))
        restarted = time.monotonic()
        before = dict(successes)
        # Serving again: 50 more successes each (60 s is a bound on a hang only).
        while time.monotonic() - restarted < 60 and (
            successes["sync"] <= before["sync"] + 50 or successes["async"] <= before["async"] + 50
        ):
            time.sleep(0.05)
        print(f"\nrestart: serving again {time.monotonic() - restarted:.2f} s after the restart")
    finally:
        done.set()
        for thread in threads:
            thread.join(20)
    assert wrong == []
    assert successes["sync"] > before["sync"] + 50 and successes["async"] > before["async"] + 50
    print(f"restart: calls failed meanwhile {failures}, succeeded {successes}")
    assert cache.set("after", 1) and asyncio.run(cache.aget("after")) == 1


def test_maxclients_reached_is_a_clear_error_and_passes(
    extra_servers: list[servers.Server],
) -> None:
    server = servers.start_server(["--maxclients", "3"])
    extra_servers.append(server)
    hogs = [socket.create_connection((server.host, server.port)) for _ in range(3)]
    try:
        cache = build(server.url())
        # A ConnectionError, as redis-py classes it: IGNORE_EXCEPTIONS covers it.
        with pytest.raises(redis.ConnectionError, match="max number of clients"):
            cache.get("k")
        # The async path passes the server's words on too.
        fresh = build(server.url())
        with pytest.raises(redis.ConnectionError, match="max number of clients"):
            asyncio.run(fresh.aget("k"))
        quiet = build(server.url(), IGNORE_EXCEPTIONS=True)
        assert asyncio.run(quiet.aget("k", "default")) == "default"
    finally:
        for hog in hogs:
            hog.close()
    # The server notices the closed sockets one by one, and the breaker closes:
    # wait until both paths (two connections) are served.
    deadline = time.monotonic() + 10
    while True:
        try:
            cache.set("k", "v")
            assert asyncio.run(cache.aget("k")) == "v"
            break
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert cache.get("k") == "v" and asyncio.run(cache.aget("k")) == "v"


def test_maxmemory_noeviction_refuses_writes_and_keeps_reads(
    extra_servers: list[servers.Server],
) -> None:
    server = servers.start_server(["--maxmemory-policy", "noeviction"])
    extra_servers.append(server)
    cache = build(server.url())
    cache.set("kept", "value")
    with server.client() as raw:
        used = int(raw.info("memory")["used_memory"])
        raw.config_set("maxmemory", used + 100_000)
    with pytest.raises(redis.ResponseError, match="OOM"):
        for n in range(1000):
            cache.set(f"big{n}", "x" * 10_000)

    async def refused() -> None:
        with pytest.raises(redis.ResponseError, match="OOM"):
            await cache.aset("more", "x" * 200_000)

    asyncio.run(refused())
    assert cache.get("kept") == "value"
    assert asyncio.run(cache.aget("kept")) == "value"
    assert cache.delete("kept")


class StallingProxy:
    """A TCP proxy to a server that can stop delivering bytes, like a broken network."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._flowing = threading.Event()
        self._flowing.set()
        self.delay = 0.0  # seconds each chunk is held before it is passed on
        self._closed = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self._target)
            except OSError:
                return
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=self._pump, args=(source, sink), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                self._flowing.wait()
                if self.delay:
                    time.sleep(self.delay)
                if self._closed:
                    return
                sink.sendall(data)

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._closed = True
        self._flowing.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(5)


@pytest.fixture
def proxy(redis_server: servers.Server) -> Iterator[StallingProxy]:
    stalling = StallingProxy((redis_server.host, redis_server.port))
    yield stalling
    stalling.close()


def test_a_stalled_network_fails_fast_then_recovers(
    proxy: StallingProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """Three calls wait out SOCKET_TIMEOUT, the breaker answers the rest unsent; then it heals.

    Counted from the errors IGNORE_EXCEPTIONS logs, not timed: the first cache's
    cooldown outlasts the run, so its breaker cannot half-open mid-count; a
    second cache (breakers are per address and cooldown) shows the recovery.
    """
    url = f"redis://127.0.0.1:{proxy.port}/5"
    stalled = build(
        url, SOCKET_TIMEOUT=0.3, IGNORE_EXCEPTIONS=True, LOG_IGNORED_EXCEPTIONS=True,
        BREAKER_COOLDOWN=3600,
    )  # fmt: skip
    cache = build(url, SOCKET_TIMEOUT=0.3, IGNORE_EXCEPTIONS=True, BREAKER_COOLDOWN=0.3)
    cache.set("k", "v")
    assert asyncio.run(stalled.aget("k")) == asyncio.run(cache.aget("k")) == "v"
    proxy.stall()

    async def tasks(on: RedisCache) -> list[Any]:
        return list(await asyncio.gather(*(on.aget("k", "default") for _ in range(100))))

    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="django_async_redis"):
        answers = [stalled.get("k", "default") for _ in range(10)]
        answers += asyncio.run(tasks(stalled))
    stalled_for = time.monotonic() - started
    assert answers == ["default"] * 110
    print(f"\nstalled network: 110 calls answered the default in {stalled_for:.2f} s")
    errors = [
        type(record.exc_info[1]).__name__
        for record in caplog.records
        if record.getMessage() == "Exception ignored" and record.exc_info
    ]
    # Three waited (the breaker's threshold); the other 107, sync and async, were not sent.
    assert errors == ["TimeoutError"] * 3 + ["CircuitOpen"] * 107

    assert [cache.get("k", "default") for _ in range(4)] == ["default"] * 4  # opens it too
    assert asyncio.run(tasks(cache)) == ["default"] * 100
    proxy.resume()
    deadline = time.monotonic() + 10
    while cache.get("k", "default") != "v":
        assert time.monotonic() < deadline, "never recovered"
        time.sleep(0.05)

    async def after() -> list[Any]:
        await cache.aset("k2", "w")
        return list(await asyncio.gather(*(cache.aget(k) for k in ("k", "k2") * 50)))

    assert asyncio.run(after()) == ["v", "w"] * 50


def test_a_call_that_must_connect_first_still_ends_within_socket_timeout(
    proxy: StallingProxy, redis_server: servers.Server
) -> None:
    """Connecting, the handshake (SELECT) and the command share one SOCKET_TIMEOUT.

    Every chunk crossing the proxy is held 0.6 s: the handshake's reply comes
    after 0.6 s, the GET's after 1.2 s, past the 1 s the call may take.
    """
    with redis_server.client(db=5) as raw:
        raw.set("k", "v")
    proxy.delay = 0.6
    for db in (5, 6):  # another database each time: a node with no connection yet
        url = f"redis://127.0.0.1:{proxy.port}/{db}"
        cache = build(url, SOCKET_TIMEOUT=1.0, BREAKER_THRESHOLD=0)
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            cache.get("k")
        sync_seconds = time.monotonic() - started

        async def call(cache: RedisCache = cache) -> None:
            with pytest.raises(redis.TimeoutError):
                await cache.aget("k")

        started = time.monotonic()
        asyncio.run(call())
        async_seconds = time.monotonic() - started
        print(f"\nfirst call, slow network: sync {sync_seconds:.2f} s, async {async_seconds:.2f} s")
        # The TimeoutError shows the budget is shared: the GET's reply comes at
        # 1.2 s, while each step alone (0.6 s) would fit a budget of its own.
        # The bound only guards against a hang.
        assert sync_seconds < 10 and async_seconds < 10
    proxy.delay = 0.0


def test_wait_for_and_timeouts_around_calls_under_load(proxy: StallingProxy) -> None:
    """Callers that give up (wait_for, asyncio.timeout) never leave a reply to another.

    By construction, not by timing: 2,000 reads leave while the proxy holds
    every byte, so no reply can come before the impatient callers' budgets (0
    to 0.24 s) run out, and every one of them gives up mid-flight. Then the
    bytes flow: the patient callers (a third, interleaved with the others on
    the same connection) are answered, past the replies nobody waits for any
    more, each with its own value. SOCKET_TIMEOUT is far away, so only the
    callers' own budgets end calls.
    """
    cache = build(f"redis://127.0.0.1:{proxy.port}/9", SOCKET_TIMEOUT=60)
    keys = [f"budget:{n}" for n in range(2000)]
    cache.set_many({key: f"value of {key}" for key in keys}, timeout=None)

    async def impatient(key: str, n: int) -> Any:
        budget = (n % 9) * 0.03
        if n % 2:
            async with asyncio.timeout(budget):
                return await cache.aget(key)
        return await asyncio.wait_for(cache.aget(key), budget)

    async def scenario() -> tuple[list[Any], list[Any]]:
        assert await cache.aget(keys[0]) == f"value of {keys[0]}"  # connected, bytes flowing
        proxy.stall()
        calls = [
            asyncio.create_task(impatient(key, n) if n % 3 else cache.aget(key))
            for n, key in enumerate(keys)
        ]
        impatient_calls = [call for n, call in enumerate(calls) if n % 3]
        patient_calls = [call for n, call in enumerate(calls) if not n % 3]
        gave_up = await asyncio.gather(*impatient_calls, return_exceptions=True)
        assert not any(call.done() for call in patient_calls)  # nothing came through
        proxy.resume()
        # The bound is only against a hang.
        answered = await asyncio.wait_for(asyncio.gather(*patient_calls), 60)
        # The connection is still in step: every key reads back its own value.
        after = await asyncio.gather(*(cache.aget(key) for key in keys))
        assert after == [f"value of {key}" for key in keys]
        return gave_up, answered

    gave_up, answered = asyncio.run(scenario())
    print(f"\nwait_for/timeout under load: {len(answered)} answered, {len(gave_up)} gave up")
    assert all(isinstance(result, TimeoutError) for result in gave_up), {
        type(result).__name__ for result in gave_up
    }
    assert len(gave_up) == 1333
    assert answered == [f"value of {key}" for n, key in enumerate(keys) if not n % 3]
    assert cache.delete_many(keys) == len(keys)
