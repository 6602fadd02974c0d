"""Where connections live: per process for sync, per event loop for async.

Never on the backend instance: Django builds a backend per request context
under ASGI, and a connection must not outlive (or cross) the loop it was made
on. Each loop's connections are closed when the loop shuts down: a small
async generator is registered with the loop, and ``shutdown_asyncgens()``
(called by ``asyncio.run``, asgiref's ``async_to_sync``, ``asyncio.Runner``
and Django's test runner) closes it, which closes our connections cleanly
before the loop goes away.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from typing import Any

from ..config import Node
from .aio import AsyncPool
from .sync import SyncPool

_sync_pools: dict[tuple[Node, int, int], SyncPool] = {}
_sync_lock = threading.Lock()


def sync_pool(node: Node, max_connections: int, shared: int = 0) -> SyncPool:
    """The process-wide pool for ``node`` (created on first use).

    ``shared``: SYNC_CONNECTIONS, the connections its threads share (0: none).
    """
    key = (node, max_connections, shared)
    pool = _sync_pools.get(key)
    if pool is None:
        with _sync_lock:
            pool = _sync_pools.get(key)
            if pool is None:
                pool = _sync_pools[key] = SyncPool(node, max_connections, shared)
    return pool


def close_sync_pools() -> None:
    """Close every idle sync connection of this process (at interpreter exit)."""
    for pool in list(_sync_pools.values()):
        pool.disconnect()


# Closing at exit, rather than leaving sockets to the garbage collector, keeps
# interpreter shutdown free of "unclosed socket" ResourceWarnings.
atexit.register(close_sync_pools)


class LoopResources:
    """Everything one event loop holds: its node pools and any extra closables."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pools: dict[tuple[Node, int], AsyncPool] = {}
        self.extras: dict[Hashable, Any] = {}
        self._closers: dict[Hashable, Callable[[], Awaitable[Any]]] = {}
        self.watcher = self._watch()
        # Run the generator to its first yield now: that registers it with the
        # running loop's asyncgen hooks, so shutdown_asyncgens() will close it.
        with contextlib.suppress(StopIteration):
            self.watcher.asend(None).send(None)

    async def _watch(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await self.aclose()

    def add_extra(self, key: Hashable, value: Any, closer: Callable[[], Awaitable[Any]]) -> Any:
        self.extras[key] = value
        self._closers[key] = closer
        return value

    async def aclose(self) -> None:
        """Close this loop's connections and forget the loop."""
        _loops.pop(self.loop, None)
        pools = list(self.pools.values())
        self.pools.clear()
        closers = list(self._closers.values())
        self._closers.clear()
        self.extras.clear()
        for pool in pools:
            await pool.aclose()
        for closer in closers:
            # A broken raw client must not stop the others closing.
            with contextlib.suppress(Exception):
                await closer()

    def abandon(self) -> None:
        """For a loop that was closed without shutdown_asyncgens(): free the sockets."""
        _loops.pop(self.loop, None)
        for pool in self.pools.values():
            pool.abandon()
        self.pools.clear()
        self.extras.clear()
        self._closers.clear()


_loops: dict[asyncio.AbstractEventLoop, LoopResources] = {}


def loop_resources() -> LoopResources:
    """The running loop's resources, registering the loop on first use."""
    loop = asyncio.get_running_loop()
    resources = _loops.get(loop)
    if resources is None:
        _forget_closed_loops()
        resources = _loops[loop] = LoopResources(loop)
    return resources


def async_pool(node: Node, size: int) -> AsyncPool:
    """The running loop's pool for ``node``."""
    resources = _loops.get(asyncio.get_running_loop()) or loop_resources()
    key = (node, size)
    pool = resources.pools.get(key)
    if pool is None:
        pool = resources.pools[key] = AsyncPool(node, size, resources.loop)
    return pool


async def close_async_pools(nodes: list[Node]) -> None:
    """Close the running loop's connections to ``nodes`` (``aclose`` with CLOSE_CONNECTION)."""
    resources = _loops.get(asyncio.get_running_loop())
    if resources is None:
        return
    for key in [key for key in resources.pools if key[0] in nodes]:
        await resources.pools.pop(key).aclose()


def _forget_closed_loops() -> None:
    for loop, resources in list(_loops.items()):
        if loop.is_closed():
            resources.abandon()
