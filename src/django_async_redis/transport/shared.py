"""Threads sharing a few connections per node: their commands leave together.

With ``OPTIONS["SYNC_CONNECTIONS"] = n`` the sync path of a node keeps ``n``
connections ("lanes") that every thread of the process writes to, instead of
one connection per thread in flight. No background thread does the I/O: the
callers take turns.

A caller queues its request on a lane. If nobody is reading on that lane it
becomes the leader: it takes every request queued so far, writes them in one
``sendall``, reads all their replies and hands each waiting thread its own
(each request's replies are contiguous, in the order the requests were
written, so nothing can reach the wrong caller). Then it passes the turn to the
first request queued meanwhile, whose thread leads the next batch, and
returns. A leader serves exactly one batch, the one holding its own request:
no thread is kept reading for others once its own answer is in.

What the exclusive pool promises holds here too:
- a caller whose budget (SOCKET_TIMEOUT, see Node.call_budget) runs out while
  waiting gives up with TimeoutError: taken out of the queue if it was not sent
  yet, or marked abandoned if it was, and then its replies are read and dropped
  with the batch;
- a batch that fails (a timeout, a lost connection) fails every request in it,
  the connection is closed and the next batch opens another; the circuit
  breaker counts the failure once, as for one call;
- after a fork the child starts with fresh lanes (the pool resets them).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final

from redis import exceptions as redis_errors

if TYPE_CHECKING:
    from .sync import SyncConnection, SyncPool

# A request's states, changed only under its lane's lock.
_QUEUED: Final = 0  # waiting in the queue, not sent
_SENT: Final = 1  # in the batch being written and read
_DONE: Final = 2  # replies (or the error) handed out
_LEAD: Final = 3  # at the head of the queue, and its thread leads the next batch
_ABANDONED: Final = 4  # sent, but its caller gave up: its replies are dropped


class _Request:
    __slots__ = ("count", "error", "payload", "replies", "state", "wake")

    def __init__(self, payload: bytes, count: int) -> None:
        self.payload = payload
        self.count = count
        self.replies: list[Any] = []
        self.error: BaseException | None = None
        self.state = _QUEUED
        # Held from the start; released once, by whoever hands the request its
        # answer or its turn to lead. A plain lock is the cheapest wake-up there is.
        self.wake = threading.Lock()
        self.wake.acquire()

    def answer(self) -> list[Any]:
        if self.error is not None:
            raise self.error
        return self.replies


class Lane:
    """One connection that many threads' requests go through, a batch at a time."""

    def __init__(self, pool: SyncPool) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        self._queue: list[_Request] = []
        self._leading = False
        self._connection: SyncConnection | None = None

    def execute(self, payload: bytes, count: int) -> list[Any]:
        """One round trip, written and read together with whatever else is queued."""
        request = _Request(payload, count)
        with self._lock:
            self._queue.append(request)
            follower = self._leading
            self._leading = True
        if follower and not self._wait(request):
            return request.answer()
        self._lead(request)
        return request.answer()

    def _wait(self, request: _Request) -> bool:
        """Wait for the answer (False) or for this request's turn to lead (True)."""
        budget = self._pool.node.call_budget
        if request.wake.acquire(timeout=-1 if budget is None else budget):
            return request.state == _LEAD
        with self._lock:
            state = request.state
            if state == _QUEUED:
                self._queue.remove(request)  # never sent: nothing to read for it
            elif state == _SENT:
                request.state = _ABANDONED  # the leader reads its replies and drops them
        if state in (_QUEUED, _SENT):
            raise redis_errors.TimeoutError(
                f"Timeout waiting for {self._pool.node.address} (threads sharing its connection)"
            )
        # The answer or the turn came at the very moment the budget ran out: take it.
        return state == _LEAD

    def _lead(self, mine: _Request) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
            for request in batch:
                request.state = _SENT
        replies: list[Any] = []
        error: BaseException | None = None
        try:
            replies = self._round_trip(batch)
        except BaseException as exc:
            error = exc
        others_error: BaseException | None = error
        if error is not None and not isinstance(error, Exception):
            # KeyboardInterrupt and the like are this thread's own; the others
            # only lost the connection it was reading for them.
            others_error = redis_errors.ConnectionError(
                f"Connection to {self._pool.node.address} closed: the thread reading for it "
                f"was interrupted ({type(error).__name__})"
            )
        position = 0
        with self._lock:
            for request in batch:
                if error is not None:
                    request.error = error if request is mine else others_error
                else:
                    request.replies = replies[position : position + request.count]
                    position += request.count
                wanted = request.state != _ABANDONED
                request.state = _DONE
                if wanted and request is not mine:
                    request.wake.release()
            # Pass the turn: the first request queued meanwhile leads the next batch.
            if self._queue:
                following = self._queue[0]
                following.state = _LEAD
                following.wake.release()
            else:
                self._leading = False

    def _round_trip(self, batch: list[_Request]) -> list[Any]:
        pool = self._pool
        connection = self._connection
        if connection is not None and connection.peer_closed():
            self._connection = None
            pool.discard(connection)
            connection = None
        if connection is None:
            connection = self._connection = pool.open_counted()
        payload = batch[0].payload if len(batch) == 1 else b"".join(r.payload for r in batch)
        try:
            if connection._deadline is not None:  # only the batch that just opened it
                connection.bound_by_deadline()
            connection.send(payload)
            replies = connection.read(sum(request.count for request in batch))
        except BaseException as error:
            self._connection = None
            pool.drop(connection, error)
            raise
        if connection._deadline is not None:
            connection.settle()
        pool.answered()
        return replies

    def close(self) -> None:
        """Close the lane's connection if no batch is using it (else it stays for that batch)."""
        with self._lock:
            connection = self._connection if not self._leading else None
            if connection is not None:
                self._connection = None
        if connection is not None:
            self._pool.discard(connection)

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's socket is not ours to use."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
        self._lock = threading.Lock()
        self._queue = []
        self._leading = False
