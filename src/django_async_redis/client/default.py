"""The default topology: one primary, optional replicas for reads.

A client routes a :class:`~django_async_redis.ops.Step` to a node and drives
it to its result over the sync or the async transport. It never knows what a
command means; that lives in ``ops``.
"""

from __future__ import annotations

import asyncio
import atexit
import random
import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import CacheConfig, Node
from ..ops import Step
from ..transport.aio import AsyncPool
from ..transport.registry import async_pool, loop_resources
from ..transport.resp import encode_command, encode_commands, pack_in_c
from .base import BaseClient

if TYPE_CHECKING:
    import redis
    import redis.asyncio

T = TypeVar("T")


def payload(commands: Any) -> bytes:
    """A round trip's commands as the bytes to write."""
    if len(commands) == 1:
        command = commands[0]
        if pack_in_c is not None and type(command) is tuple:
            try:
                # hiredis directly: the usual round trip, one frame less.
                return pack_in_c(command)
            except TypeError:
                pass  # encode_command names the argument it cannot send
        return encode_command(command)
    return encode_commands(commands)


_raw_clients: dict[Hashable, Any] = {}
_raw_lock = threading.Lock()


def _close_raw_clients() -> None:
    for client in list(_raw_clients.values()):
        client.close()


atexit.register(_close_raw_clients)


def shared_raw_client(key: Hashable, build: Callable[[], T]) -> T:
    """One redis-py client per ``key`` and process, built on first use."""
    client = _raw_clients.get(key)
    if client is None:
        with _raw_lock:
            client = _raw_clients.get(key)
            if client is None:
                client = _raw_clients[key] = build()
    return client


def loop_raw_client(key: Hashable, build: Callable[[], T]) -> T:
    """One redis-py asyncio client per ``key`` and event loop, closed with the loop."""
    resources = loop_resources()
    client = resources.extras.get(key)
    if client is None:
        client = build()
        resources.add_extra(key, client, client.aclose)  # type: ignore[attr-defined]
    return client


class DefaultClient(BaseClient):
    """Primary first, then replicas; reads go to a random replica when there is one."""

    # The pool of the last call's node on its loop: most calls go to the same
    # node, and this skips the registry's look-up (a dictionary keyed by node,
    # whose hash is a Python call). One tuple, replaced whole, so threads running
    # other loops only ever see a consistent one; it may keep a shut-down loop's
    # retired pool alive until the next call. A class default: subclasses that
    # set up their own nodes (SentinelClient) have it too.
    _last_pool: tuple[Any, Node | None, AsyncPool | None] = (None, None, None)

    def __init__(self, config: CacheConfig) -> None:
        super().__init__(config)
        self._primary = config.primary
        self._replicas = config.replicas
        # Replicas listed in LOCATION are there to take the reads, unless
        # READ_FROM_REPLICAS says False.
        self._readers = () if config.read_from_replicas is False else config.replicas
        self._serving = (self._primary, *self._readers)

    def node_for(self, write: bool) -> Node:
        if write or not self._readers:
            return self._primary
        return random.choice(self._readers)

    @property
    def nodes(self) -> list[Node]:
        return [self._primary, *self._replicas]

    def serving_nodes(self) -> tuple[Node, ...]:
        return self._serving

    def _round_trip(self, step: Step[Any], node: Node | None) -> list[Any]:
        commands = step.commands
        pool = self.sync_pool(node or self.node_for(step.write))
        return pool.execute(payload(commands), len(commands))

    def _submit(self, step: Step[Any], node: Node | None) -> Awaitable[list[Any]]:
        node = node or self.node_for(step.write)
        loop = asyncio.get_running_loop()
        last_loop, last_node, pool = self._last_pool
        if last_loop is not loop or last_node is not node or pool is None or pool.retired:
            pool = async_pool(node, self._async_connections)
            self._last_pool = (loop, node, pool)
        connection = pool.ready_connection()
        commands = step.commands
        if connection is not None:
            return connection.submit(payload(commands), len(commands), node.socket_timeout)
        return submit_when_connected(pool, payload(commands), len(commands))

    # raw redis-py clients --------------------------------------------------

    def raw_client(self, write: bool = True, key: bytes | None = None) -> redis.Redis:
        """A ``redis.Redis`` on the node, with a pool of its own (one per process)."""
        import redis

        node = self.node_for(write)
        return shared_raw_client(node, lambda: redis.Redis(**redis_py_kwargs(node)))

    def async_raw_client(self, write: bool = True, key: bytes | None = None) -> redis.asyncio.Redis:
        """A ``redis.asyncio.Redis`` for the running loop, closed when the loop shuts down."""
        import redis.asyncio

        node = self.node_for(write)
        return loop_raw_client(
            ("redis.asyncio", node), lambda: redis.asyncio.Redis(**redis_py_kwargs(node))
        )


async def submit_when_connected(pool: AsyncPool, data: bytes, count: int) -> list[Any]:
    """The slow path: connect (or wait for room) first, within the call's one budget."""
    node = pool.node
    budget = node.call_budget
    if budget is None:
        return await (await pool.acquire()).submit(data, count, None)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    connection = await pool.acquire()
    # Each wait is bounded by SOCKET_TIMEOUT, and the whole call by its budget.
    left = min(max(deadline - loop.time(), 0.001), node.socket_timeout or budget)
    return await connection.submit(data, count, left)


def redis_py_kwargs(node: Node) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "db": node.db,
        "username": node.username,
        "password": node.password,
        "socket_timeout": node.socket_timeout,
        "socket_connect_timeout": node.connect_timeout,
        "client_name": node.client_name,
        "protocol": node.protocol,
    }
    if node.unix_path:
        kwargs["unix_socket_path"] = node.unix_path
    else:
        kwargs.update(host=node.host, port=node.port, socket_keepalive=node.keepalive)
    if node.tls is not None:
        kwargs.update(
            ssl=True,
            ssl_cert_reqs=node.tls.cert_reqs,
            ssl_ca_certs=node.tls.ca_certs,
            ssl_certfile=node.tls.certfile,
            ssl_keyfile=node.tls.keyfile,
            ssl_check_hostname=node.tls.check_hostname,
        )
    return kwargs


__all__ = ["DefaultClient"]
