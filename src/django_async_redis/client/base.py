"""What every topology client shares: the two drivers of operations.

``execute`` (blocking) and ``aexecute`` (on the running event loop) drive an
operation to its result: a :class:`~django_async_redis.ops.Step` is one round
trip, a :class:`~django_async_redis.ops.Wait` a pause, an
:class:`~django_async_redis.ops.Everywhere` one chain per part of the key
space. A client says only where a round trip goes (``_round_trip`` /
``_submit``) and how it recovers from a failed node (``_recover`` /
``_arecover``); it never knows what a command means.

Procedures that talk to several servers in turn (asking sentinels, loading a
cluster's slot map) are written once as generators that yield ``(step, node)``
and receive the result, or the exception thrown back in; ``run_procedure`` and
``arun_procedure`` drive them, sans-I/O style.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Generator
from typing import TYPE_CHECKING, Any, Final, TypeVar

from redis import exceptions as redis_errors

from ..config import CacheConfig, Node
from ..ops import Everywhere, Operation, Step, Wait
from ..transport.resp import ReplyError, classify_error, first_error

if TYPE_CHECKING:
    import redis
    import redis.asyncio

    from ..transport.sync import SyncPool

T = TypeVar("T")
C = TypeVar("C", bound="BaseClient")

# A procedure yields (step, node) and is sent the step's result.
Procedure = Generator[tuple[Step[Any], Node], Any, T]

# Failures a client may recover from by finding the node again. Anything
# else (a WRONGTYPE reply, a bad argument) is the caller's and surfaces as is.
NODE_FAILURES = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,
)


# The reply types first_error looks into. The usual round trip, one reply of
# another type (a value, a number, OK), cannot hold an error: the drivers skip
# the scan for it, two calls less on every operation.
SCANNED_REPLIES: Final = frozenset({ReplyError, list})


def raise_first_error(step: Step[Any], replies: list[Any]) -> None:
    """Raise the round trip's first error reply, unless the step takes errors as values."""
    if not step.errors_as_values:
        error = first_error(replies)
        if error is not None:
            raise classify_error(error)


class BaseClient:
    """The drivers; subclasses route round trips to nodes."""

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self._max_connections = config.max_connections
        self._sync_connections = config.sync_connections
        self._async_connections = config.async_connections

    # routing: what subclasses provide ---------------------------------------

    def _round_trip(self, step: Step[Any], node: Node | None) -> list[Any]:
        """Send ``step``'s commands (to ``node`` when given) and return the replies."""
        raise NotImplementedError

    def _submit(self, step: Step[Any], node: Node | None) -> Awaitable[list[Any]]:
        """The async twin of ``_round_trip``: an awaitable of the replies.

        A plain function, so that on the fast path it can hand back the
        transport's future itself and the driver awaits it with no extra frame.
        """
        raise NotImplementedError

    def _recover(self, error: Exception, attempt: int) -> bool:
        """After a node failed: True to send the round trip again (re-routed)."""
        return False

    async def _arecover(self, error: Exception, attempt: int) -> bool:
        return False

    def partitions(self) -> list[Node | None]:
        """The parts of the key space, one node each (None: the client's usual node)."""
        return [None]

    async def apartitions(self) -> list[Node | None]:
        return self.partitions()

    @property
    def nodes(self) -> list[Node]:
        """Every node this client has connections to (for close/aclose)."""
        raise NotImplementedError

    def serving_nodes(self) -> tuple[Node, ...]:
        """The nodes that may answer a round trip now (the client cache tracks these)."""
        return tuple(self.nodes)

    # the drivers -------------------------------------------------------------

    def execute(self, step: Operation[T], node: Node | None = None) -> T:
        """Drive an operation (and every step it leads to) to its result, blocking."""
        # One untyped local for the whole chain: it holds each step, pause or walk
        # in turn and finally the answer, which is what ``Operation[T]`` promises.
        result: Any = step
        while True:
            kind = type(result)
            if kind is Step:
                if not result.commands:
                    result = result.then([])
                    continue
                attempt = 0
                while True:
                    try:
                        replies = self._round_trip(result, node)
                        if len(replies) != 1 or type(replies[0]) in SCANNED_REPLIES:
                            raise_first_error(result, replies)
                        break
                    except NODE_FAILURES as error:
                        attempt += 1
                        if node is not None or not self._recover(error, attempt):
                            raise
                result = result.then(replies)
            elif kind is Wait:
                time.sleep(result.seconds)
                result = result.then()
            elif kind is Everywhere:
                result = result.combine(
                    [self.execute(result.make(), part) for part in self.partitions()]
                )
            else:
                answer: T = result
                return answer

    async def aexecute(self, step: Operation[T], node: Node | None = None) -> T:
        """Drive an operation to its result on the running event loop."""
        result: Any = step  # as in execute
        while True:
            kind = type(result)
            if kind is Step:
                if not result.commands:
                    result = result.then([])
                    continue
                attempt = 0
                while True:
                    try:
                        replies = await self._submit(result, node)
                        if len(replies) != 1 or type(replies[0]) in SCANNED_REPLIES:
                            raise_first_error(result, replies)
                        break
                    except NODE_FAILURES as error:
                        attempt += 1
                        if node is not None or not await self._arecover(error, attempt):
                            raise
                result = result.then(replies)
            elif kind is Wait:
                await asyncio.sleep(result.seconds)
                result = result.then()
            elif kind is Everywhere:
                chains = [self.aexecute(result.make(), part) for part in await self.apartitions()]
                result = result.combine(list(await asyncio.gather(*chains)))
            else:
                answer: T = result
                return answer

    # connection lifetime -------------------------------------------------------

    def sync_pool(self, node: Node) -> SyncPool:
        """The process's sync pool for ``node``, shaped by this cache's options."""
        from ..transport.registry import sync_pool

        return sync_pool(node, self._max_connections, self._sync_connections)

    def close(self) -> None:
        """Close this process's idle sync connections to our nodes."""
        for node in self.nodes:
            self.sync_pool(node).disconnect()

    async def aclose(self) -> None:
        """Close the running loop's connections to our nodes."""
        from ..transport.registry import close_async_pools

        await close_async_pools(self.nodes)

    # raw redis-py clients --------------------------------------------------------

    def raw_client(self, write: bool = True, key: bytes | None = None) -> redis.Redis:
        """A redis-py client for this topology (``key``: for the node that holds it)."""
        raise NotImplementedError

    def async_raw_client(self, write: bool = True, key: bytes | None = None) -> redis.asyncio.Redis:
        """A redis-py asyncio client for the running loop, closed when the loop shuts down."""
        raise NotImplementedError

    def get_client(self, write: bool = True) -> redis.Redis:
        """django-redis's name for :meth:`raw_client` (``cache.client.get_client()``)."""
        return self.raw_client(write=write)


_mixed: dict[tuple[type, type], type] = {}


def mixed_into(mixin: type, client_class: type[C]) -> type[C]:
    """``client_class`` with ``mixin`` in front of it: one class per pair, built on first use.

    It takes the configured class's name, so reprs and logs read the same
    whether metrics or the client cache are on.
    """
    cls = _mixed.get((mixin, client_class))
    if cls is None:
        cls = type(client_class.__name__, (mixin, client_class), {})
        cls.__qualname__ = client_class.__qualname__
        cls.__module__ = client_class.__module__
        _mixed[(mixin, client_class)] = cls
    return cls


def run_procedure(client: BaseClient, procedure: Procedure[T]) -> T:
    """Drive a procedure with the blocking driver."""
    try:
        step, node = next(procedure)
        while True:
            try:
                outcome = client.execute(step, node)
            except redis_errors.RedisError as error:
                step, node = procedure.throw(error)
            else:
                step, node = procedure.send(outcome)
    except StopIteration as stop:
        # The generator's return value, which Procedure[T] types as T.
        value: T = stop.value
        return value


async def arun_procedure(client: BaseClient, procedure: Procedure[T]) -> T:
    """Drive a procedure on the running event loop."""
    try:
        step, node = next(procedure)
        while True:
            try:
                outcome = await client.aexecute(step, node)
            except redis_errors.RedisError as error:
                step, node = procedure.throw(error)
            else:
                step, node = procedure.send(outcome)
    except StopIteration as stop:
        # The generator's return value, which Procedure[T] types as T.
        value: T = stop.value
        return value
