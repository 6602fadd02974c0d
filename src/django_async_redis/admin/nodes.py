"""Which servers an alias has, and what each one is, for every topology.

The parts of the key space come from the client itself (``partitions()``, as
``manage.py redis_cache`` walks them): the server, each shard, each cluster
primary. The other nodes the client knows (replicas in LOCATION, the ones
Sentinel or the cluster's slot map named) are read-only copies of those.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..client.base import BaseClient
from ..client.cluster import ClusterClient
from ..client.sentinel import SentinelClient
from ..client.shard import ShardClient
from ..config import Node
from ..management import inspect


@dataclass(frozen=True)
class Target:
    """One server of an alias: its address, its role, and the node to pin a round trip to."""

    address: str
    role: str  # "primary", "shard", "replica"
    node: Node | None  # None: the client's usual node (found at call time under Sentinel)
    holds_keys: bool  # a part of the key space (scanned), not a copy of one


def topology_of(client: BaseClient) -> str:
    if isinstance(client, ClusterClient):
        return "cluster"
    if isinstance(client, ShardClient):
        return "shards"
    if isinstance(client, SentinelClient):
        return "sentinel"
    return "single"


def parts(client: BaseClient) -> list[Target]:
    """The parts of the key space, in the client's order (the key browser's cursor order)."""
    role = "shard" if isinstance(client, ShardClient) else "primary"
    return [
        Target(address, role, node, holds_keys=True) for address, node in inspect.part_nodes(client)
    ]


def targets(client: BaseClient) -> list[Target]:
    """Every server: the parts of the key space first, then the replicas the client knows."""
    found = parts(client)
    # Resolved only now: under Sentinel the first round trip finds the primary.
    found = [
        Target(inspect.address_of(client, t.node), t.role, t.node, t.holds_keys) for t in found
    ]
    seen = {target.address for target in found}
    seen.update(node.address for node in client.config.sentinels)
    for node in client.nodes:
        if node.address not in seen:
            seen.add(node.address)
            found.append(Target(node.address, "replica", node, holds_keys=False))
    return found


def target_at(client: BaseClient, address: str) -> Target | None:
    """The server at ``address`` among the alias's, or None (never a server it does not know)."""
    for target in targets(client):
        if target.address == address:
            return target
    return None
