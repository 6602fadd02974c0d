"""The sync transport: blocking sockets, a thread-safe and fork-safe pool.

A call borrows a connection, writes its whole round trip at once, reads the
replies with hiredis and gives the connection back. No per-call objects beyond
the reply list: this is where redis-py spends the microseconds we save.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import socket
import struct
import sys
import threading
import time
import weakref
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
from .shared import Lane

_RECV_SIZE = 65536
# SO_RCVTIMEO/SO_SNDTIMEO take a struct timeval ("ll") on Linux; see _time_out_in_the_kernel.
_KERNEL_TIMEOUTS = sys.platform.startswith("linux")
# What counts against a node's circuit breaker: it refused, hung or hung up.
_NODE_FAILURES = (redis_errors.ConnectionError, redis_errors.TimeoutError)


class PoolExhausted(redis_errors.ConnectionError):
    """Every connection of the pool is in use and none came back in time."""


class SyncConnection:
    """One blocking socket to one node, already authenticated and on its database."""

    __slots__ = ("_deadline", "_poller", "_reader", "_resp3", "_sock", "node")

    def __init__(self, node: Node) -> None:
        self.node = node
        self._resp3 = node.protocol == 3
        self._reader = new_reader()
        # The call that opens a connection shares one budget between connecting,
        # the handshake and its own round trip (see Node.call_budget).
        budget = node.call_budget
        self._deadline = None if budget is None else time.monotonic() + budget
        self._sock = self._connect(node)
        self._poller = select.poll()
        self._poller.register(self._sock, select.POLLIN | select.POLLERR | select.POLLHUP)
        self.bound_by_deadline()
        handshake = node.handshake()
        if handshake:
            try:
                replies = self.round_trip(encode_commands(handshake), len(handshake))
            except BaseException:
                self.close()
                raise
            error = first_error(replies)
            if error is not None:
                self.close()
                raise classify_error(error)
        if self._deadline is None:  # no opening-call budget: settled from the start
            self._time_out_in_the_kernel()

    @staticmethod
    def _connect(node: Node) -> socket.socket:
        try:
            if node.unix_path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(node.connect_timeout)
                try:
                    sock.connect(node.unix_path)
                except BaseException:
                    sock.close()
                    raise
            else:
                sock = socket.create_connection((node.host, node.port), node.connect_timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if node.keepalive:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if node.tls is not None:
                sock = node.tls.context().wrap_socket(sock, server_hostname=node.host)
        except OSError as exc:
            raise as_redis_error(exc, f"connecting to {node.address}", connecting=True) from exc
        sock.settimeout(node.socket_timeout)
        return sock

    def _time_out_in_the_kernel(self) -> None:
        """SOCKET_TIMEOUT as the kernel's SO_RCVTIMEO/SO_SNDTIMEO, on a blocking socket.

        Python's own socket timeouts poll() before every send and every recv:
        two system calls a round trip more than the work needs (five where
        redis-benchmark makes three). The kernel's timeouts cost none; one
        expiring makes recv/send raise BlockingIOError, which as_redis_error
        reads as a timeout. Linux only, and not under TLS (the ssl module
        expects Python's timeouts); elsewhere Python's stay.
        """
        timeout = self.node.socket_timeout
        if timeout is None or self.node.tls is not None or not _KERNEL_TIMEOUTS:
            return
        seconds = int(timeout)
        # A zero timeval means "never" to the kernel: the shortest wait is 1 us.
        micros = max(int((timeout - seconds) * 1_000_000), 0 if seconds else 1)
        timeval = struct.pack("ll", seconds, micros)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        self._sock.settimeout(None)

    def bound_by_deadline(self) -> None:
        """While the opening call lasts, wait on the socket only for what is left of it."""
        if self._deadline is not None:
            left = max(self._deadline - time.monotonic(), 0.001)
            timeout = self.node.socket_timeout
            self._sock.settimeout(left if timeout is None else min(left, timeout))

    def settle(self) -> None:
        """The opening call is over: from now on each call has SOCKET_TIMEOUT of its own."""
        if self._deadline is not None:
            self._deadline = None
            self._sock.settimeout(self.node.socket_timeout)
            self._time_out_in_the_kernel()

    def round_trip(self, payload: bytes, reply_count: int) -> list[Any]:
        """Send ``payload`` and read ``reply_count`` replies."""
        self.send(payload)
        return self.read(reply_count)

    def send(self, payload: bytes) -> None:
        try:
            self._sock.sendall(payload)
        except OSError as exc:
            raise as_redis_error(exc, f"talking to {self.node.address}") from exc

    def read(self, reply_count: int) -> list[Any]:
        """The next ``reply_count`` replies; anything more is a protocol error."""
        sock = self._sock
        reader = self._reader
        try:
            replies: list[Any] = []
            data = b""
            start = size = 0
            while len(replies) < reply_count:
                reply = reader.gets()
                if reply is not False:
                    replies.append(resp2_shape(reply) if self._resp3 else reply)
                    continue
                if start >= size:
                    data = sock.recv(_RECV_SIZE)
                    if not data:
                        raise redis_errors.ConnectionError(
                            f"Connection closed by server {self.node.address}"
                        )
                    start, size = 0, len(data)
                # A slice at a time, drained in between (see FEED_SLICE).
                reader.feed(data, start, min(FEED_SLICE, size - start))
                start += FEED_SLICE
            if start < size or reader.has_data():
                # More than was asked for arrived: the connection is out of step, and
                # the next caller would read this call's replies. Drop it (the pool
                # closes a connection that raised).
                raise redis_errors.ConnectionError(
                    f"Protocol error from {self.node.address}: a reply nobody asked for"
                )
            return replies
        except OSError as exc:
            raise as_redis_error(exc, f"talking to {self.node.address}") from exc

    def peer_closed(self) -> bool:
        """True when the server hung up (or sent something unasked) while we were idle.

        Checked when a connection leaves the idle pool, so a connection the
        server dropped (timeout, CLIENT KILL, restart) is replaced before a
        command is sent on it, rather than failing that command.
        """
        # A zero-timeout poll, not recv(MSG_PEEK): a socket with a timeout
        # would wait out that timeout inside recv, even with MSG_DONTWAIT.
        try:
            return bool(self._poller.poll(0))  # EOF, an error, or bytes nobody asked for
        except (OSError, ValueError):
            return True

    def detach(self) -> tuple[socket.socket, Any]:
        """The socket, made non-blocking, and its parser: for a connection that only listens.

        The client cache's tracking connection (client_cache/tracking.py) is
        opened and handshaken like any other, then read without blocking.
        """
        self.settle()
        self._sock.setblocking(False)
        return self._sock, self._reader

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


class SyncPool:
    """Idle connections to one node, shared by the threads of one process.

    At most ``max_connections`` exist at once; a thread that finds none free
    waits up to the connect timeout, then gets a ConnectionError rather than
    hanging. A connection that failed mid-call is closed, never reused: it may
    be out of step with the server.
    """

    def __init__(self, node: Node, max_connections: int, shared: int = 0) -> None:
        self.node = node
        self.breaker = breaker_for(node)
        self.max_connections = max_connections
        self._idle: list[SyncConnection] = []
        self._open = 0
        self._freed = threading.Condition(threading.Lock())
        # SYNC_CONNECTIONS: the connections every thread's round trips share
        # (transport/shared.py); none, and each call borrows one of its own.
        self._lanes = [Lane(self) for _ in range(shared)]
        self._turns = itertools.count()
        _live_pools.add(self)

    def execute(self, payload: bytes, reply_count: int) -> list[Any]:
        """One round trip: on a shared lane, or on a borrowed connection."""
        lanes = self._lanes
        if lanes:
            breaker = self.breaker
            if breaker.open_until:
                breaker.admit()  # raises CircuitOpen unless this call is the trial
            lane = lanes[0] if len(lanes) == 1 else lanes[next(self._turns) % len(lanes)]
            return lane.execute(payload, reply_count)
        return self.finish(self.start(payload), reply_count)

    def start(self, payload: bytes) -> SyncConnection:
        """Borrow a connection and send ``payload`` on it; :meth:`finish` reads the replies.

        Split in two so that a round trip over several nodes can send to all
        of them before waiting for any.
        """
        breaker = self.breaker
        if breaker.open_until:
            breaker.admit()  # raises CircuitOpen unless this call is the trial
        try:
            connection = self._idle.pop()  # atomic under the GIL: the fast path takes no lock
        except IndexError:
            connection = self._connect_counted()
        else:
            if connection.peer_closed():
                connection.close()
                self._forget_one()
                connection = self._connect_counted()
        try:
            if connection._deadline is not None:  # only a call that just opened it
                connection.bound_by_deadline()
            connection.send(payload)
        except BaseException as error:
            self._drop(connection, error)
            raise
        return connection

    def finish(self, connection: SyncConnection, reply_count: int) -> list[Any]:
        """Read the replies of :meth:`start` and give the connection back."""
        try:
            replies = connection.read(reply_count)
        except BaseException as error:
            self._drop(connection, error)
            raise
        if connection._deadline is not None:
            connection.settle()
        if self.breaker.failures:
            self.breaker.success()
        self._idle.append(connection)
        if self._open >= self.max_connections:
            with self._freed:
                self._freed.notify()
        return replies

    def _drop(self, connection: SyncConnection, error: BaseException) -> None:
        """A connection that failed mid-call may be out of step: close it, never reuse it."""
        connection.close()
        self._forget_one()
        if isinstance(error, _NODE_FAILURES):
            self.breaker.failure(error)

    # what a shared lane (transport/shared.py) asks of its pool
    drop = _drop

    def open_counted(self) -> SyncConnection:
        """A new connection, counted against max_connections and the breaker."""
        return self._connect_counted()

    def discard(self, connection: SyncConnection) -> None:
        """Close a connection that did not fail (its server hung up while it was idle)."""
        connection.close()
        self._forget_one()

    def answered(self) -> None:
        """The node answered a round trip: close the breaker."""
        if self.breaker.failures:
            self.breaker.success()

    def _connect_counted(self) -> SyncConnection:
        try:
            return self._new_connection()
        except PoolExhausted:
            raise  # our own limit, not the node's fault
        except redis_errors.AuthenticationError:
            # The server answered the handshake (WRONGPASS, NOAUTH): it is up, and
            # our credentials are wrong. Counting that would turn the clear error
            # into CircuitOpen on the next calls; the async path counts a reply as
            # an answer too.
            self.breaker.success()
            raise
        except _NODE_FAILURES as error:  # refused, or hung in the handshake
            self.breaker.failure(error)
            raise

    def _new_connection(self) -> SyncConnection:
        deadline = time.monotonic() + (self.node.connect_timeout or 5.0)
        with self._freed:
            while self._open >= self.max_connections:
                if self._idle:
                    return self._idle.pop()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PoolExhausted(
                        f"All {self.max_connections} connections to {self.node.address} are "
                        "busy (CONNECTION_POOL_KWARGS['max_connections'])"
                    )
                self._freed.wait(remaining)
            self._open += 1
        try:
            return SyncConnection(self.node)
        except BaseException:
            self._forget_one()
            raise

    def _forget_one(self) -> None:
        with self._freed:
            self._open -= 1
            self._freed.notify()

    def disconnect(self) -> None:
        """Close the idle connections; ones in use close when they come back broken or not."""
        with self._freed:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._freed.notify_all()
        for connection in idle:
            connection.close()
        for lane in self._lanes:
            lane.close()

    def _after_fork(self) -> None:
        # The child inherited the parent's sockets: closing our copies of the
        # file descriptors is safe (the parent's stay open), reusing them is not.
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        self._open = 0
        self._freed = threading.Condition(threading.Lock())
        for lane in self._lanes:
            lane.forget_after_fork()


_live_pools: weakref.WeakSet[SyncPool] = weakref.WeakSet()


def _reset_pools_after_fork() -> None:
    for pool in list(_live_pools):
        pool._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_pools_after_fork)
