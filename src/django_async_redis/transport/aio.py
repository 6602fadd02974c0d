"""The async transport: opening connections, and a few per (event loop, node).

The connection itself, with the auto-pipelining and the reply FIFO, is in
``connection.py``. It runs compiled (``_connection_c``, built from that same
file by setup.py) unless the extension is missing or
``DJANGO_ASYNC_REDIS_NO_EXTENSIONS`` is set when this module is first imported;
``COMPILED`` says which.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any, cast

from redis import exceptions as redis_errors

from ..config import Node
from . import connection as _pure
from .breaker import breaker_for
from .connection import MultiplexedConnection
from .resp import (
    as_redis_error,
    classify_error,
    encode_commands,
    first_error,
)

logger = logging.getLogger("django_async_redis")


def _implementation() -> Any:
    if os.environ.get("DJANGO_ASYNC_REDIS_NO_EXTENSIONS"):
        logger.debug("DJANGO_ASYNC_REDIS_NO_EXTENSIONS is set: the pure-Python transport runs")
        return _pure
    try:
        from . import _connection_c  # type: ignore[attr-defined]
    except ImportError as error:
        logger.debug("No compiled core (%s): the pure-Python transport runs", error)
        return _pure
    return _connection_c


_chosen = _implementation()
COMPILED: bool = _chosen is not _pure
# The classes that run, typed as the pure ones: they are built from the same source.
connection_class: type[MultiplexedConnection] = _chosen.MultiplexedConnection
reply_future_class: type[_pure.ReplyFuture] = _chosen.ReplyFuture
resolve_replies: Callable[..., None] = _chosen.resolve_replies


async def open_connection(node: Node, loop: asyncio.AbstractEventLoop) -> MultiplexedConnection:
    """Connect, authenticate and select the database."""
    connection = connection_class(node, loop)
    # Not an asyncio.Protocol subclass (see MultiplexedConnection), but one in all it does.
    protocol = cast(Callable[[], asyncio.Protocol], lambda: connection)
    budget = node.call_budget
    deadline = None if budget is None else loop.time() + budget
    try:
        if node.unix_path:
            connect = loop.create_unix_connection(protocol, node.unix_path)
        else:
            ssl_context = node.tls.context() if node.tls is not None else None
            connect = loop.create_connection(
                protocol,
                node.host,
                node.port,
                ssl=ssl_context,
                server_hostname=node.host if ssl_context else None,
            )
        await asyncio.wait_for(connect, node.connect_timeout)
    except (TimeoutError, OSError) as exc:
        failed = as_redis_error(exc, f"connecting to {node.address}", connecting=True)
        breaker_for(node).failure(failed)
        raise failed from exc
    handshake = node.handshake()
    if handshake:
        try:
            # What is left of the opening call's budget (see Node.call_budget).
            left = None if deadline is None else max(deadline - loop.time(), 0.001)
            if left is not None and node.socket_timeout is not None:
                left = min(left, node.socket_timeout)
            replies = await connection.submit(encode_commands(handshake), len(handshake), left)
        except BaseException:
            connection.abort(redis_errors.ConnectionError("handshake failed"))
            raise
        error = first_error(replies)
        if error is not None:
            connection.abort(redis_errors.ConnectionError("handshake refused"))
            raise classify_error(error)
    return connection


class AsyncPool:
    """The multiplexed connections of one node on one event loop.

    ``size`` connections at most, opened lazily and used in turn. A lost
    connection is replaced on the next call that lands on its slot.
    """

    def __init__(self, node: Node, size: int, loop: asyncio.AbstractEventLoop) -> None:
        self.node = node
        self._breaker = breaker_for(node)
        self._loop = loop
        self._slots: list[MultiplexedConnection | None] = [None] * size
        self._opening: list[asyncio.Task[MultiplexedConnection] | None] = [None] * size
        self._turn = 0
        # Set once the registry has let go of this pool (its loop shut down or was
        # closed, or CLOSE_CONNECTION closed it): whoever kept a reference to it
        # (DefaultClient's per-loop shortcut) must look the pool up again.
        self.retired = False

    def ready_connection(self) -> MultiplexedConnection | None:
        """The next connection in turn if it can take a command now; else None: :meth:`acquire`."""
        if self._breaker.open_until:
            return None  # acquire() decides: fail fast, or this call is the trial
        slots = self._slots
        if len(slots) == 1:
            connection = slots[0]
        else:
            self._turn = (self._turn + 1) % len(slots)
            connection = slots[self._turn]
        if connection is not None and connection.ready():
            return connection
        return None

    async def acquire(self) -> MultiplexedConnection:
        """The current slot's connection, opened if needed, once it has room for a command."""
        if self._breaker.open_until:
            self._breaker.admit()  # raises CircuitOpen unless this call is the trial
        connection = self._slots[self._turn]
        if connection is None or not connection.usable:
            connection = await self._connect()
        await connection.wait_for_room()
        return connection

    async def _connect(self) -> MultiplexedConnection:
        """Open (or join the opening of) the connection for the current slot."""
        index = self._turn
        task = self._opening[index]
        if task is None:
            task = self._loop.create_task(open_connection(self.node, self._loop))
            # Retrieve a failure even if every waiter was cancelled meanwhile.
            task.add_done_callback(_retrieve_exception)
            self._opening[index] = task
            task.add_done_callback(lambda done: self._opened(index, done))
        # Shielded: one caller's cancellation must not abort a connect others wait on.
        return await asyncio.shield(task)

    def _opened(self, index: int, task: asyncio.Task[MultiplexedConnection]) -> None:
        self._opening[index] = None
        if not task.cancelled() and task.exception() is None:
            self._slots[index] = task.result()

    def connections(self) -> list[MultiplexedConnection]:
        return [connection for connection in self._slots if connection is not None]

    async def aclose(self) -> None:
        self.retired = True
        connections = self.connections()
        self._slots = [None] * len(self._slots)
        for task in self._opening:
            if task is not None:
                task.cancel()
        for connection in connections:
            await connection.aclose()

    def abandon(self) -> None:
        self.retired = True
        for connection in self.connections():
            connection.abandon()
        self._slots = [None] * len(self._slots)


def _retrieve_exception(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
