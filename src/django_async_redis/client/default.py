"""The default topology: one primary, optional replicas for reads.

A client routes a :class:`~django_async_redis.ops.Step` to a node and drives
it to its result over the sync or the async transport. It never knows what a
command means; that lives in ``ops``.
"""

from __future__ import annotations

import atexit
import random
import threading
from typing import TYPE_CHECKING, Any

from ..config import CacheConfig, Node
from ..ops import Step
from ..transport.registry import async_pool, close_async_pools, loop_resources, sync_pool
from ..transport.resp import classify_error, encode_command, encode_commands, first_error

if TYPE_CHECKING:
    import redis
    import redis.asyncio


def _payload(commands: Any) -> bytes:
    return encode_command(commands[0]) if len(commands) == 1 else encode_commands(commands)


def _advance(step: Step, replies: list[Any]) -> Any:
    """Raise the round trip's first error reply, else hand the replies to the step."""
    if not step.errors_as_values:
        error = first_error(replies)
        if error is not None:
            raise classify_error(error)
    return step.then(replies)


_raw_clients: dict[Node, redis.Redis] = {}
_raw_lock = threading.Lock()


def _close_raw_clients() -> None:
    for client in list(_raw_clients.values()):
        client.close()


atexit.register(_close_raw_clients)


class DefaultClient:
    """Primary first, then replicas; reads go to a random replica when there is one."""

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self._primary = config.primary
        self._replicas = config.replicas
        self._max_connections = config.max_connections
        self._async_connections = config.async_connections

    def node_for(self, write: bool) -> Node:
        if write or not self._replicas:
            return self._primary
        return random.choice(self._replicas)

    @property
    def nodes(self) -> list[Node]:
        return [self._primary, *self._replicas]

    # running steps ---------------------------------------------------------

    def execute(self, step: Step) -> Any:
        """Drive ``step`` (and any steps it leads to) to its result, blocking."""
        result: Any = step
        while type(result) is Step:
            commands = result.commands
            if not commands:
                result = result.then([])
                continue
            pool = sync_pool(self.node_for(result.write), self._max_connections)
            result = _advance(result, pool.execute(_payload(commands), len(commands)))
        return result

    async def aexecute(self, step: Step) -> Any:
        """Drive ``step`` to its result on the running event loop."""
        result: Any = step
        while type(result) is Step:
            commands = result.commands
            if not commands:
                result = result.then([])
                continue
            node = self.node_for(result.write)
            pool = async_pool(node, self._async_connections)
            connection = pool.ready_connection() or await pool.acquire()
            replies = await connection.submit(
                _payload(commands), len(commands), node.socket_timeout
            )
            result = _advance(result, replies)
        return result

    # connection lifetime ---------------------------------------------------

    def close(self) -> None:
        """Close this process's idle sync connections to our nodes."""
        for node in self.nodes:
            sync_pool(node, self._max_connections).disconnect()

    async def aclose(self) -> None:
        """Close the running loop's connections to our nodes."""
        await close_async_pools(self.nodes)

    # raw redis-py clients --------------------------------------------------

    def raw_client(self, write: bool = True) -> redis.Redis:
        """A ``redis.Redis`` on the node, with a pool of its own (one per process)."""
        import redis

        node = self.node_for(write)
        client = _raw_clients.get(node)
        if client is None:
            with _raw_lock:
                client = _raw_clients.get(node)
                if client is None:
                    client = _raw_clients[node] = redis.Redis(**_redis_py_kwargs(node))
        return client

    def async_raw_client(self, write: bool = True) -> redis.asyncio.Redis:
        """A ``redis.asyncio.Redis`` for the running loop, closed when the loop shuts down."""
        import redis.asyncio

        node = self.node_for(write)
        resources = loop_resources()
        key = ("redis.asyncio", node)
        client = resources.extras.get(key)
        if client is None:
            client = redis.asyncio.Redis(**_redis_py_kwargs(node))
            resources.add_extra(key, client, client.aclose)
        return client


def _redis_py_kwargs(node: Node) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "db": node.db,
        "username": node.username,
        "password": node.password,
        "socket_timeout": node.socket_timeout,
        "socket_connect_timeout": node.connect_timeout,
        "client_name": node.client_name,
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
