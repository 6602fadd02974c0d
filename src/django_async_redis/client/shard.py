"""Client-side sharding: each LOCATION entry an independent server.

Keys are placed on a consistent-hash ring laid out exactly as django-redis's
ShardClient lays out its own (128 points per server, named by the LOCATION
entry as written; SHA-256 of the key; the point at or before the key's hash),
so a site moving from django-redis with the same server list finds every key
where it left it. A ``{hash tag}`` in a key places it by the tag alone, with
django-redis's reading of a tag: the text between the last ``{`` that has a
``}`` after it and the last ``}``.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Hashable
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

from ..config import CacheConfig, Node, redacted
from .default import loop_raw_client, redis_py_kwargs, shared_raw_client
from .routed import RoutedClient

if TYPE_CHECKING:
    import redis
    import redis.asyncio

POINTS_PER_SERVER = 128


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hash_tag(key: str) -> str:
    """The part of ``key`` that decides its shard."""
    close = key.rfind("}")
    if close < 0:
        return key
    opening = key.rfind("{", 0, close)
    return key if opening < 0 else key[opening + 1 : close]


class HashRing:
    """Server names on a ring of SHA-256 points; a key goes to the point at or before it."""

    def __init__(self, names: list[str]) -> None:
        owners: dict[str, int] = {}
        for index, name in enumerate(names):
            for point in range(POINTS_PER_SERVER):
                owners[_digest(f"{name}:{point}")] = index
        self._points = sorted(owners)
        self._owners = [owners[point] for point in self._points]

    def index(self, key: str) -> int:
        """The index (in ``names``) of the server that holds ``key``."""
        # bisect()-1 is -1 for a hash below every point: the ring wraps to the last.
        return self._owners[bisect.bisect(self._points, _digest(hash_tag(key))) - 1]


class ShardClient(RoutedClient):
    """Consistent hashing over independent servers; multi-key commands grouped per shard."""

    def __init__(self, config: CacheConfig) -> None:
        super().__init__(config)
        if config.sentinels:
            raise ImproperlyConfigured("ShardClient takes no SENTINELS: use SentinelClient")
        if config.read_from_replicas:
            raise ImproperlyConfigured(
                "READ_FROM_REPLICAS does not apply to ShardClient: every LOCATION entry is an "
                "independent server holding its own share of the keys"
            )
        names = [name for name in config.locations]
        if len(set(names)) != len(names):
            shown = [redacted(name) for name in names]
            raise ImproperlyConfigured(f"ShardClient LOCATION lists a server twice: {shown!r}")
        self._shards = list(config.nodes)
        self._ring = HashRing(names)

    @property
    def nodes(self) -> list[Node]:
        return list(self._shards)

    def partitions(self) -> list[Node | None]:
        return list(self._shards)

    def serving_nodes(self) -> tuple[Node, ...]:
        return tuple(self._shards)

    def router(self) -> ShardClient:
        return self

    # the Router protocol -------------------------------------------------------

    def groups(self, keys: list[bytes]) -> list[int]:
        index = self._ring.index
        return [index(key.decode(errors="surrogateescape")) for key in keys]

    def node(self, group: Hashable, write: bool) -> Node:
        assert isinstance(group, int)
        return self._shards[group]

    def default_node(self, write: bool) -> Node:
        return self._shards[0]

    def moved(self, slot: int, address: str) -> None:
        raise AssertionError("independent shards never redirect")

    def node_at(self, address: str) -> Node:
        raise AssertionError("independent shards never redirect")

    def _node_of(self, key: bytes, write: bool) -> Node | None:
        return self.shard_for(key)

    def shard_for(self, key: bytes) -> Node:
        """The server holding ``key``."""
        return self._shards[self._ring.index(key.decode(errors="surrogateescape"))]

    # raw redis-py clients --------------------------------------------------------

    def _raw_node(self, key: bytes | None) -> Node:
        if key is None:
            raise ImproperlyConfigured(
                "ShardClient has no single server for a raw client: ask for the one holding a "
                "key, e.g. cache.client.raw_client(key=cache.make_key('k').encode())"
            )
        return self.shard_for(key)

    def raw_client(self, write: bool = True, key: bytes | None = None) -> redis.Redis:
        import redis

        node = self._raw_node(key)
        return shared_raw_client(node, lambda: redis.Redis(**redis_py_kwargs(node)))

    def async_raw_client(self, write: bool = True, key: bytes | None = None) -> redis.asyncio.Redis:
        import redis.asyncio

        node = self._raw_node(key)

        def build() -> redis.asyncio.Redis:
            return redis.asyncio.Redis(**redis_py_kwargs(node))

        return loop_raw_client(("redis.asyncio", node), build)
