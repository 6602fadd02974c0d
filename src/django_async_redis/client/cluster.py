"""Redis Cluster (and Valkey Cluster): keys routed by slot, sync and async.

LOCATION lists one or more seed nodes (any node of the cluster will do). The
slot map is loaded from them and kept per process (``slots.py``); each
round trip is planned by a :class:`~django_async_redis.client.routing.Dispatch`,
which splits multi-key commands per slot and follows MOVED, ASK, TRYAGAIN and
CLUSTERDOWN. On the async path each node has its own multiplexed
connection(s) per event loop, so concurrent calls are still pipelined, node
by node. Commands over the whole key space (``clear``, ``keys``, ``iter_keys``,
``delete_pattern``) run on every primary.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from redis import exceptions as redis_errors

from ..config import CacheConfig, Node, redacted
from .base import arun_procedure, run_procedure
from .default import loop_raw_client, redis_py_kwargs, shared_raw_client
from .routed import RoutedClient
from .slots import ClusterState, SlotMap, cluster_state, slot_of, slots_of

if TYPE_CHECKING:
    import redis
    import redis.asyncio
    import redis.asyncio.cluster
    import redis.cluster


class ClusterClient(RoutedClient):
    """Slot-routed commands over a Redis or Valkey Cluster."""

    servers_check_slots = True

    def __init__(self, config: CacheConfig) -> None:
        super().__init__(config)
        for node, url in zip(config.nodes, config.locations, strict=True):
            if node.db:
                raise ImproperlyConfigured(
                    f"LOCATION {redacted(url)!r}: Redis Cluster has only database 0, not {node.db}"
                )
            if node.unix_path:
                raise ImproperlyConfigured(
                    f"LOCATION {redacted(url)!r}: cluster nodes are reached over TCP, "
                    "not a unix socket"
                )
        if config.sentinels:
            raise ImproperlyConfigured(
                "ClusterClient takes no SENTINELS: a cluster fails over by itself"
            )
        self._state: ClusterState = cluster_state(config.nodes, bool(config.read_from_replicas))

    # routing -------------------------------------------------------------------

    @property
    def slot_map(self) -> SlotMap:
        """The current slot map (loaded on first use)."""
        if self._state.map is None:
            self._load()
        assert self._state.map is not None
        return self._state.map

    def router(self) -> _SlotRouter:
        assert self._state.map is not None
        return _SlotRouter(self._state.map)

    def _node_of(self, key: bytes, write: bool) -> Node | None:
        state = self._state
        if state.map is None or state.needs_load():
            return None
        return state.map.node(slot_of(key), write)

    def _prepare(self) -> None:
        if self._state.needs_load():
            self._load()

    async def _aprepare(self) -> None:
        if self._state.needs_load():
            await self._aload()

    def _refresh_routing(self) -> None:
        self._state.stale = True
        if self._state.needs_load():
            with contextlib.suppress(redis_errors.RedisError):
                self._load()

    async def _arefresh_routing(self) -> None:
        self._state.stale = True
        if self._state.needs_load():
            with contextlib.suppress(redis_errors.RedisError):
                await self._aload()

    def _routing_stale(self) -> None:
        self._state.stale = True

    def _load(self) -> None:
        state = self._state
        with state.lock:
            if state.needs_load():  # another thread may have loaded it meanwhile
                state.install(run_procedure(self, state.load_procedure()))

    async def _aload(self) -> None:
        """Load the map once per loop however many tasks ask at the same moment."""
        state = self._state
        loop = asyncio.get_running_loop()
        pending = state.loading(loop)
        if pending is not None:
            await asyncio.shield(pending)
            return
        future = state.start_loading(loop)
        try:
            state.install(await arun_procedure(self, state.load_procedure()))
        except BaseException as error:
            if not future.done():
                future.set_exception(error if isinstance(error, Exception) else RuntimeError())
                future.exception()  # retrieved: the waiters get it too
            raise
        else:
            future.set_result(None)

    def partitions(self) -> list[Node | None]:
        return list(self.slot_map.primaries)

    async def apartitions(self) -> list[Node | None]:
        if self._state.needs_load():
            await self._aload()
        assert self._state.map is not None
        return list(self._state.map.primaries)

    @property
    def nodes(self) -> list[Node]:
        known = self._state.map.nodes if self._state.map is not None else []
        return [*known, *self.config.nodes]

    def serving_nodes(self) -> tuple[Node, ...]:
        state = self._state
        found = state.map
        if found is None or state.needs_load():
            return ()  # learnt on the way: this round trip's reads are not kept
        if not found.read_from_replicas:
            return tuple(found.primaries)
        return (*found.primaries, *(node for group in found.replicas for node in group))

    # raw redis-py clients ------------------------------------------------------------

    def raw_client(  # type: ignore[override]
        self, write: bool = True, key: bytes | None = None
    ) -> redis.cluster.RedisCluster:
        """A ``redis.cluster.RedisCluster`` on the same seeds (one per process)."""
        import redis.cluster

        seeds = self.config.nodes

        def build() -> redis.cluster.RedisCluster:
            # redis-py leaves ClusterNode.__init__ unannotated.
            nodes = [redis.cluster.ClusterNode(node.host, node.port) for node in seeds]
            return redis.cluster.RedisCluster(startup_nodes=nodes, **_cluster_kwargs(seeds[0]))

        return shared_raw_client(("redis.cluster", seeds), build)

    def async_raw_client(  # type: ignore[override]
        self, write: bool = True, key: bytes | None = None
    ) -> redis.asyncio.cluster.RedisCluster:
        """A ``redis.asyncio.cluster.RedisCluster`` for the running loop."""
        import redis.asyncio.cluster

        seeds = self.config.nodes

        def build() -> redis.asyncio.cluster.RedisCluster:
            nodes = [redis.asyncio.cluster.ClusterNode(node.host, node.port) for node in seeds]
            return redis.asyncio.cluster.RedisCluster(
                startup_nodes=nodes, **_cluster_kwargs(seeds[0])
            )

        return loop_raw_client(("redis.asyncio.cluster", seeds), build)


class _SlotRouter:
    """The Router a Dispatch asks, over one slot map."""

    __slots__ = ("_map",)

    def __init__(self, slot_map: SlotMap) -> None:
        self._map = slot_map

    def groups(self, keys: list[bytes]) -> list[int]:
        return slots_of(keys)

    def node(self, group: Any, write: bool) -> Node:
        slot_map: SlotMap = self._map
        if write or not slot_map.read_from_replicas:
            # The usual answer, without a second call per piece (a get_many over
            # a cluster asks once per slot); the map raises for an unowned slot.
            shard: int = slot_map.owner[group]
            if shard >= 0:
                return slot_map.primaries[shard]
        return slot_map.node(group, write)

    def default_node(self, write: bool) -> Node:
        return self._map.primaries[0]

    def moved(self, slot: int, address: str) -> None:
        self._map.moved(slot, address)

    def node_at(self, address: str) -> Node:
        host, _, port = address.rpartition(":")
        return self._map.node_at(host, int(port))


def _cluster_kwargs(node: Node) -> dict[str, Any]:
    kwargs = redis_py_kwargs(node)
    for key in ("db", "host", "port", "unix_socket_path"):
        kwargs.pop(key, None)
    return kwargs
