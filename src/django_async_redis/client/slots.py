"""A Redis Cluster's slot map: which node serves each of the 16,384 slots.

Loaded with ``CLUSTER SLOTS`` from any node that answers (known nodes first,
then the LOCATION seeds), kept per process and shared by the sync and the
async path and by every backend instance with the same seeds (Django builds
one per request context under ASGI: each must not load its own map). A MOVED
reply moves one slot at once; the whole map is loaded again after
redirections and after a node failed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import time
import weakref
from binascii import crc_hqx
from collections.abc import Hashable
from typing import Any

from redis import exceptions as redis_errors
from redis.crc import key_slot

from ..config import Node
from ..ops import Step
from .base import Procedure

SLOTS = 16384
# Loading the map again more often than this gains nothing: under a slot
# migration every task would otherwise reload it for every MOVED it meets.
MIN_RELOAD_INTERVAL = 0.1
# A map is also reloaded when this old, so replicas added (and nodes moved)
# since it was loaded come into use without any error having pointed at them.
MAX_MAP_AGE = 30.0


class SlotMap:
    """Primaries (one per shard), their replicas, and the shard of every slot."""

    def __init__(self, template: Node, read_from_replicas: bool) -> None:
        self._template = template
        self.read_from_replicas = read_from_replicas
        self.primaries: list[Node] = []
        self.replicas: list[list[Node]] = []
        self.owner: list[int] = [-1] * SLOTS
        self._by_address: dict[str, int] = {}

    def node_at(self, host: str, port: int, readonly: bool = False) -> Node:
        """A node like the seeds (auth, TLS, timeouts), at another address."""
        return dataclasses.replace(self._template, host=host, port=port, readonly=readonly)

    def add_shard(self, primary: Node, replicas: list[Node]) -> int:
        index = self._by_address.get(primary.address)
        if index is None:
            index = len(self.primaries)
            self.primaries.append(primary)
            self.replicas.append(replicas)
            self._by_address[primary.address] = index
        return index

    def load(self, reply: list[Any], asked: Node) -> SlotMap:
        """Fill the map from a CLUSTER SLOTS reply given by ``asked``."""
        for entry in reply:
            start, end, primary, *replicas = entry
            shard = self.add_shard(
                self._endpoint(primary, asked),
                [self._endpoint(replica, asked, readonly=True) for replica in replicas],
            )
            self.owner[int(start) : int(end) + 1] = [shard] * (int(end) - int(start) + 1)
        if not self.primaries:
            raise redis_errors.ConnectionError(
                f"{asked.address} is not serving any slot (is the cluster set up?)"
            )
        return self

    def _endpoint(self, description: list[Any], asked: Node, readonly: bool = False) -> Node:
        host = description[0]
        host = host.decode() if isinstance(host, bytes) else str(host)
        # An empty or "?" host means "the address you reached me at".
        if not host or host == "?":
            host = asked.host
        return self.node_at(host, int(description[1]), readonly)

    def moved(self, slot: int, address: str) -> None:
        host, _, port = address.rpartition(":")
        node = self.node_at(host, int(port))
        self.owner[slot] = self.add_shard(node, [])

    def node(self, slot: int, write: bool) -> Node:
        shard = self.owner[slot]
        if shard < 0:
            raise redis_errors.ClusterDownError(f"No node serves slot {slot} (CLUSTERDOWN)")
        if write or not self.read_from_replicas:
            return self.primaries[shard]
        replicas = self.replicas[shard]
        return random.choice(replicas) if replicas else self.primaries[shard]

    @property
    def nodes(self) -> list[Node]:
        return [*self.primaries, *(node for group in self.replicas for node in group)]


class ClusterState:
    """The slot map of one cluster in this process, and how it is kept fresh."""

    def __init__(self, seeds: tuple[Node, ...], read_from_replicas: bool) -> None:
        self.seeds = seeds
        self.read_from_replicas = read_from_replicas
        self.map: SlotMap | None = None
        self.stale = False
        self.loaded_at = 0.0
        self._lock = threading.Lock()
        self._loading: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Future[None]
        ] = weakref.WeakKeyDictionary()

    def needs_load(self) -> bool:
        if self.map is None:
            return True
        age = time.monotonic() - self.loaded_at
        return age >= MAX_MAP_AGE or (self.stale and age >= MIN_RELOAD_INTERVAL)

    def candidates(self) -> list[Node]:
        """Whom to ask for the map: the known primaries, then replicas, then the seeds."""
        known = self.map.nodes if self.map is not None else []
        seen: set[str] = set()
        ordered = []
        for node in [*known, *self.seeds]:
            if node.address not in seen:
                seen.add(node.address)
                ordered.append(dataclasses.replace(node, readonly=False))
        return ordered

    def load_procedure(self) -> Procedure[SlotMap]:
        """Ask each candidate in turn for CLUSTER SLOTS; the first answer wins."""
        failures = []
        for node in self.candidates():
            try:
                reply = yield Step(((b"CLUSTER", b"SLOTS"),), lambda r: r[0], write=True), node
                return SlotMap(self.seeds[0], self.read_from_replicas).load(reply, node)
            except redis_errors.RedisError as error:
                failures.append(f"{node.address}: {error}")
        raise redis_errors.ConnectionError(
            "No cluster node answered CLUSTER SLOTS (" + "; ".join(failures) + ")"
        )

    def install(self, slot_map: SlotMap) -> None:
        self.map = slot_map
        self.stale = False
        self.loaded_at = time.monotonic()

    # Loads are shared: threads wait on a lock, tasks of a loop on one future.

    @property
    def lock(self) -> threading.Lock:
        return self._lock

    def loading(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None] | None:
        future = self._loading.get(loop)
        return None if future is None or future.done() else future

    def start_loading(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        future: asyncio.Future[None] = loop.create_future()
        self._loading[loop] = future
        return future


_states: dict[Hashable, ClusterState] = {}
_states_lock = threading.Lock()


def cluster_state(seeds: tuple[Node, ...], read_from_replicas: bool) -> ClusterState:
    """The process's state for the cluster these seeds lead to."""
    key = (seeds, read_from_replicas)
    state = _states.get(key)
    if state is None:
        with _states_lock:
            state = _states.setdefault(key, ClusterState(seeds, read_from_replicas))
    return state


def slot_of(key: bytes) -> int:
    """The cluster slot of a key, hash tags honoured (redis-py's CRC16)."""
    return key_slot(key)


def slots_of(keys: list[bytes]) -> list[int]:
    """The cluster slot of each key, for a multi-key command's plan.

    A key without ``{`` has no hash tag: its slot is the CRC16 (the C one of
    binascii, which redis-py's key_slot calls too) of the whole key, without a
    Python call per key; keys that may carry a tag go through redis-py's key_slot.
    """
    return [crc_hqx(key, 0) % SLOTS if b"{" not in key else key_slot(key) for key in keys]
