"""One multiplexed connection per (event loop, node), and the future a reply wakes.

Every command from every task on a loop goes through the same connection(s).
A command sent while the connection is idle leaves at once; commands submitted
while replies are outstanding leave together in one write at the end of the
loop iteration (auto-pipelining). Replies come back in order and resolve a
FIFO of :class:`ReplyFuture`, the design of aioredis 1.x and asyncpg. A caller
that is cancelled or times out leaves its place in the FIFO: its reply is still
read and dropped, so the connection never falls out of step with the server.

This is the hottest code of the async path, so it is also compiled: Cython
reads this file with ``_connection_c.pxd`` beside it (C types for the classes
below) and setup.py builds it as ``_connection_c`` where a compiler is at hand.
The very same file, imported as it is, is the pure-Python path: there is one
source of the logic. ``aio.py`` picks which one runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import socket
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, cast

from redis import exceptions as redis_errors

from ..nodes import Node
from .breaker import breaker_for
from .resp import FEED_SLICE, ReplyError, new_reader, resp2_shape

# Bound on commands awaiting replies per connection: past it, callers wait for
# room instead of queueing without limit (backpressure).
MAX_PENDING_REPLIES = 16384

# A ReplyFuture's states.
_PENDING = 0
_DONE = 1
_FAILED = 2
_CANCELLED = 3

_current_task = asyncio.current_task
_copy_context = contextvars.copy_context

Callback = Callable[[Any], object]


class ReplyFuture:
    """A caller's share of the reply stream: ``remaining`` more replies, then done.

    It is what the caller awaits, and it behaves as an asyncio future to the
    task awaiting it (``_asyncio_future_blocking``, ``add_done_callback``,
    ``cancel``, ``result``, ``exception``, ``get_loop``), so ``asyncio.Task``
    and uvloop wait on it as on their own. It differs in one place: when its
    replies are in, :meth:`MultiplexedConnection.data_received` wakes the
    waiting task at once (:meth:`_wake`), instead of scheduling one
    ``call_soon`` Handle per reply for the next loop iteration. Cancellation,
    timeouts and errors still go through the loop, as asyncio's own do.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        count: int,
        deadline: float | None,
        reads_when_queued: int,
    ) -> None:
        self._loop = loop
        self.remaining = count
        self.replies: list[Any] = []
        self.deadline = deadline
        self.reads_when_queued = reads_when_queued
        self._state = _PENDING
        self._error: BaseException | None = None
        # The first callback (the waiting task's wake-up, in practice) has slots
        # of its own; any others go to a list.
        self._callback: Callback | None = None
        self._context: contextvars.Context | None = None
        self._more_callbacks: list[tuple[Callback, contextvars.Context]] | None = None
        self._cancel_message: Any = None
        # asyncio.Task's protocol: True while a task is to wait on this future.
        self._asyncio_future_blocking = False

    # what asyncio.Task (and asyncio.isfuture) look for ------------------------

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def done(self) -> bool:
        return self._state != _PENDING

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def result(self) -> list[Any]:
        """The replies; raises the error, or CancelledError, if it ended so."""
        state = self._state
        if state == _DONE:
            return self.replies
        if state == _FAILED:
            assert self._error is not None
            raise self._error
        if state == _CANCELLED:
            raise self._make_cancelled_error()
        raise asyncio.InvalidStateError("Result is not ready.")

    def exception(self) -> BaseException | None:
        state = self._state
        if state == _CANCELLED:
            raise self._make_cancelled_error()
        if state == _PENDING:
            raise asyncio.InvalidStateError("Exception is not set.")
        return self._error

    def _make_cancelled_error(self) -> asyncio.CancelledError:
        message = self._cancel_message
        return asyncio.CancelledError() if message is None else asyncio.CancelledError(message)

    def add_done_callback(
        self, fn: Callback, *, context: contextvars.Context | None = None
    ) -> None:
        if context is None:
            context = _copy_context()
        if self._state != _PENDING:
            self._loop.call_soon(fn, self, context=context)
        elif self._callback is None:
            self._callback = fn
            self._context = context
        else:
            if self._more_callbacks is None:
                self._more_callbacks = []
            self._more_callbacks.append((fn, context))

    def remove_done_callback(self, fn: Callback) -> int:
        removed = 0
        if self._callback is not None and self._callback == fn:
            self._callback = self._context = None
            removed = 1
        if self._more_callbacks:
            kept = [(cb, ctx) for cb, ctx in self._more_callbacks if cb != fn]
            removed += len(self._more_callbacks) - len(kept)
            self._more_callbacks = kept
        return removed

    def cancel(self, msg: Any = None) -> bool:
        if self._state != _PENDING:
            return False
        self._state = _CANCELLED
        self._cancel_message = msg
        self._schedule_callbacks()
        return True

    def set_exception(self, error: BaseException) -> None:
        """Fail the caller (a timeout, a lost connection): woken through the loop."""
        if self._state != _PENDING:
            raise asyncio.InvalidStateError(f"invalid state: {self._state}")
        self._state = _FAILED
        self._error = error
        self._schedule_callbacks()

    def __await__(self) -> Generator[Any, None, list[Any]]:
        # A generator, not the future as its own iterator: a compiled generator
        # hands its return value over without raising StopIteration, which
        # costs a traceback entry per call in compiled code.
        if self._state == _PENDING:
            self._asyncio_future_blocking = True
            yield self  # asyncio.Task takes the yielded future and waits on it
        return self.result()

    __iter__ = __await__

    # waking -------------------------------------------------------------------

    def _schedule_callbacks(self) -> None:
        """Run the callbacks on the next loop iteration, as asyncio's futures do."""
        loop = self._loop
        if self._callback is not None:
            loop.call_soon(self._callback, self, context=self._context)
            self._callback = self._context = None
        if self._more_callbacks:
            for fn, context in self._more_callbacks:
                loop.call_soon(fn, self, context=context)
            self._more_callbacks = None

    def _wake(self) -> None:
        """Run the callbacks now, each in its own context (the done-from-a-reply path).

        An ``Exception`` from a callback is reported to the loop's exception
        handler, as a Handle would; SystemExit and KeyboardInterrupt propagate,
        as they do out of the loop (the caller schedules whatever is left).
        """
        callback = self._callback
        if callback is not None:
            self._callback = None
            context = self._context
            self._context = None
            _run_callback(self._loop, callback, context, self)
        if self._more_callbacks:
            more = self._more_callbacks
            self._more_callbacks = None
            for index, (fn, ctx) in enumerate(more):
                try:
                    _run_callback(self._loop, fn, ctx, self)
                except BaseException:
                    for rest, rest_ctx in more[index + 1 :]:
                        self._loop.call_soon(rest, self, context=rest_ctx)
                    raise


def _run_callback(
    loop: asyncio.AbstractEventLoop,
    fn: Callback,
    context: contextvars.Context | None,
    future: ReplyFuture,
) -> None:
    try:
        if context is None:
            fn(future)
        else:
            context.run(fn, future)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        loop.call_exception_handler(
            {"message": f"Exception in callback {fn!r}", "exception": exc, "future": future}
        )


def _wake_all(loop: asyncio.AbstractEventLoop, finished: list[ReplyFuture]) -> None:
    """Wake the callers whose replies are all in, in reply order.

    Only called once every reply of the read is matched to its caller, so a
    woken task that submits, awaits or closes cannot disturb the parse. If a
    callback lets SystemExit or KeyboardInterrupt out, the callers after it are
    woken through the loop instead: none is lost, none is reordered.
    """
    if _current_task(loop) is not None:
        # Called from inside a task (not from the loop's read callback): stepping
        # another task here is not allowed, so go through the loop.
        for future in finished:
            future._schedule_callbacks()
        return
    count = len(finished)
    index = 0
    try:
        while index < count:
            future = finished[index]
            index += 1
            future._wake()
    except BaseException:
        while index < count:
            future = finished[index]  # typed (the .pxd): _schedule_callbacks is a C method
            index += 1
            future._schedule_callbacks()
        raise


def resolve_replies(loop: asyncio.AbstractEventLoop, batch: list[tuple[ReplyFuture, Any]]) -> None:
    """Give each future its one reply and wake the callers now, as a read does.

    For the benchmarks' compiled ceiling: the wake-up path of
    :meth:`MultiplexedConnection.data_received` with no socket behind it.
    """
    finished: list[ReplyFuture] = []
    for future, reply in batch:
        if future._state == _PENDING:
            future.replies.append(reply)
            future._state = _DONE
            finished.append(future)
    _wake_all(loop, finished)


class MultiplexedConnection:
    """One socket shared by all tasks of a loop, with replies matched in order.

    An asyncio protocol (``connection_made``, ``data_received``, ...); it does
    not subclass ``asyncio.Protocol`` so that Cython can make it a C type.
    """

    def __init__(self, node: Node, loop: asyncio.AbstractEventLoop) -> None:
        self.node = node
        self._breaker = breaker_for(node)
        self._resp3 = node.protocol == 3
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._reader = new_reader()
        self._pending: deque[ReplyFuture] = deque()
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

    # asyncio's protocol ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though not always an asyncio.Transport subclass:
        # uvloop's are its own types (an isinstance check here once kept every
        # connection on uvloop from opening).
        self._transport = cast(asyncio.Transport, transport)
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
        finished: list[ReplyFuture] = []
        size = len(data)
        start = 0
        try:
            # Fed a slice at a time and drained in between (see FEED_SLICE).
            while start < size:
                reader.feed(data, start, min(FEED_SLICE, size - start))
                start += FEED_SLICE
                reply = reader.gets()
                while reply is not False:
                    if self._resp3:
                        reply = resp2_shape(reply)
                    if not pending:
                        if isinstance(reply, ReplyError):
                            # A server refusing the connection (maxclients) says
                            # why before any request: pass its words on.
                            self._refused(reply)
                        else:
                            self._protocol_error("a reply nobody asked for")
                        break
                    head: ReplyFuture = pending[0]
                    head.replies.append(reply)
                    head.remaining -= 1
                    if not head.remaining:
                        pending.popleft()
                        self._pending_replies -= len(head.replies)
                        if head._state == _PENDING:  # else cancelled or timed out: dropped
                            head._state = _DONE
                            finished.append(head)
                    reply = reader.gets()
                if self._lost is not None:
                    break
        except Exception as exc:  # a protocol error: nothing after it can be trusted
            self._protocol_error(exc)
        if self._room_waiters and self._pending_replies < MAX_PENDING_REPLIES:
            self._wake_room_waiters()
        if finished:
            # The woken callers' next commands are held (a flush counts as
            # scheduled) and leave in one write when all are woken: a whole
            # batch turns around within this one callback, and no lone first
            # command goes out ahead of the rest to come back in a read of its own.
            self._flush_scheduled = True
            try:
                _wake_all(self._loop, finished)
            finally:
                self._flush()

    def _refused(self, reply: ReplyError) -> None:
        self.abort(redis_errors.ConnectionError(f"{reply} ({self.node.address})"))

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
            # Closing twice is harmless, and an SSL transport has been seen not
            # to count itself closed when the server dropped the connection
            # (then it warns when collected): close it here.
            self._transport.close()
        self._transport = None
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        pass  # writes are bounded by MAX_PENDING_REPLIES, not by the socket buffer

    def resume_writing(self) -> None:
        pass

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

    def submit(self, payload: bytes, reply_count: int, timeout: float | None) -> ReplyFuture:
        """Send ``payload`` now or with this tick's batch; the future gets ``reply_count`` replies.

        A plain function returning the future, not a coroutine: the caller
        awaits it directly, one frame less on the hottest path.
        """
        if self._lost is not None:
            raise self._lost
        loop = self._loop
        deadline = None if timeout is None else loop.time() + timeout
        future = ReplyFuture(loop, reply_count, deadline, self._reads)
        idle = not self._pending and not self._flush_scheduled
        self._pending.append(future)
        self._pending_replies += reply_count
        if idle and self._transport is not None:
            # Nothing in flight and no write pending: send at once instead of at
            # the end of the tick, which saves a loop iteration on every lone
            # call. Calls made while replies are outstanding, or while a read
            # wakes its callers, still leave together.
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
            if item.done():
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
            item.set_exception(error)

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
            if not item.done():
                item.set_exception(error)
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
            except TimeoutError:
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
