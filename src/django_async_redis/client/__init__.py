"""Topology clients: which node each operation goes to."""

from .cluster import ClusterClient
from .default import DefaultClient
from .herd import HerdClient
from .sentinel import SentinelClient
from .shard import ShardClient

__all__ = ["ClusterClient", "DefaultClient", "HerdClient", "SentinelClient", "ShardClient"]
