"""The async transport: a few multiplexed connections per (event loop, node).

Every command from every task on a loop goes through the same connection(s).
A command sent while the connection is idle leaves at once; commands submitted
while replies are outstanding leave together in one write at the end of the
loop iteration (auto-pipelining). Replies come back in order and resolve a
FIFO of futures, the design of aioredis 1.x and asyncpg. A caller that is
cancelled or times out leaves its place in the FIFO: its reply is still read
and dropped, so the connection never falls out of step with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from typing import Any

from redis import exceptions as redis_errors

from ..config import Node
from .breaker import breaker_for
from .resp import (
    FEED_SLICE,
    as_redis_error,
    classify_error,
    encode_commands,
    first_error,
    new_reader,
    resp2_shape,
)

# Bound on commands awaiting replies per connection: past it, callers wait for
# room instead of queueing without limit (backpressure).
MAX_PENDING_REPLIES = 16384


class _Pending:
    """A caller's share of the reply stream: ``remaining`` more replies, then resolve."""

    __slots__ = ("deadline", "future", "reads_when_queued", "remaining", "replies")

    def __init__(
        self,
        future: asyncio.Future[list[Any]],
        count: int,
        deadline: float | None,
        reads_when_queued: int,
    ) -> None:
        self.future = future
        self.remaining = count
        self.replies: list[Any] = []
        self.deadline = deadline
        self.reads_when_queued = reads_when_queued


class MultiplexedConnection(asyncio.Protocol):
    """One socket shared by all tasks of a loop, with replies matched in order."""

    def __init__(self, node: Node, loop: asyncio.AbstractEventLoop) -> None:
        self.node = node
        self._breaker = breaker_for(node)
        self._resp3 = node.protocol == 3
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._reader = new_reader()
        self._pending: deque[_Pending] = deque()
        self._pending_replies = 0
        self._outgoing: list[bytes] = []
        self._flush_scheduled = False
        self._reads = 0  # bumps on every data_received: tells a slow server from a dead one
        self._room_waiters: deque[asyncio.Future[None]] = deque()
        self._lost: Exception | None = None
        # One timer per connection, not one per request: it fires at the oldest
        # request's deadline (the FIFO is in deadline order).
        self._watchdog: asyncio.TimerHandle | None = None
        self.closed: asyncio.Future[None] = loop.create_future()

    # asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and self.node.keepalive and sock.family != socket.AF_UNIX:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def data_received(self, data: bytes) -> None:
        self._reads += 1
        if self._breaker.failures:
            self._breaker.success()
        reader = self._reader
        pending = self._pending
        size = len(data)
        start = 0
        # Fed a slice at a time and drained in between (see FEED_SLICE).
        while start < size:
            reader.feed(data, start, min(FEED_SLICE, size - start))
            start += FEED_SLICE
            try:
                reply = reader.gets()
                while reply is not False:
                    if self._resp3:
                        reply = resp2_shape(reply)
                    if not pending:
                        self._protocol_error("a reply nobody asked for")
                        return
                    head = pending[0]
                    head.replies.append(reply)
                    head.remaining -= 1
                    if not head.remaining:
                        pending.popleft()
                        self._pending_replies -= len(head.replies)
                        if not head.future.done():  # cancelled or timed out: drop the reply
                            head.future.set_result(head.replies)
                    reply = reader.gets()
            except Exception as exc:  # a protocol error: nothing after it can be trusted
                self._protocol_error(exc)
                return
        if self._room_waiters and self._pending_replies < MAX_PENDING_REPLIES:
            self._wake_room_waiters()

    def _protocol_error(self, reason: object) -> None:
        message = f"Protocol error from {self.node.address}: {reason}"
        self.abort(redis_errors.ConnectionError(message))

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost fails what is pending

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost is None:
            self._lost = redis_errors.ConnectionError(
                f"Connection to {self.node.address} lost" + (f": {exc}" if exc else "")
            )
            if self._pending:  # the server went away with requests in flight
                self._breaker.failure(self._lost)
        self._fail_pending(self._lost)
        if self._transport is not None:
            # Python 3.10's SSL transport does not count itself closed when the
            # server drops the connection: close it, or it warns when collected.
            self._transport.close()
        self._transport = None
        if not self.closed.done():
            self.closed.set_result(None)

    # the caller's side -----------------------------------------------------

    @property
    def usable(self) -> bool:
        return self._lost is None and self._transport is not None

    def ready(self) -> bool:
        """Open, and below the bound on outstanding replies: submit() may be called now."""
        return (
            self._lost is None
            and self._transport is not None
            and self._pending_replies < MAX_PENDING_REPLIES
        )

    def submit(
        self, payload: bytes, reply_count: int, timeout: float | None
    ) -> asyncio.Future[list[Any]]:
        """Send ``payload`` now or with this tick's batch; the future gets ``reply_count`` replies.

        A plain function returning a future, not a coroutine: the caller awaits
        the future directly, one frame less on the hottest path.
        """
        if self._lost is not None:
            raise self._lost
        loop = self._loop
        future: asyncio.Future[list[Any]] = loop.create_future()
        deadline = None if timeout is None else loop.time() + timeout
        idle = not self._pending
        self._pending.append(_Pending(future, reply_count, deadline, self._reads))
        self._pending_replies += reply_count
        if idle and self._transport is not None:
            # Nothing in flight, so nothing queued either: send at once instead of
            # at the end of the tick, which saves a loop iteration on every lone
            # call. Calls made while replies are outstanding still leave together.
            self._transport.write(payload)
        else:
            self._outgoing.append(payload)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                loop.call_soon(self._flush)
        if deadline is not None and self._watchdog is None:
            self._watchdog = loop.call_at(deadline, self._check_deadlines)
        return future

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._transport is None or not self._outgoing:
            return
        outgoing = self._outgoing
        self._outgoing = []
        self._transport.write(b"".join(outgoing) if len(outgoing) > 1 else outgoing[0])

    def _check_deadlines(self) -> None:
        """Fail the requests whose deadline passed; re-arm for the next one."""
        self._watchdog = None
        now = self._loop.time()
        for item in self._pending:
            if item.deadline is None:
                continue
            if item.deadline > now:
                self._watchdog = self._loop.call_at(item.deadline, self._check_deadlines)
                return
            if item.future.done():
                continue
            error = redis_errors.TimeoutError(f"Timeout reading from {self.node.address}")
            if self._reads == item.reads_when_queued:
                # Not one byte arrived since this request was queued: the server or
                # the network is gone. Dropping the connection fails everyone now and
                # makes the next call reconnect, instead of each caller waiting out
                # its own timeout.
                self._breaker.failure(error)
                self.abort(error)
                return
            # Replies are still flowing, so the server is alive but this command is
            # slow: fail only this caller; its reply will be read and dropped.
            item.future.set_exception(error)

    async def wait_for_room(self) -> None:
        while self._pending_replies >= MAX_PENDING_REPLIES and self._lost is None:
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._room_waiters.append(waiter)
            await waiter

    def _wake_room_waiters(self) -> None:
        while self._room_waiters:
            waiter = self._room_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _fail_pending(self, error: Exception) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        pending, self._pending = self._pending, deque()
        self._pending_replies = 0
        self._outgoing = []
        for item in pending:
            if not item.future.done():
                item.future.set_exception(error)
        self._wake_room_waiters()

    def abort(self, error: Exception) -> None:
        """Drop the connection now, failing every caller still waiting on it."""
        if self._lost is None:
            self._lost = error
        self._fail_pending(error)
        if self._transport is not None:
            self._transport.abort()

    async def aclose(self) -> None:
        """Close politely: what is already written gets its replies or a ConnectionError."""
        if self._transport is not None:
            self._flush()
            self._transport.close()
        if not self.closed.done():
            try:
                await asyncio.wait_for(asyncio.shield(self.closed), 1.0)
            except asyncio.TimeoutError:
                if self._transport is not None:
                    self._transport.abort()

    def abandon(self) -> None:
        """Release the socket of a connection whose event loop is already closed.

        Only reached when a loop was closed without ``shutdown_asyncgens()``;
        the transport cannot schedule its own cleanup on a closed loop, so run
        it directly.
        """
        transport = self._transport
        self._transport = None
        self._lost = self._lost or redis_errors.ConnectionError("Event loop closed")
        if transport is None:
            return
        lost = getattr(transport, "_call_connection_lost", None)
        if callable(lost):
            try:
                lost(None)
                return
            except Exception:
                pass
        with contextlib.suppress(RuntimeError):
            transport.abort()


async def open_connection(node: Node, loop: asyncio.AbstractEventLoop) -> MultiplexedConnection:
    """Connect, authenticate and select the database."""
    connection = MultiplexedConnection(node, loop)
    budget = node.call_budget
    deadline = None if budget is None else loop.time() + budget
    try:
        if node.unix_path:
            connect = loop.create_unix_connection(lambda: connection, node.unix_path)
        else:
            ssl_context = node.tls.context() if node.tls is not None else None
            connect = loop.create_connection(
                lambda: connection,
                node.host,
                node.port,
                ssl=ssl_context,
                server_hostname=node.host if ssl_context else None,
            )
        await asyncio.wait_for(connect, node.connect_timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        failed = as_redis_error(exc, f"connecting to {node.address}", connecting=True)
        connection._breaker.failure(failed)
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
        connections = self.connections()
        self._slots = [None] * len(self._slots)
        for task in self._opening:
            if task is not None:
                task.cancel()
        for connection in connections:
            await connection.aclose()

    def abandon(self) -> None:
        for connection in self.connections():
            connection.abandon()
        self._slots = [None] * len(self._slots)


def _retrieve_exception(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
