"""The error policy: IGNORE_EXCEPTIONS, logging, and redis-py's exception classes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis import exceptions as redis_errors

from django_async_redis.cache import RedisCache
from tests import servers

# Every public method with arguments, and what it answers when the server is down
# and IGNORE_EXCEPTIONS is on.
SYNC_CALLS: list[tuple[str, tuple[Any, ...], Any]] = [
    ("get", ("k", "fallback"), "fallback"),
    ("add", ("k", 1), False),
    ("set", ("k", 1), False),
    ("touch", ("k", 10), False),
    ("delete", ("k",), False),
    ("get_many", (["a", "b"],), {}),
    ("get_or_set", ("k", lambda: "computed"), "computed"),
    ("has_key", ("k",), False),
    ("incr", ("k",), None),
    ("decr", ("k",), None),
    ("set_many", ({"a": 1, "b": 2},), ["a", "b"]),
    ("delete_many", (["a", "b"],), None),
    ("clear", (), False),
    ("incr_version", ("k",), None),
    ("decr_version", ("k",), None),
    ("ttl", ("k",), None),
    ("pttl", ("k",), None),
    ("expire", ("k", 5), False),
    ("pexpire", ("k", 5), False),
    ("expire_at", ("k", 2_000_000_000), False),
    ("pexpire_at", ("k", 2_000_000_000_000), False),
    ("persist", ("k",), False),
    ("keys", ("*",), []),
    ("delete_pattern", ("*",), 0),
]


def dead_url() -> str:
    return f"redis://127.0.0.1:{servers.free_port()}/0"


def build(url: str, **options: Any) -> RedisCache:
    options.setdefault("SOCKET_CONNECT_TIMEOUT", 1)
    options.setdefault("SOCKET_TIMEOUT", 1)
    return RedisCache(url, {"OPTIONS": options})


@pytest.mark.parametrize(("method", "args", "expected"), SYNC_CALLS, ids=[c[0] for c in SYNC_CALLS])
def test_ignored_sync(method: str, args: tuple[Any, ...], expected: Any) -> None:
    cache = build(dead_url(), IGNORE_EXCEPTIONS=True)
    assert getattr(cache, method)(*args) == expected


@pytest.mark.parametrize(("method", "args", "expected"), SYNC_CALLS, ids=[c[0] for c in SYNC_CALLS])
def test_ignored_async(method: str, args: tuple[Any, ...], expected: Any) -> None:
    cache = build(dead_url(), IGNORE_EXCEPTIONS=True)
    name = "akeys" if method == "keys" else "a" + method

    async def call() -> Any:
        return await getattr(cache, name)(*args)

    assert asyncio.run(call()) == expected


def test_ignored_in_generators() -> None:
    cache = build(dead_url(), IGNORE_EXCEPTIONS=True)
    assert list(cache.iter_keys("*")) == []

    async def collect() -> list[str]:
        return [key async for key in cache.aiter_keys("*")]

    assert asyncio.run(collect()) == []


@pytest.mark.parametrize(("method", "args", "expected"), SYNC_CALLS, ids=[c[0] for c in SYNC_CALLS])
def test_raised_without_ignore(method: str, args: tuple[Any, ...], expected: Any) -> None:
    cache = build(dead_url())
    with pytest.raises(redis_errors.ConnectionError):
        getattr(cache, method)(*args)

    async def call() -> Any:
        name = "akeys" if method == "keys" else "a" + method
        return await getattr(cache, name)(*args)

    with pytest.raises(redis_errors.ConnectionError):
        asyncio.run(call())


def test_generators_raise_without_ignore() -> None:
    cache = build(dead_url())
    with pytest.raises(redis_errors.ConnectionError):
        list(cache.iter_keys("*"))

    async def collect() -> list[str]:
        return [key async for key in cache.aiter_keys("*")]

    with pytest.raises(redis_errors.ConnectionError):
        asyncio.run(collect())


def test_ignored_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    cache = build(dead_url(), IGNORE_EXCEPTIONS=True, LOG_IGNORED_EXCEPTIONS=True)
    with caplog.at_level(logging.ERROR, logger="django_async_redis"):
        assert cache.get("k") is None
        assert asyncio.run(cache.aget("k")) is None
    # As django-redis logs them: ERROR, "Exception ignored", the error itself in exc_info.
    ignored = [r for r in caplog.records if r.getMessage() == "Exception ignored"]
    assert [r.levelno for r in ignored] == [logging.ERROR] * 2
    assert all(
        r.exc_info and isinstance(r.exc_info[1], redis_errors.ConnectionError) for r in ignored
    )
    assert all("Traceback" in caplog.handler.format(r) for r in ignored)

    quiet = build(dead_url(), IGNORE_EXCEPTIONS=True)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="django_async_redis"):
        quiet.get("k")
    assert caplog.records == []


def test_data_errors_are_never_swallowed(
    redis_server: servers.Server, raw_redis: redis.Redis
) -> None:
    cache = build(redis_server.url(), IGNORE_EXCEPTIONS=True)
    raw_redis.delete(cache.make_key("list"))
    raw_redis.rpush(cache.make_key("list"), "x")
    with pytest.raises(redis_errors.ResponseError, match="WRONGTYPE"):
        cache.get("list")
    with pytest.raises(redis_errors.ResponseError, match="WRONGTYPE"):
        asyncio.run(cache.aget("list"))
    cache.set("text", "not a number")
    with pytest.raises(redis_errors.ResponseError):
        cache.incr("text")
    raw_redis.delete(cache.make_key("list"), cache.make_key("text"))


def test_acl_credentials_and_wrong_password() -> None:
    server = servers.start_server()
    try:
        with server.client() as admin:
            admin.execute_command("ACL", "SETUSER", "alice", "on", ">alice-pw", "~*", "+@all")
            admin.config_set("requirepass", "right")
        wrong = build(f"redis://:wrong@127.0.0.1:{server.port}/0")
        # A refused password is the server's answer, not a failing server: past
        # the breaker's threshold (3) every call still says what is wrong.
        for _ in range(5):
            with pytest.raises(redis_errors.AuthenticationError, match="WRONGPASS"):
                wrong.get("k")
        for _ in range(5):
            with pytest.raises(redis_errors.AuthenticationError, match="WRONGPASS"):
                asyncio.run(wrong.aget("k"))
        right = build(f"redis://:right@127.0.0.1:{server.port}/0")
        right.set("k", 1)
        assert right.get("k") == 1
        assert asyncio.run(right.aget("k")) == 1
        alice = build(f"redis://127.0.0.1:{server.port}/3", USERNAME="alice", PASSWORD="alice-pw")
        alice.set("k", 2)
        assert asyncio.run(alice.aget("k")) == 2
        with server.client(password="right") as admin:
            users = {entry["user"] for entry in admin.client_list()}
        assert "alice" in users
    finally:
        server.stop()


def _bounded(call: Callable[[], Any], bound: float) -> Any:
    started = time.monotonic()
    result = call()
    # A generous hang bound, not a timing assertion.
    assert time.monotonic() - started < bound
    return result


def test_hung_server_times_out_and_recovers(redis_server: servers.Server) -> None:
    """A hung server (SIGSTOP: hung until SIGCONT, however long the calls take)."""
    server = servers.start_server()
    assert server.process is not None
    try:
        # No breaker: every call here must really wait for the server.
        cache = build(server.url(), SOCKET_TIMEOUT=0.3, BREAKER_THRESHOLD=0)
        ignoring = build(
            server.url(), SOCKET_TIMEOUT=0.3, IGNORE_EXCEPTIONS=True, BREAKER_THRESHOLD=0
        )
        cache.set("k", "v")
        assert asyncio.run(cache.aget("k")) == "v"
        os.kill(server.process.pid, signal.SIGSTOP)
        with pytest.raises(redis_errors.TimeoutError):
            _bounded(lambda: cache.get("k"), 5)
        assert _bounded(lambda: ignoring.get("k", "dflt"), 5) == "dflt"

        async def hung() -> None:
            with pytest.raises(redis_errors.TimeoutError):
                await cache.aget("k")
            assert await ignoring.aget("k", "dflt") == "dflt"

        _bounded(lambda: asyncio.run(hung()), 5)
        os.kill(server.process.pid, signal.SIGCONT)
        # The next calls work, on fresh connections.
        assert cache.get("k") == "v"
        assert asyncio.run(cache.aget("k")) == "v"
    finally:
        if server.process is not None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()
