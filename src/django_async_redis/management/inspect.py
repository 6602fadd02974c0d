"""What ``manage.py redis_cache`` asks the servers, as plain data.

Every question is an :class:`~django_async_redis.ops.Step` sent through the
cache's own client to one part of its key space at a time
(``client.partitions()``: the server; each shard; each cluster primary), so the
command uses the cache's connections, credentials, TLS and topology, and opens
nothing of its own. Rendering (tables, JSON, progress) is the command's job.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import caches
from redis import exceptions as redis_errors

from ..cache import RedisCache
from ..client.base import BaseClient
from ..config import Node
from ..ops import Step

FAILURES = (redis_errors.RedisError, OSError)


def redis_caches() -> list[tuple[str, RedisCache]]:
    """(alias, cache) for every CACHES alias that is a django_async_redis cache."""
    found = []
    for alias in settings.CACHES:
        cache = caches[alias]
        if isinstance(cache, RedisCache):
            found.append((alias, cache))
    return found


def part_nodes(client: BaseClient) -> list[tuple[str, Node | None]]:
    """(address, node to pass to ``execute``) for each part of the key space.

    A single-server topology answers None (its usual node, found at call time,
    which for Sentinel means after asking the sentinels); its address is read
    after the first round trip by :func:`address_of`.
    """
    return [(address_of(client, part), part) for part in client.partitions()]


def address_of(client: BaseClient, part: Node | None) -> str:
    if part is not None:
        return part.address
    node_for = getattr(client, "node_for", None)
    try:
        return str(node_for(True).address) if node_for else "?"
    except FAILURES:
        return "?"


def replicas_of(client: BaseClient) -> list[Node]:
    """LOCATION's replicas, for single-partition clients (shards list shards there)."""
    if len(client.partitions()) != 1 or client.partitions()[0] is not None:
        return []
    return list(client.config.replicas)


def _first(replies: list[Any]) -> Any:
    return replies[0]


def run(client: BaseClient, commands: list[tuple[Any, ...]], node: Node | None) -> list[Any]:
    """Send ``commands`` in one round trip to ``node``; their replies (errors as values)."""
    step = Step(commands, lambda replies: replies, write=True, errors_as_values=True)
    replies: list[Any] = client.execute(step, node)
    return replies


# ping -----------------------------------------------------------------------------


def ping(client: BaseClient, node: Node | None, samples: int = 3) -> float:
    """The best of ``samples`` PING round trips, in milliseconds (the first also connects)."""
    client.execute(Step(((b"PING",),), _first, write=True), node)
    best = float("inf")
    for _ in range(samples):
        started = time.perf_counter()
        client.execute(Step(((b"PING",),), _first, write=True), node)
        best = min(best, time.perf_counter() - started)
    return best * 1000


# info -----------------------------------------------------------------------------


def parse_info(text: bytes | str) -> dict[str, str]:
    """INFO's ``key:value`` lines as a dict (sections and comments dropped)."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    info = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            info[key] = value
    return info


INFO_FIELDS = (
    ("server", ("redis_version", "valkey_version", "redis_mode", "uptime_in_seconds")),
    ("memory", ("used_memory_human", "maxmemory_human", "maxmemory_policy")),
    ("clients", ("connected_clients", "blocked_clients")),
    (
        "stats",
        (
            "keyspace_hits",
            "keyspace_misses",
            "evicted_keys",
            "expired_keys",
            "instantaneous_ops_per_sec",
        ),
    ),
)


def info(client: BaseClient, node: Node | None, db: int) -> dict[str, Any]:
    """Server, memory, clients and hit ratio of one node, with its key count in ``db``."""
    sections = [section for section, _ in INFO_FIELDS]
    replies = run(client, [(b"INFO", section.encode()) for section in sections], node)
    replies += run(client, [(b"DBSIZE",)], node)
    result: dict[str, Any] = {}
    for (section, names), reply in zip(INFO_FIELDS, replies, strict=False):
        if isinstance(reply, Exception):
            result[section] = {"error": str(reply)}
            continue
        parsed = parse_info(reply)
        result[section] = {name: parsed[name] for name in names if name in parsed}
    stats = result.get("stats", {})
    hits, misses = int(stats.get("keyspace_hits", 0)), int(stats.get("keyspace_misses", 0))
    result["hit_ratio"] = round(hits / (hits + misses), 4) if hits + misses else None
    result["keys"] = replies[-1] if not isinstance(replies[-1], Exception) else None
    result["db"] = db
    return result


# scanning -------------------------------------------------------------------------


@dataclass
class ScanProgress:
    """Where a scan of one node is: for a progress line."""

    address: str
    pages: int = 0
    matched: int = 0
    size: int | None = None  # DBSIZE when the scan began
    count: int = 1000

    @property
    def fraction(self) -> float | None:
        """Roughly how far (SCAN looks at about COUNT slots a page), capped below 1."""
        if not self.size:
            return None
        return min(0.99, self.pages * self.count / self.size)


def scan_page(
    client: BaseClient,
    node: Node | None,
    glob: bytes,
    cursor: int = 0,
    count: int = 1000,
    type_name: str | None = None,
) -> tuple[int, list[bytes]]:
    """One SCAN batch on one node: the next cursor (0 when done) and the keys it found.

    ``count`` bounds the work the server does for the batch (about that many
    slots of its hash table looked at), whatever ``glob`` matches.
    ``type_name`` (``string``, ``hash``...) filters by type on the server.
    """
    command: tuple[Any, ...] = (b"SCAN", cursor, b"MATCH", glob, b"COUNT", count)
    if type_name:
        command += (b"TYPE", type_name.encode())
    cursor_reply, found = client.execute(Step((command,), _first, write=True), node)
    return int(cursor_reply), list(found)


def scan(
    client: BaseClient,
    node: Node | None,
    glob: bytes,
    count: int = 1000,
    progress: ScanProgress | None = None,
) -> Generator[list[bytes], None, None]:
    """Pages of keys matching ``glob`` on one node (SCAN MATCH, ``count`` per page)."""
    cursor = 0
    while True:
        cursor, found = scan_page(client, node, glob, cursor, count)
        if progress is not None:
            progress.pages += 1
            progress.matched += len(found)
        yield found
        if not cursor:
            return


def dbsize(client: BaseClient, node: Node | None) -> int:
    size: int = client.execute(Step(((b"DBSIZE",),), _first, write=True), node)
    return size


def unlink(client: BaseClient, node: Node | None, keys: list[bytes]) -> int:
    """UNLINK ``keys`` on ``node`` (they came from its SCAN, so they live there)."""
    if not keys:
        return 0
    removed: int = client.execute(Step(((b"UNLINK", *keys),), _first, write=True), node)
    return removed


def cache_glob(cache: RedisCache, pattern: str, raw: bool, version: int | None) -> bytes:
    """The Redis glob for ``pattern``: in the cache's key space, or as given with ``raw``."""
    return pattern.encode() if raw else cache._pattern(pattern, version)


# stats by prefix --------------------------------------------------------------------

_SEPARATORS = re.compile(r"([:.])")


def _looks_variable(part: str) -> bool:
    """An id-like key part: a number, a long hex digest, or a long token with digits."""
    return (
        part.isdigit()
        or (len(part) >= 16 and all(c in "0123456789abcdefABCDEF-" for c in part))
        or (len(part) >= 20 and any(c.isdigit() for c in part))
    )


def key_group(key: str, depth: int | None) -> str:
    """The prefix ``key`` is counted under.

    ``depth``: that many parts (split at ``:`` and ``.``). Without it, the parts
    up to the first id-like one (``user:42:profile`` -> ``user:*``), so a
    group gathers keys that differ only by an id, digest or token.
    """
    pieces = _SEPARATORS.split(key)
    parts, separators = pieces[::2], pieces[1::2]
    if depth is not None:
        keep = min(depth, len(parts))
    else:
        keep = next((i for i, part in enumerate(parts) if _looks_variable(part)), len(parts))
    if keep >= len(parts):
        return key
    head = "".join(p + s for p, s in zip(parts[:keep], separators[:keep], strict=False))
    return head + "*"


@dataclass
class PrefixStats:
    keys: int = 0
    measured: int = 0
    measured_bytes: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        """Measured bytes, scaled to every key of the prefix by their mean."""
        return round(self.measured_bytes / self.measured * self.keys) if self.measured else 0


def stats(
    client: BaseClient,
    glob: bytes,
    sample: int,
    depth: int | None,
    namespace: str = "",
    progress: Callable[[ScanProgress], None] | None = None,
) -> dict[str, Any]:
    """Keys and memory by prefix: every matching key counted (SCAN), ``sample`` per prefix measured.

    Memory comes from MEMORY USAGE of the first ``sample`` keys of each prefix
    the scan meets (its order is the hash table's, as good as random), scaled
    by the prefix's key count: exact for prefixes with at most ``sample`` keys.
    ``namespace`` (the cache's ``KEY_PREFIX:VERSION:``) is kept whole in the
    group names, so a version number is not taken for an id.
    """
    groups: dict[str, PrefixStats] = {}
    for address, node in part_nodes(client):
        state = ScanProgress(address, size=dbsize(client, node))
        for page in scan(client, node, glob, progress=state):
            measure: list[tuple[bytes, PrefixStats]] = []
            for key in page:
                name = key.decode(errors="replace")
                group = groups.setdefault(_group_name(name, namespace, depth), PrefixStats())
                group.keys += 1
                if group.measured + sum(1 for _, g in measure if g is group) < sample:
                    measure.append((key, group))
                if len(group.examples) < 3:
                    group.examples.append(name)
            if measure:
                usages = run(client, [(b"MEMORY", b"USAGE", key) for key, _ in measure], node)
                for (_key, group), usage in zip(measure, usages, strict=True):
                    if isinstance(usage, int):  # None: the key expired meanwhile
                        group.measured += 1
                        group.measured_bytes += usage
            if progress is not None:
                progress(state)
    rows = [
        {
            "prefix": name,
            "keys": group.keys,
            "bytes": group.bytes,
            "measured_keys": group.measured,
            "examples": group.examples,
        }
        for name, group in sorted(groups.items(), key=lambda item: -item[1].bytes)
    ]
    return {
        "keys": sum(group.keys for group in groups.values()),
        "bytes": sum(group.bytes for group in groups.values()),
        "exact": all(group.measured == group.keys for group in groups.values()),
        "prefixes": rows,
    }


def _group_name(key: str, namespace: str, depth: int | None) -> str:
    if namespace and key.startswith(namespace):
        return namespace + key_group(key[len(namespace) :], depth)
    return key_group(key, depth)
