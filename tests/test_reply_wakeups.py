"""A reply wakes its caller from inside the read callback: that must never lose or reorder replies.

``MultiplexedConnection.data_received`` matches every reply of a read to its
caller first, then wakes the callers one after another, directly (not through
one ``call_soon`` per reply). Woken tasks run there: they submit and await more
commands, raise, or are interrupted. These tests run on whichever core and loop
the leg runs (compiled or pure, asyncio or uvloop), against a real server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from redis import exceptions as redis_errors

from django_async_redis.cache import RedisCache
from django_async_redis.transport import aio
from django_async_redis.transport.registry import async_pool
from django_async_redis.transport.resp import encode_command
from tests import servers


@pytest.fixture
def server() -> Iterator[servers.Server]:
    started = servers.start_server()
    yield started
    started.stop()


def build(server: servers.Server) -> RedisCache:
    return RedisCache(server.url(), {"OPTIONS": {}})


def finish(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(loop.shutdown_asyncgens())  # closes our connections
    loop.close()


def stdlib_loop(loop: asyncio.AbstractEventLoop) -> bool:
    return type(loop).__module__.startswith("asyncio")


def test_woken_callers_submit_and_await_more_commands(server: servers.Server) -> None:
    cache = build(server)
    keys = [f"chain:{index}" for index in range(400)]
    cache.set_many({key: index for index, key in enumerate(keys)}, timeout=None)

    async def chain(index: int, key: str) -> None:
        # Each await below resumes inside a read callback, and its next command
        # is queued from there, while other replies of that read are still
        # waking their own callers.
        assert await cache.aget(key) == index
        assert await cache.aset(f"{key}:next", index + 1)
        assert await cache.aget(f"{key}:next") == index + 1
        assert await cache.aincr(f"{key}:next", 10) == index + 11
        assert await cache.aget_many([key, f"{key}:next"]) == {
            key: index,
            f"{key}:next": index + 11,
        }

    async def main() -> int:
        await asyncio.gather(*(chain(index, key) for index, key in enumerate(keys)))
        node = cache.client.nodes[0]
        return len(async_pool(node, cache.client.config.async_connections).connections())

    loop = asyncio.new_event_loop()
    try:
        connections = loop.run_until_complete(main())
    finally:
        finish(loop)
    assert connections == 1  # all of it went through one multiplexed connection


class Abort(BaseException):
    """A BaseException that is neither SystemExit nor KeyboardInterrupt."""


def test_a_woken_task_raising_keyboard_interrupt_loses_no_reply(server: servers.Server) -> None:
    cache = build(server)
    keys = [f"interrupt:{index}" for index in range(60)]
    cache.set_many({key: index for index, key in enumerate(keys)}, timeout=None)
    got: dict[int, Any] = {}

    async def reader(index: int) -> None:
        value = await cache.aget(keys[index])
        if index == 20:
            raise KeyboardInterrupt
        if index == 40:
            raise Abort
        got[index] = value

    loop = asyncio.new_event_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        loop.run_until_complete(cache.aget(keys[0]))  # connected: the readers share one read
        tasks = [loop.create_task(reader(index)) for index in range(len(keys))]
        interrupted = False
        try:
            loop.run_until_complete(asyncio.wait(tasks))
        except KeyboardInterrupt:
            interrupted = True
        # Let everything woken or failed meanwhile finish.
        loop.run_until_complete(asyncio.wait(tasks))
        outcomes = {index: task.exception() for index, task in enumerate(tasks)}
        # Right afterwards the connection (or its replacement) is in step.
        after = loop.run_until_complete(cache.aget_many(keys))
    finally:
        finish(loop)

    assert isinstance(outcomes[20], KeyboardInterrupt)
    assert isinstance(outcomes[40], Abort)
    for index, value in got.items():
        assert value == index  # nobody got another caller's reply
    assert after == {key: index for index, key in enumerate(keys)}
    if stdlib_loop(loop):
        # asyncio lets KeyboardInterrupt out of run_until_complete; every other
        # caller, woken before or after the interrupted one, has its own reply.
        assert interrupted
        assert sorted(got) == [index for index in range(len(keys)) if index not in (20, 40)]
    else:
        # uvloop catches it in its read callback and closes the transport: the
        # callers whose replies were read still get them, the rest a
        # ConnectionError; none gets a wrong value.
        for index, error in outcomes.items():
            if index not in (20, 40) and index not in got:
                assert isinstance(error, redis_errors.ConnectionError), error
        assert interrupted or reported


def test_a_failing_done_callback_is_reported_and_the_rest_still_run(
    server: servers.Server,
) -> None:
    cache = build(server)
    seen: list[str] = []

    async def main() -> list[Any]:
        node = cache.client.nodes[0]
        connection = await async_pool(node, 1).acquire()
        first = connection.submit(encode_command((b"PING",)), 1, None)
        second = connection.submit(encode_command((b"ECHO", b"two")), 1, None)

        def broken(future: Any) -> None:
            seen.append("broken")
            raise ValueError("a callback's own bug")

        first.add_done_callback(broken)
        first.add_done_callback(lambda future: seen.append("after broken"))
        second.add_done_callback(lambda future: seen.append("second"))
        return [await first, await second]

    loop = asyncio.new_event_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        replies = loop.run_until_complete(main())
    finally:
        finish(loop)
    assert replies == [[b"PONG"], [b"two"]]
    assert seen == ["broken", "after broken", "second"]
    assert [type(context["exception"]) for context in reported] == [ValueError]


def test_reply_future_behaves_as_an_asyncio_future(server: servers.Server) -> None:
    cache = build(server)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        node = cache.client.nodes[0]
        connection = await async_pool(node, 1).acquire()

        future = connection.submit(encode_command((b"PING",)), 1, None)
        assert future.get_loop() is loop and not future.done() and not future.cancelled()
        with pytest.raises(asyncio.InvalidStateError):
            future.result()
        calls: list[str] = []

        def callback(done: Any) -> None:
            calls.append("removed")

        future.add_done_callback(callback)
        assert future.remove_done_callback(callback) == 1
        assert await future == [b"PONG"]
        assert future.done() and future.exception() is None and calls == []
        # A callback added once done runs on the next iteration, not at once.
        future.add_done_callback(lambda done: calls.append("late"))
        assert calls == []
        await asyncio.sleep(0)
        assert calls == ["late"]

        # Cancelled before its reply: the waiter gets CancelledError (with the
        # message), the reply is read and dropped, the next caller gets its own.
        cancelled = connection.submit(encode_command((b"ECHO", b"dropped")), 1, None)
        assert cancelled.cancel("no longer wanted") and not cancelled.cancel()
        with pytest.raises(asyncio.CancelledError, match="no longer wanted"):
            await cancelled
        assert cancelled.cancelled()
        assert await connection.submit(encode_command((b"ECHO", b"kept")), 1, None) == [b"kept"]

        # asyncio.wait_for and asyncio.shield take it as they take a future.
        reply = await asyncio.wait_for(
            connection.submit(encode_command((b"ECHO", b"w")), 1, None), 5
        )
        assert reply == [b"w"]
        reply = await asyncio.shield(connection.submit(encode_command((b"ECHO", b"s")), 1, None))
        assert reply == [b"s"]

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        finish(loop)


def test_a_wake_from_inside_a_task_goes_through_the_loop() -> None:
    # The read callback is never inside a task; were the wake-up ever run from
    # one, stepping another task there is not allowed: it must be scheduled.
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        future = aio.reply_future_class(loop, 1, None, 0)
        order: list[str] = []

        async def waiter() -> None:
            order.append(f"woken with {(await future)[0]}")

        task = loop.create_task(waiter())
        await asyncio.sleep(0)  # the waiter now waits on the future
        aio.resolve_replies(loop, [(future, "reply")])
        order.append("resolver went on")
        await task
        return order

    loop = asyncio.new_event_loop()
    try:
        order = loop.run_until_complete(main())
    finally:
        finish(loop)
    assert order == ["resolver went on", "woken with reply"]
