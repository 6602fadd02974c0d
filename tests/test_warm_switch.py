"""A warm switch: what django-redis 7 (or the seed project, 0.2) wrote reads back
through us, and what we write reads back through django-redis, with the same
LOCATION, KEY_PREFIX, serializer and compressor."""

from __future__ import annotations

import datetime
import decimal
import importlib.util
import pickle
from dataclasses import dataclass
from typing import Any

import django_redis
import pytest
import redis
from django_redis.cache import RedisCache as DjangoRedisCache

from django_async_redis.cache import RedisCache
from tests import servers


@dataclass(frozen=True)
class Point:
    x: int
    y: int


LONG = "compressible " * 400  # well over every compressor's minimum length
COMMON: dict[str, Any] = {
    "int": 42,
    "negative": -7,
    "zero": 0,
    "big": 2**64 + 1,
    "text": "héllo wörld",
    "float": 3.25,
    "none": None,
    "true": True,
    "dict": {"a": [1, 2, 3], "b": "two"},
    "long": LONG,
    "long_dict": {"rows": [LONG, LONG]},
}
PICKLE_ONLY: dict[str, Any] = {
    "tuple": (1, "a"),
    "set": {1, 2},
    "bytes": b"\x00\xff",
    "datetime": datetime.datetime(2026, 12, 1, 12, 30, tzinfo=datetime.UTC),
    "decimal": decimal.Decimal("1.10"),
    "object": Point(1, 2),
}
MSGPACK_ONLY: dict[str, Any] = {"bytes": b"\x00\xff", "list": [1, "a", None]}

SERIALIZERS = {
    "pickle": ("django_redis.serializers.pickle.PickleSerializer", {**COMMON, **PICKLE_ONLY}),
    "json": ("django_redis.serializers.json.JSONSerializer", COMMON),
    "msgpack": ("django_redis.serializers.msgpack.MSGPackSerializer", {**COMMON, **MSGPACK_ONLY}),
}
COMPRESSORS = {
    "identity": "django_redis.compressors.identity.IdentityCompressor",
    "zlib": "django_redis.compressors.zlib.ZlibCompressor",
    "gzip": "django_redis.compressors.gzip.GzipCompressor",
    "lzma": "django_redis.compressors.lzma.LzmaCompressor",
    "lz4": "django_redis.compressors.lz4.Lz4Compressor",
    "zstd": "django_redis.compressors.zstd.ZStdCompressor",
}
# django-redis's zstd compressor is built on pyzstd, ours on zstandard.
NEEDS = {"lz4": "lz4", "zstd": "pyzstd"}


def _pair(serializer: str, compressor: str) -> tuple[RedisCache, DjangoRedisCache]:
    needed = NEEDS.get(compressor)
    # The test extra installs both: missing is a broken set-up, not a reason to skip.
    assert needed is None or importlib.util.find_spec(needed) is not None, f"{needed} missing"
    params = {
        "KEY_PREFIX": "warm",
        "OPTIONS": {
            "SERIALIZER": SERIALIZERS[serializer][0],
            "COMPRESSOR": COMPRESSORS[compressor],
        },
    }
    url = servers.session_server().url()
    return RedisCache(url, params), DjangoRedisCache(url, params)


@pytest.fixture(autouse=True)
def _flushed(flushed_redis: redis.Redis) -> None:
    return None


@pytest.mark.parametrize("compressor", sorted(COMPRESSORS))
@pytest.mark.parametrize("serializer", sorted(SERIALIZERS))
def test_values_both_ways(serializer: str, compressor: str) -> None:
    ours, theirs = _pair(serializer, compressor)
    values = SERIALIZERS[serializer][1]
    for name, value in values.items():
        theirs.set(f"theirs:{name}", value, timeout=300)
        assert ours.get(f"theirs:{name}") == value, name
        ours.set(f"ours:{name}", value, timeout=300)
        assert theirs.get(f"ours:{name}") == value, name
    assert ours.get_many([f"theirs:{name}" for name in values]) == {
        f"theirs:{name}": value for name, value in values.items()
    }
    ours.set_many({f"many:{name}": value for name, value in values.items()})
    assert theirs.get_many([f"many:{name}" for name in values]) == {
        f"many:{name}": value for name, value in values.items()
    }
    assert 0 < (ours.ttl("theirs:text") or 0) <= 300


def test_counters_and_expiry_both_ways() -> None:
    ours, theirs = _pair("pickle", "zlib")
    theirs.set("n", 10)
    assert ours.incr("n", 5) == 15
    assert theirs.incr("n") == 16
    assert ours.get("n") == 16
    theirs.set("big", 2**63 - 1)
    assert ours.incr("big") == 2**63
    assert theirs.get("big") == 2**63
    ours.set("t", "v", timeout=100)
    assert 99 <= theirs.ttl("t") <= 100
    assert theirs.delete_many(["n", "big"]) == ours.delete_many(["missing"]) + 2


@pytest.mark.parametrize("serializer", ["pickle", "json", "msgpack"])
def test_structures_both_ways(serializer: str) -> None:
    ours, theirs = _pair(serializer, "identity")
    members = ["a", 1, "héllo", None, 2.5]
    theirs.sadd("s", *members)
    assert ours.smembers("s") == set(members)
    assert ours.sismember("s", 1) and ours.sismember("s", None)
    assert ours.srem("s", "a") == 1
    ours.sadd("s", "ours")
    assert theirs.smembers("s") == {1, "héllo", None, 2.5, "ours"}

    # Sorted sets (django-redis 7's layout).
    theirs.zadd("z", {"low": 1, 7: 2, None: 3})
    assert ours.zrange("z", 0, -1, withscores=True) == [("low", 1.0), (7, 2.0), (None, 3.0)]
    assert ours.zscore("z", 7) == 2.0
    ours.zadd("z", {"high": 9})
    assert theirs.zrevrange("z", 0, 0) == ["high"]
    assert theirs.zrank("z", 7) == ours.zrank("z", 7) == 1

    # Hashes as django-redis 7 lays them out (a made key, plain field names).
    # 6.x kept the hash under its raw name and made each field a key: those
    # hashes do not carry over (docs/django-redis-compat.md says so).
    if int(django_redis.__version__.split(".")[0]) >= 7:
        theirs.hset("h", "f", {"nested": [1]})
        ours.hset("h", mapping={"g": 5})
        assert ours.hget("h", "f") == {"nested": [1]}
        assert sorted(theirs.hkeys("h")) == ["f", "g"] == sorted(ours.hkeys("h"))
        assert theirs.hexists("h", "g") and theirs.hlen("h") == 2


def _seed_decode(data: bytes) -> Any:
    # The seed (0.2): an int if the bytes parse as one, else pickle.
    try:
        return int(data)
    except ValueError:
        return pickle.loads(data)


def test_the_seed_projects_plain_values(flushed_redis: redis.Redis) -> None:
    # The seed stored what django-redis stores: ints as digits, everything else
    # pickled at the highest protocol, under KEY_PREFIX:VERSION:key.
    ours = RedisCache(servers.session_server().url(), {"KEY_PREFIX": "seed"})
    values = {**COMMON, **PICKLE_ONLY}
    for name, value in values.items():
        stored = str(value).encode() if type(value) is int else pickle.dumps(value, -1)
        flushed_redis.set(f"seed:1:{name}", stored, px=300_000)
        assert ours.get(name) == value, name
        ours.set(f"ours:{name}", value)
        assert _seed_decode(flushed_redis.get(f"seed:1:ours:{name}")) == value, name
    assert ours.incr("int") == 43


def test_herd_clients_both_ways(flushed_redis: redis.Redis) -> None:
    url = servers.session_server().url()
    params = {"KEY_PREFIX": "warm"}
    ours = RedisCache(url, {**params, "OPTIONS": {"CLIENT_CLASS": HERD_OURS}})
    theirs = DjangoRedisCache(url, {**params, "OPTIONS": {"CLIENT_CLASS": HERD_THEIRS}})
    value = {"rows": [1, 2, 3]}
    theirs.set("k", value, timeout=300)  # stored as django-redis's packed tuple
    assert ours.get("k") == value
    assert ours.get_many(["k"]) == {"k": value}
    assert ours.get_or_set("k", "recomputed") == value
    ours.set("mine", value, timeout=300)  # plain bytes, with the window in the TTL
    assert theirs.get("mine") == value


HERD_OURS = "django_async_redis.client.HerdClient"
HERD_THEIRS = "django_redis.client.HerdClient"
