"""Topology settings that cannot work are refused when the cache is built, naming why."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_async_redis.cache import RedisCache
from django_async_redis.client import ClusterClient, SentinelClient, ShardClient

CLUSTER = "django_async_redis.client.ClusterClient"
SENTINEL = "django_async_redis.client.SentinelClient"
SHARD = "django_async_redis.client.ShardClient"
SENTINELS = [("127.0.0.1", 1)]


def build(location: Any, **options: Any) -> RedisCache:
    return RedisCache(location, {"OPTIONS": options})


@pytest.mark.parametrize(
    ("location", "options", "message"),
    [
        ("redis://mymaster/0", {"CLIENT_CLASS": SENTINEL}, "needs OPTIONS['SENTINELS']"),
        (
            ["redis://a/0", "redis://b/0"],
            {"SENTINELS": SENTINELS},
            "LOCATION is one URL naming the service",
        ),
        ("unix:///tmp/x.sock", {"SENTINELS": SENTINELS}, "not unix://"),
        ("redis://m/0", {"SENTINELS": "127.0.0.1:26379"}, "list of (host, port) pairs"),
        ("redis://m/0", {"SENTINELS": [("127.0.0.1", "26379")]}, "must be a (host, port) pair"),
        ("redis://m/0", {"SENTINELS": []}, "list of (host, port) pairs"),
        (
            "redis://m/0",
            {"SENTINELS": SENTINELS, "SENTINEL_KWARGS": {"pasword": "x"}},
            "Did you mean 'password'",
        ),
        ("redis://m/0", {"SENTINEL_KWARGS": {"password": "x"}}, "SENTINELS is not"),
        (
            "redis://m/0",
            {"CONNECTION_FACTORY": "myproject.pool.Factory"},
            "CONNECTION_FACTORY 'myproject.pool.Factory' is not supported",
        ),
        (
            "redis://m/0",
            {
                "CLIENT_CLASS": SHARD,
                "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
            },
            "asks for Sentinel",
        ),
        ("redis://127.0.0.1:7000/2", {"CLIENT_CLASS": CLUSTER}, "only database 0, not 2"),
        ("unix:///tmp/c.sock", {"CLIENT_CLASS": CLUSTER}, "over TCP, not a unix socket"),
        (
            "redis://127.0.0.1:7000",
            {"CLIENT_CLASS": CLUSTER, "SENTINELS": SENTINELS},
            "takes no SENTINELS",
        ),
        (
            ["redis://127.0.0.1:1/0", "redis://127.0.0.1:1/0"],
            {"CLIENT_CLASS": SHARD},
            "lists a server twice",
        ),
        (
            ["redis://127.0.0.1:1/0", "redis://127.0.0.1:2/0"],
            {"CLIENT_CLASS": SHARD, "READ_FROM_REPLICAS": True},
            "does not apply to ShardClient",
        ),
        ("redis://127.0.0.1:1/0", {"READ_FROM_REPLICAS": "yes"}, "True or False"),
    ],
)
def test_impossible_topology_settings_fail_at_startup(
    location: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        build(location, **options)


def test_django_redis_sentinel_spelling_is_understood() -> None:
    """DefaultClient + SENTINELS + django-redis's SentinelConnectionFactory means Sentinel."""
    cache = build(
        "redis://mymaster?db=7",
        CLIENT_CLASS="django_async_redis.client.DefaultClient",
        SENTINELS=SENTINELS,
        CONNECTION_FACTORY="django_redis.pool.SentinelConnectionFactory",
    )
    assert isinstance(cache.client, SentinelClient)
    assert cache.client._service == "mymaster"
    assert cache.client._state.template.db == 7


def test_django_redis_global_factory_setting_is_understood() -> None:
    with override_settings(
        DJANGO_REDIS_CONNECTION_FACTORY="django_redis.pool.SentinelConnectionFactory"
    ):
        cache = build("redis://MyMaster/0", SENTINELS=[["127.0.0.1", 26379]])
    assert isinstance(cache.client, SentinelClient)
    assert cache.client._service == "MyMaster"  # service names keep their case


def test_plain_factory_keeps_the_default_client() -> None:
    cache = build("redis://127.0.0.1:1/0", CONNECTION_FACTORY="django_redis.pool.ConnectionFactory")
    assert type(cache.client).__name__ == "DefaultClient"


def test_topology_clients_build_without_connecting() -> None:
    """Building a cache never opens a connection: nothing listens on these ports."""
    assert isinstance(build("redis://127.0.0.1:1", CLIENT_CLASS=CLUSTER).client, ClusterClient)
    shards = build("redis://127.0.0.1:1/0,redis://127.0.0.1:2/0", CLIENT_CLASS=SHARD)
    assert isinstance(shards.client, ShardClient)
    assert isinstance(build("redis://m/0", SENTINELS=SENTINELS).client, SentinelClient)


def test_shard_raw_client_needs_a_key() -> None:
    shards = build("redis://127.0.0.1:1/0,redis://127.0.0.1:2/0", CLIENT_CLASS=SHARD)
    with pytest.raises(ImproperlyConfigured, match="no single server"):
        shards.client.raw_client()
    assert shards.client.raw_client(key=b":1:k").connection_pool.connection_kwargs["port"] in (1, 2)


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [
        ("django_redis.client.DefaultClient", "DefaultClient"),
        ("django_redis.client.default.DefaultClient", "DefaultClient"),
        ("django_redis.client.ShardClient", "ShardClient"),
        ("django_redis.client.sharded.ShardClient", "ShardClient"),
        ("django_redis.client.HerdClient", "HerdClient"),
    ],
)
def test_django_redis_client_paths_mean_ours(theirs: str, ours: str) -> None:
    cache = build("redis://127.0.0.1:1/0,redis://127.0.0.1:2/0", CLIENT_CLASS=theirs)
    assert type(cache.client).__name__ == ours
    assert type(cache.client).__module__.startswith("django_async_redis.client")


def test_django_redis_sentinel_client_path_means_ours() -> None:
    cache = build(
        "redis://mymaster/0", CLIENT_CLASS="django_redis.client.SentinelClient", SENTINELS=SENTINELS
    )
    assert isinstance(cache.client, SentinelClient)


def test_replica_read_only_is_accepted_true_and_refused_false() -> None:
    build("redis://127.0.0.1:1/0", REPLICA_READ_ONLY=True)
    with pytest.raises(ImproperlyConfigured, match="REPLICA_READ_ONLY=False is not supported"):
        build("redis://127.0.0.1:1/0", REPLICA_READ_ONLY=False)


def test_django_redis_close_connection_setting_is_honoured() -> None:
    with override_settings(DJANGO_REDIS_CLOSE_CONNECTION=True):
        assert build("redis://127.0.0.1:1/0")._config.close_connection is True
    assert build("redis://127.0.0.1:1/0")._config.close_connection is False


def test_get_client_is_django_redis_name_for_the_raw_client() -> None:
    cache = build("redis://127.0.0.1:1/0")
    assert cache.client.get_client() is cache.client.raw_client()
