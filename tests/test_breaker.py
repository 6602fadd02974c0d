"""The circuit breaker against real servers: hung (SIGSTOP), refused, back again.

What the breaker spares is counted, not timed: each call's error says whether
it reached the server (TimeoutError: it waited out SOCKET_TIMEOUT) or was
refused unsent (CircuitOpen). With IGNORE_EXCEPTIONS the errors are read from
the ERROR records LOG_IGNORED_EXCEPTIONS writes. Where a count must not depend
on how long a run takes, the cooldown (OPEN_FOR) outlasts any run, so the
breaker cannot half-open mid-count; breakers are per address *and* cooldown,
so a second cache with a short one shows the recovery. Durations are printed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from django_async_redis.cache import RedisCache
from django_async_redis.transport.breaker import CircuitOpen
from tests import servers

TIMEOUT = 0.5
# A cooldown no test run lasts: the breaker stays open for the whole count.
OPEN_FOR = 3600


def build(server: servers.Server, **options: Any) -> RedisCache:
    return RedisCache(server.url(), {"OPTIONS": {"SOCKET_TIMEOUT": TIMEOUT, **options}})


@pytest.fixture
def server() -> Iterator[servers.Server]:
    started = servers.start_server()
    yield started
    _resume(started)
    started.stop()


def _stop(server: servers.Server) -> None:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)


def _resume(server: servers.Server) -> None:
    if server.process is not None:
        os.kill(server.process.pid, signal.SIGCONT)


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def _until_served(call: Callable[[], Any], expected: Any, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < 10:
        if call() == expected:
            seconds = time.monotonic() - started
            print(f"\n{what}: first success {seconds:.2f} s after the server came back")
            return seconds
        time.sleep(0.01)
    raise AssertionError(f"{what}: never served again")


def _ignored_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The class names of the errors IGNORE_EXCEPTIONS answered defaults for, in order."""
    return [
        type(record.exc_info[1]).__name__
        for record in caplog.records
        if record.getMessage() == "Exception ignored" and record.exc_info
    ]


def test_hung_server_answers_defaults_at_once_then_recovers(
    server: servers.Server, caplog: pytest.LogCaptureFixture
) -> None:
    cache = build(
        server, IGNORE_EXCEPTIONS=True, LOG_IGNORED_EXCEPTIONS=True, BREAKER_COOLDOWN=OPEN_FOR
    )
    cache.set("k", "v")
    _stop(server)

    async def twenty() -> list[Any]:
        return [await cache.aget("k", "default") for _ in range(20)]

    with caplog.at_level(logging.ERROR, logger="django_async_redis"):
        values, seconds = _timed(lambda: [cache.get("k", "default") for _ in range(20)])
        assert values == ["default"] * 20
        print(f"\n20 sync get on a hung server: {seconds:.2f} s")
        values, seconds = _timed(lambda: asyncio.run(twenty()))
        assert values == ["default"] * 20
        print(f"20 aget on a hung server: {seconds:.2f} s")
    # Three calls (the threshold) waited for the hung server; the other 37,
    # the async ones too (the breaker is shared), were answered unsent.
    assert _ignored_errors(caplog) == ["TimeoutError"] * 3 + ["CircuitOpen"] * 37

    # Recovery: a cache whose breaker half-opens after 0.2 s, opened the same way.
    recovering = build(server, IGNORE_EXCEPTIONS=True, BREAKER_COOLDOWN=0.2)
    assert [recovering.get("k", "default") for _ in range(4)] == ["default"] * 4
    _resume(server)
    _until_served(lambda: recovering.get("k", "default"), "v", "sync, after SIGCONT")
    assert asyncio.run(recovering.aget("k")) == "v"


def test_open_breaker_raises_connection_error_at_once(server: servers.Server) -> None:
    cache = build(server, BREAKER_COOLDOWN=OPEN_FOR)
    cache.set("k", "v")
    _stop(server)
    errors = []
    for _ in range(6):
        with pytest.raises(redis.RedisError) as caught:
            cache.get("k")
        errors.append(caught.value)
    # Three timeouts (the threshold), then refused at once.
    assert [type(error).__name__ for error in errors] == ["TimeoutError"] * 3 + ["CircuitOpen"] * 3
    assert isinstance(errors[-1], redis.ConnectionError)
    assert server.address in str(errors[-1]) and "circuit breaker" in str(errors[-1])
    refused, seconds = _timed(lambda: [_error_of(lambda: cache.get("k")) for _ in range(50)])
    print(f"\n50 get refused by the open breaker: {seconds * 1000:.1f} ms")
    assert refused == ["CircuitOpen"] * 50  # none of them touched the network

    async def fails() -> BaseException | None:
        try:
            await cache.aget("k")
        except redis.ConnectionError as error:
            return error
        return None

    # Shared with the async path: the sync failures opened it for tasks too.
    assert isinstance(asyncio.run(fails()), CircuitOpen)


def _error_of(call: Callable[[], Any]) -> str:
    try:
        call()
    except redis.RedisError as error:
        return type(error).__name__
    return "no error"


def test_refused_node_recovers_when_it_comes_back(extra_servers: list[servers.Server]) -> None:
    server = servers.start_server()
    extra_servers.append(server)
    port = server.port
    cache = build(server, IGNORE_EXCEPTIONS=True, SOCKET_CONNECT_TIMEOUT=TIMEOUT)
    cache.set("k", "v")
    server.stop()
    assert [cache.get("k", "gone") for _ in range(10)] == ["gone"] * 10
    assert asyncio.run(cache.aget("k", "gone")) == "gone"
    back = servers.start_server(port=port)
    extra_servers.append(back)
    _until_served(lambda: cache.set("k", "again") and cache.get("k"), "again", "after a restart")

    async def served() -> Any:
        return await cache.aget("k")

    _until_served(lambda: asyncio.run(served()), "again", "async, after a restart")


def test_one_trial_at_a_time_while_open(server: servers.Server) -> None:
    """After the cooldown one call tries the node; the others keep failing fast."""
    cache = build(server, BREAKER_COOLDOWN=0.3)
    cache.set("k", "v")
    _stop(server)
    for _ in range(3):
        with pytest.raises(redis.TimeoutError):
            cache.get("k")
    time.sleep(0.35)

    async def many() -> list[str]:
        results = await asyncio.gather(
            *(cache.aget("k") for _ in range(50)), return_exceptions=True
        )
        return [type(result).__name__ for result in results]

    kinds, seconds = _timed(lambda: asyncio.run(many()))
    print(f"\n50 aget while half-open: {seconds:.2f} s")
    # One trial waited out its timeout; 49 were refused without being sent.
    assert kinds.count("CircuitOpen") == 49
    assert kinds.count("TimeoutError") == 1


def test_breaker_can_be_turned_off(server: servers.Server) -> None:
    cache = build(server, BREAKER_THRESHOLD=0)
    cache.set("k", "v")
    _stop(server)
    for _ in range(4):
        with pytest.raises(redis.TimeoutError):
            cache.get("k")  # each call really waits for the server: never CircuitOpen
    _resume(server)
    assert cache.get("k") == "v"
