"""The contenders of the Redis Cluster run, and the peers that have no cluster mode.

Every Django backend stores a pickled dict, uncompressed, as in the
single-server run (``benchmarks.backends``). Each is given the cluster the way
its own documentation asks for it:

* ours: ``LOCATION`` = every primary's URL, ``CLIENT_CLASS`` = ClusterClient;
* django-valkey: ``django_valkey.cluster_cache.cache.ClusterValkeyCache`` with
  one seed URL (a LOCATION list would mean one ValkeyCluster client per entry,
  the first for writes, the rest for reads);
* django-vcache: ``CLUSTER_MODE: True`` and the seeds comma-separated;
* raw redis-py: ``redis.cluster.RedisCluster`` and
  ``redis.asyncio.cluster.RedisCluster`` on the same seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OURS = "ours"


@dataclass(frozen=True)
class ClusterContender:
    name: str  # short id used in JSON and by --only
    label: str  # what the table shows
    kind: str  # "django" (a CACHES backend) or "raw" (redis-py's cluster clients)
    path: str = ""  # BACKEND dotted path, for kind "django"
    dist: str = ""  # distribution whose version is reported
    note: str = ""  # how it reaches the cluster, shown in the docs
    options: dict[str, Any] = field(default_factory=dict)
    location: str = "list"  # "list" of seeds, "first" seed only, or "comma"-separated
    cluster: bool = True  # False: the single-server reference row

    def cache_settings(self, seeds: list[str]) -> dict[str, Any]:
        if self.location == "first":
            location: Any = seeds[0]
        elif self.location == "comma":
            location = ",".join(seeds)
        else:
            location = list(seeds)
        return {
            "BACKEND": self.path,
            "LOCATION": location,
            "KEY_PREFIX": f"dar-bench-{self.name}",
            "TIMEOUT": 300,
            "OPTIONS": dict(self.options),
        }


CONTENDERS: list[ClusterContender] = [
    ClusterContender(
        OURS,
        "django-async-redis ClusterClient",
        "django",
        "django_async_redis.cache.RedisCache",
        "django-async-redis",
        note="slot map per process; one multiplexed connection per node and loop",
        options={"CLIENT_CLASS": "django_async_redis.client.ClusterClient"},
    ),
    ClusterContender(
        "redis-py",
        "raw redis-py RedisCluster (sync / asyncio)",
        "raw",
        dist="redis",
        note="get/set, mget_nonatomic for many keys; default pools",
    ),
    ClusterContender(
        "django-valkey",
        "django-valkey ClusterValkeyCache",
        "django",
        "django_valkey.cluster_cache.cache.ClusterValkeyCache",
        "django-valkey",
        note="sync only: valkey-py's ValkeyCluster; the class has no a* methods",
        location="first",
    ),
    ClusterContender(
        "vcache",
        "django-vcache CLUSTER_MODE",
        "django",
        "django_vcache.backend.ValkeyCache",
        "django-vcache",
        note="Rust driver's cluster client (redis-rs)",
        options={"CLUSTER_MODE": True, "SERIALIZER": "pickle", "COMPRESS_MIN_LEN": 1 << 30},
        location="comma",
    ),
    ClusterContender(
        "ours-single",
        "reference: ours DefaultClient, one plain server",
        "django",
        "django_async_redis.cache.RedisCache",
        "django-async-redis",
        note="not a cluster: the same binary, one server, to show what routing costs",
        cluster=False,
    ),
]

BY_NAME = {c.name: c for c in CONTENDERS}

# Peers of the single-server run that cannot be given a cluster at all.
NO_CLUSTER = {
    "django": (
        "Django built-in RedisCache: no cluster mode (redis.Redis over a ConnectionPool; "
        "a LOCATION list means one primary and read replicas, not slots)"
    ),
    "django-redis": (
        "django-redis: no cluster mode (its clients are Default, Herd, Sentinel and "
        "Sharded, a client-side hash ring over independent servers)"
    ),
}
