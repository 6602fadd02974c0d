"""The overview: every alias of ours, its topology, and each server's figures.

The figures per server are ``manage.py redis_cache info``'s (``inspect.info``:
INFO server/memory/clients/stats and DBSIZE, one round trip each), so the page
and the command always agree. A server that does not answer is a row with its
error, not a failed page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..cache import RedisCache
from ..management import inspect
from ..nodes import redacted
from ..transport.breaker import breaker_states
from .nodes import Target, targets, topology_of


@dataclass
class ServerRow:
    address: str
    role: str
    breaker: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def server(self) -> str:
        found = self.info.get("server", {})
        if "valkey_version" in found:
            return f"valkey {found['valkey_version']}"
        return f"redis {found['redis_version']}" if "redis_version" in found else ""


@dataclass
class AliasOverview:
    alias: str
    topology: str
    location: list[str]
    key_prefix: str
    version: int
    codec: dict[str, str]
    servers: list[ServerRow]
    sentinels: list[str]
    metrics: dict[str, Any]
    # The local tier's figures with CLIENT_CACHE on (client_cache/tier.py), else None.
    client_cache: dict[str, int] | None = None
    error: str = ""


def describe_codec(cache: RedisCache) -> dict[str, str]:
    codec = cache._codec
    return {
        "serializer": type(codec.serializer).__name__,
        "compressor": type(codec.compressor).__name__,
        "signing": "on" if codec.signer is not None else "off",
    }


def alias_overview(alias: str, cache: RedisCache) -> AliasOverview:
    client = cache.client
    config = client.config
    summary = AliasOverview(
        alias=alias,
        topology=topology_of(client),
        location=[redacted(url) for url in config.locations],
        key_prefix=cache.key_prefix,
        version=cache.version,
        codec=describe_codec(cache),
        servers=[],
        sentinels=[node.address for node in config.sentinels],
        metrics=cache.stats(),
    )
    summary.client_cache = summary.metrics.pop("client_cache", None)
    try:
        found: list[Target] = targets(client)
    except inspect.FAILURES as error:
        summary.error = f"the servers cannot be listed: {error}"
        return summary
    breakers = breaker_states(client.nodes)
    for target in found:
        row = ServerRow(target.address, target.role, breakers.get(target.address, {}))
        try:
            row.info = inspect.info(client, target.node, config.primary.db)
        except inspect.FAILURES as error:
            row.error = str(error) or type(error).__name__
        summary.servers.append(row)
    return summary


def overviews() -> list[AliasOverview]:
    return [alias_overview(alias, cache) for alias, cache in inspect.redis_caches()]
