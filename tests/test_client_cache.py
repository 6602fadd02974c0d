"""The client cache on one server: hits, exactness, every hole named in the design.

Each test talks to the session's real server; another client (raw redis-py)
plays the other processes. Nothing waits on a clock: an invalidation is
waited for by polling with a generous bound.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from django_async_redis import ops
from django_async_redis.cache import RedisCache
from django_async_redis.client import DefaultClient
from django_async_redis.client_cache.tracking import ClientCacheUnsupported
from tests import servers
from tests.client_cache_support import cached, tier_of, tracking_clients, wait_until
from tests.forking import answer_from_a_child
from tests.test_faults import StallingProxy


@pytest.fixture
def cache(redis_server: servers.Server, flushed_redis: redis.Redis) -> RedisCache:
    backend = cached(redis_server.url())
    tier_of(backend).clear()
    return backend


def _redis_key(cache: RedisCache, key: str) -> bytes:
    return cache._key(key, None)


# configuration -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("yes", "must be True, False or a dict"),
        ({"MAX_ENTRY": 5}, "has no 'MAX_ENTRY'"),
        ({"MAX_ENTRIES": 0}, "'MAX_ENTRIES'] must be a positive integer"),
        ({"MAX_BYTES": 1.5}, "'MAX_BYTES'] must be a positive integer"),
        ({"TTL": -1}, "'TTL'] must be a positive number"),
    ],
)
def test_bad_options_are_refused_naming_them(value: Any, named: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=named.replace("[", r"\[")):
        RedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"CLIENT_CACHE": value}})


def test_off_by_default_runs_none_of_it(redis_server: servers.Server) -> None:
    plain = RedisCache(redis_server.url(), {})
    assert type(plain.client) is DefaultClient
    assert not hasattr(plain.client, "tier")


def test_a_server_that_cannot_track_is_refused_with_the_reason(
    extra_servers: list[servers.Server],
) -> None:
    server = servers.start_server(["--rename-command", "HELLO", ""])
    extra_servers.append(server)
    backend = cached(server.url())
    backend.set("k", 1)
    with pytest.raises(ClientCacheUnsupported, match=r"RESP3.*HELLO"):
        backend.get("k")
    with pytest.raises(ImproperlyConfigured, match="CLIENT TRACKING"):
        asyncio.run(backend.aget("k"))


# hits ----------------------------------------------------------------------------


def test_a_hit_is_served_locally_and_never_shares_the_object(cache: RedisCache) -> None:
    cache.set("k", {"list": [1, 2]})
    first = cache.get("k")
    tier = tier_of(cache)
    hits = tier.hits
    second = cache.get("k")
    assert second == {"list": [1, 2]} and tier.hits == hits + 1
    second["list"].append(3)
    assert cache.get("k") == {"list": [1, 2]} and first == {"list": [1, 2]}

    async def scenario() -> None:
        value = await cache.aget("k")
        value["list"].clear()
        assert await cache.aget("k") == {"list": [1, 2]}

    asyncio.run(scenario())
    assert tier.hits == hits + 4


def test_reads_of_every_kind_are_answered(cache: RedisCache) -> None:
    cache.set_many({"a": 1, "b": "two"}, timeout=100)
    assert cache.get_many(["a", "b"]) == {"a": 1, "b": "two"}
    tier = tier_of(cache)
    hits = tier.hits
    assert cache.get_many(["a", "b"]) == {"a": 1, "b": "two"}
    assert cache.has_key("a") and cache.get("b") == "two"
    assert cache.get_or_set("a", 5) == 1
    assert tier.hits == hits + 5  # two keys, then one each


def test_only_keys_under_the_tracked_prefix_are_kept(
    cache: RedisCache, raw_redis: redis.Redis
) -> None:
    raw_redis.set(b"elsewhere", b"1")
    assert cache.client.execute(ops.get(b"elsewhere", None, int)) == 1
    assert tier_of(cache).stats()["entries"] == 0  # no invalidation would come for it


# other clients' writes -------------------------------------------------------------


def _warm(cache: RedisCache, key: str, value: Any) -> None:
    cache.set(key, value, timeout=300)
    assert cache.get(key) == value
    assert cache.get(key) == value  # from the tier now


def test_another_clients_writes_reach_us(cache: RedisCache, raw_redis: redis.Redis) -> None:
    key = _redis_key(cache, "k")
    _warm(cache, "k", 1)
    raw_redis.set(key, b"2")
    wait_until(lambda: cache.get("k") == 2, "SET by another client seen")
    raw_redis.delete(key)
    wait_until(lambda: cache.get("k") is None, "DEL by another client seen")
    _warm(cache, "k", 3)
    raw_redis.pexpire(key, 1)
    wait_until(lambda: cache.get("k") is None, "PEXPIRE 1 by another client seen")
    _warm(cache, "k", 4)
    raw_redis.flushdb()
    wait_until(lambda: cache.get("k") is None, "FLUSHDB by another client seen")


def test_a_write_from_redis_cli_reaches_us(cache: RedisCache, redis_server: servers.Server) -> None:
    # Another program altogether: the server's own command-line client.
    key = _redis_key(cache, "k")
    _warm(cache, "k", 1)
    redis_cli = shutil.which("redis-cli") or shutil.which("valkey-cli")
    assert redis_cli, "redis-cli comes with redis-server (Debian's redis-tools)"
    database = urlsplit(redis_server.url()).path.strip("/") or "0"
    command = [redis_cli, "-p", str(redis_server.port), "-n", database, "SET", key, "7"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    assert done.stdout.strip() == "OK"
    wait_until(lambda: cache.get("k") == 7, "SET by redis-cli seen")


def test_tracking_table_pressure_costs_no_entry_and_no_freshness(
    extra_servers: list[servers.Server],
) -> None:
    # A server whose per-key tracking table holds one key: in the default
    # tracking mode it would drop (invalidate) every other tracked key at once.
    # Broadcast tracking keeps no per-key table, so the entries stay, and
    # every other client's write is still seen.
    server = servers.start_server(["--tracking-table-max-keys", "1"])
    extra_servers.append(server)
    backend = cached(server.url(), prefix="table")
    names = [f"k{n}" for n in range(50)]
    for number, name in enumerate(names):
        _warm(backend, name, number)
    tier = tier_of(backend)
    hits = tier.hits
    assert [backend.get(name) for name in names] == list(range(50))
    assert tier.hits == hits + 50, "every entry is still held"
    with server.client() as raw:
        assert raw.config_get("tracking-table-max-keys") == {"tracking-table-max-keys": "1"}
        for number, name in enumerate(names):
            raw.set(_redis_key(backend, name), str(number + 100).encode())
    for number, name in enumerate(names):
        fresh = number + 100
        wait_until(lambda n=name, v=fresh: backend.get(n) == v, f"the write of {name} seen")


def test_the_same_name_in_another_database_stays_apart(
    cache: RedisCache, redis_server: servers.Server
) -> None:
    key = _redis_key(cache, "k")
    _warm(cache, "k", 1)
    invalidations = tier_of(cache).invalidations
    ours = int(urlsplit(redis_server.url()).path.strip("/") or 0)
    other = redis_server.client(db=(ours + 1) % 16)
    try:
        other.set(key, b"99")
        # Invalidations name keys, not databases: ours is dropped, and read again right.
        wait_until(
            lambda: cache.get("k") == 1 and tier_of(cache).invalidations > invalidations,
            "the invalidation, and our own value read again",
        )
    finally:
        other.delete(key)
        other.close()


def test_server_side_expiry_ends_the_entry(cache: RedisCache) -> None:
    cache.set("short", "v", timeout=0.3)
    assert cache.get("short") == "v" and cache.get("short") == "v"
    time.sleep(0.35)  # past the key's expiry on the server: its PTTL bounds the entry
    assert cache.get("short") is None


def test_the_local_ttl_bounds_every_entry(
    redis_server: servers.Server, flushed_redis: redis.Redis
) -> None:
    backend = cached(redis_server.url(), prefix="ttl", CLIENT_CACHE={"TTL": 0.05})
    backend.set("k", 1)
    assert backend.get("k") == 1
    misses = tier_of(backend).misses
    time.sleep(0.06)
    assert backend.get("k") == 1
    assert tier_of(backend).misses == misses + 1  # read again from the server


# our own writes ----------------------------------------------------------------------


WRITES: list[tuple[str, Any, Any]] = [
    ("set", lambda c: c.set("k", 2), 2),
    ("add over an expired", lambda c: (c.delete("k"), c.add("k", 3)), 3),
    ("delete", lambda c: c.delete("k"), None),
    ("incr", lambda c: c.incr("k"), 2),
    ("decr", lambda c: c.decr("k"), 0),
    ("set_many", lambda c: c.set_many({"k": 7}), 7),
    ("delete_many", lambda c: c.delete_many(["k"]), None),
    ("delete_pattern", lambda c: c.delete_pattern("k*"), None),
    ("clear", lambda c: c.clear(), None),
    ("expire", lambda c: c.expire("k", 0), None),
    ("touch to expired", lambda c: c.touch("k", -1), None),
]


@pytest.mark.parametrize(("name", "write", "expected"), WRITES, ids=[w[0] for w in WRITES])
def test_a_read_after_our_own_write_sees_it(
    cache: RedisCache, name: str, write: Any, expected: Any
) -> None:
    _warm(cache, "k", 1)
    write(cache)
    assert cache.get("k") == expected  # at once: no waiting for an invalidation


@pytest.mark.parametrize(("name", "write", "expected"), WRITES, ids=[w[0] for w in WRITES])
def test_an_async_read_after_our_own_async_write_sees_it(
    cache: RedisCache, name: str, write: Any, expected: Any
) -> None:
    async def scenario() -> Any:
        await cache.aset("k", 1, timeout=300)
        assert await cache.aget("k") == 1 and await cache.aget("k") == 1
        await asyncio.to_thread(write, cache)  # the same write, from another thread
        return await cache.aget("k")

    assert asyncio.run(scenario()) == expected


def test_persist_and_ttl_changes_are_seen(cache: RedisCache) -> None:
    key = _redis_key(cache, "k")
    cache.set("k", 1, timeout=300)
    assert cache.get("k") == 1 and cache.get("k") == 1
    assert tier_of(cache)._entries[key][1] is not None  # held with the key's expiry
    assert cache.persist("k")
    assert key not in tier_of(cache)._entries  # dropped by our own PERSIST
    assert cache.get("k") == 1
    assert tier_of(cache)._entries[key][1] is None  # read again: no expiry now
    assert cache.expire("k", 300)
    assert cache.get("k") == 1 and tier_of(cache)._entries[key][1] is not None


# reads in flight ----------------------------------------------------------------------


def _arrived(cache: RedisCache) -> bool:
    """Whether something waits on a tracking socket (without reading it)."""
    tier = tier_of(cache)
    return tier._arrived()


def test_a_reply_read_before_an_invalidation_arrives_is_not_kept(
    cache: RedisCache, raw_redis: redis.Redis
) -> None:
    key = _redis_key(cache, "k")
    cache.set("k", 1)
    tier = tier_of(cache)
    ticket = tier.begin_read([key], cache.client.serving_nodes())
    assert ticket is not None
    stale = raw_redis.get(key)  # what the server answered our read with
    sent_at = time.monotonic()
    raw_redis.set(key, b"2")  # another client writes while the reply is on its way
    wait_until(lambda: _arrived(cache), "the invalidation on the tracking socket")
    tier.end_read([key], ticket, {key: (stale, -1)}, sent_at)
    assert tier.stats()["entries"] == 0
    assert cache.get("k") == 2


def test_a_reply_that_races_our_own_write_is_not_kept(
    cache: RedisCache, raw_redis: redis.Redis
) -> None:
    key = _redis_key(cache, "k")
    cache.set("k", 1)
    tier = tier_of(cache)
    ticket = tier.begin_read([key], cache.client.serving_nodes())
    assert ticket is not None
    stale = raw_redis.get(key)  # the read's reply: the old value
    cache.set("k", 2)  # our own write, finished before the read's reply is handled
    tier.end_read([key], ticket, {key: (stale, -1)}, time.monotonic())
    assert cache.get("k") == 2


@pytest.mark.parametrize("older_sent_first", [True, False])
def test_an_older_reply_never_replaces_what_a_reader_has_seen(
    cache: RedisCache, raw_redis: redis.Redis, older_sent_first: bool
) -> None:
    """Two reads of a key in flight; the one answered second carries the older value.

    (It ran on the server before another client's write, whose invalidation has
    not arrived yet; the other read ran after it.) Whichever was sent first, the
    value already handed out must not be replaced by the older one.
    """
    key = _redis_key(cache, "k")
    raw_redis.set(key, b"24")
    tier = tier_of(cache)
    nodes = cache.client.serving_nodes()
    first = tier.begin_read([key], nodes)
    second = tier.begin_read([key], nodes)
    assert first is not None and second is not None
    older, newer = (first, second) if older_sent_first else (second, first)
    now = time.monotonic()
    tier.end_read([key], newer, {key: (b"24", -1)}, now)  # handed out: 24
    tier.end_read([key], older, {key: (b"23", -1)}, now)
    assert cache.get("k") == 24


def test_a_flush_while_a_read_is_in_flight_keeps_nothing_of_it(cache: RedisCache) -> None:
    key = _redis_key(cache, "k")
    cache.set("k", 1)
    tier = tier_of(cache)
    ticket = tier.begin_read([key], cache.client.serving_nodes())
    assert ticket is not None
    tier.clear()
    tier.end_read([key], ticket, {key: (b"1", -1)}, time.monotonic())
    assert tier.stats()["entries"] == 0


def test_a_cancelled_async_read_leaves_nothing_in_flight(
    redis_server: servers.Server, flushed_redis: redis.Redis
) -> None:
    proxy = StallingProxy((redis_server.host, redis_server.port))  # no reply before the cancel
    database = urlsplit(redis_server.url()).path
    backend = cached(f"redis://127.0.0.1:{proxy.port}{database}", prefix="cancel")

    async def scenario() -> None:
        await backend.aset("k", 1)
        assert await backend.aget("k") == 1  # the connection and the tracker are up
        await backend.aset("k", 1)
        proxy.stall()
        task = asyncio.ensure_future(backend.aget("k"))
        await asyncio.sleep(0)
        assert tier_of(backend)._in_flight != {}  # its read is registered
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        proxy.resume()
        assert await backend.aget("k") == 1

    try:
        asyncio.run(scenario())
    finally:
        proxy.close()
    assert tier_of(backend)._in_flight == {}


# connections lost -------------------------------------------------------------------


def test_a_killed_tracking_connection_flushes_and_tracking_resumes(
    cache: RedisCache, redis_server: servers.Server, raw_redis: redis.Redis
) -> None:
    key = _redis_key(cache, "k")
    _warm(cache, "k", 1)
    tier = tier_of(cache)
    flushes = tier.flushes
    (tracker,) = tracking_clients(redis_server, tier)
    raw_redis.client_kill_filter(_id=tracker["id"])
    raw_redis.set(key, b"2")  # nobody tells us: the connection that would is gone
    # The hang-up reaches us; from then on nothing of before is served.
    wait_until(lambda: cache.get("k") == 2, "the fresh value after the tracker was killed")
    assert tier.flushes > flushes
    assert cache.get("k") == 2  # kept again, under a new tracking connection
    assert len(tracking_clients(redis_server, tier)) == 1  # a new one
    raw_redis.set(key, b"3")
    wait_until(lambda: cache.get("k") == 3, "invalidations through the new tracker")


def test_killed_data_connections_lose_nothing(
    cache: RedisCache, redis_server: servers.Server, raw_redis: redis.Redis
) -> None:
    key = _redis_key(cache, "k")
    _warm(cache, "k", 1)

    async def warm_async() -> None:
        assert await cache.aget("k") == 1

    asyncio.run(warm_async())
    own = str(raw_redis.client_id())
    for client in redis_server.client_list():
        if "t" not in client["flags"] and client["id"] != own:
            raw_redis.client_kill_filter(_id=client["id"])
    assert cache.get("k") == 1  # still exact: the promise lives on the tracker
    raw_redis.set(key, b"5")
    wait_until(lambda: cache.get("k") == 5, "a write after the data connections were killed")


def test_a_forked_child_starts_empty(cache: RedisCache) -> None:
    _warm(cache, "k", 1)

    def child() -> str:
        tier = tier_of(cache)
        empty = tier.stats()["entries"] == 0 and tier.stats()["tracking_connections"] == 0
        fresh = cache.get("k") == 1 and cache.get("k") == 1
        return "ok" if empty and fresh else f"entries or reads wrong: {tier.stats()}"

    verdict = answer_from_a_child(child)
    assert verdict == "ok"
    assert cache.get("k") == 1 and tier_of(cache).stats()["entries"] == 1


# bounds -------------------------------------------------------------------------------


def test_the_entry_bound_holds(redis_server: servers.Server, flushed_redis: redis.Redis) -> None:
    backend = cached(redis_server.url(), prefix="bound", CLIENT_CACHE={"MAX_ENTRIES": 5})
    backend.set_many({f"k{n}": n for n in range(12)})
    for n in range(12):
        assert backend.get(f"k{n}") == n
    stats = tier_of(backend).stats()
    assert stats["entries"] == 5 and stats["evictions"] >= 7
    assert backend.get("k11") == 11 and tier_of(backend).hits >= 1  # the newest stayed


def test_the_byte_bound_holds(redis_server: servers.Server, flushed_redis: redis.Redis) -> None:
    backend = cached(redis_server.url(), prefix="bytes", CLIENT_CACHE={"MAX_BYTES": 4000})
    for n in range(10):
        backend.set(f"k{n}", "x" * 1000)
        assert backend.get(f"k{n}") == "x" * 1000
    backend.set("huge", "y" * 5000)
    assert backend.get("huge") == "y" * 5000  # too big to keep: served, never stored
    stats = tier_of(backend).stats()
    assert 0 < stats["bytes"] <= 4000 and stats["entries"] <= 3


# sync and async side by side ------------------------------------------------------------


def test_async_hits_need_no_round_trip(cache: RedisCache, redis_server: servers.Server) -> None:
    cache.set("k", [1])

    def gets() -> int:
        return int(redis_server.info("commandstats")["cmdstat_get"]["calls"])

    async def scenario() -> None:
        assert await cache.aget("k") == [1]
        before = gets()
        for _ in range(50):
            assert await cache.aget("k") == [1]
        assert gets() == before

    asyncio.run(scenario())


CODECS: list[dict[str, Any]] = [
    {"SERIALIZER": "django_async_redis.serializers.json.JSONSerializer"},
    {"SERIALIZER": "django_async_redis.serializers.msgpack.MSGPackSerializer"},
    {"COMPRESSOR": "django_async_redis.compressors.zlib.ZlibCompressor", "COMPRESS_MIN_LENGTH": 1},
    {"SIGNING": {"KEY": "s3cret"}},
    {"HERD": True},
    {"METRICS": True, "TRACING": True},
]


@pytest.mark.parametrize("options", CODECS, ids=[next(iter(o)) for o in CODECS])
def test_every_codec_the_signer_and_the_herd(
    redis_server: servers.Server, flushed_redis: redis.Redis, options: dict[str, Any]
) -> None:
    backend = cached(redis_server.url(), **options)
    other = RedisCache(redis_server.url(), {"KEY_PREFIX": "cc", "OPTIONS": options})
    value = {"text": "v" * 50, "n": [1, 2]}
    backend.set("k", value, timeout=300)
    assert backend.get("k") == value and backend.get("k") == value
    assert tier_of(backend).hits >= 1
    other.set("k", {"text": "new"}, timeout=300)
    wait_until(lambda: backend.get("k") == {"text": "new"}, "the other writer's value")

    async def scenario() -> None:
        assert await backend.aget("k") == {"text": "new"}

    asyncio.run(scenario())


def test_tasks_reading_one_key_at_once_share_one_round_trip(
    cache: RedisCache, redis_server: servers.Server
) -> None:
    cache.set("hot", {"n": [1]})

    def gets() -> int:
        return int(redis_server.info("commandstats")["cmdstat_get"]["calls"])

    async def scenario() -> None:
        before = gets()
        # All fifty start before any reply can arrive: one reads, the others join it.
        values = await asyncio.gather(*(cache.aget("hot") for _ in range(50)))
        assert gets() == before + 1
        assert all(value == {"n": [1]} for value in values)
        values[0]["n"].append(2)  # each caller decoded its own copy
        assert values[1] == {"n": [1]}

    asyncio.run(scenario())


def test_when_the_shared_read_is_cancelled_the_others_read_on_their_own(
    redis_server: servers.Server, flushed_redis: redis.Redis
) -> None:
    # Through a proxy that holds every byte while stalled: no reply can arrive
    # before the cancel, whatever the event loop does between steps.
    proxy = StallingProxy((redis_server.host, redis_server.port))
    database = urlsplit(redis_server.url()).path
    backend = cached(f"redis://127.0.0.1:{proxy.port}{database}", prefix="flight")

    def gets() -> int:
        return int(redis_server.info("commandstats")["cmdstat_get"]["calls"])

    async def scenario() -> None:
        await backend.aset("hot", 5)
        assert await backend.aget("hot") == 5  # the connection and the tracker are up
        await backend.aset("hot", 5)  # and the entry is gone again
        before = gets()
        proxy.stall()
        leader = asyncio.ensure_future(backend.aget("hot"))
        await asyncio.sleep(0)  # the leader's GET is on its way
        joiners = [asyncio.ensure_future(backend.aget("hot")) for _ in range(5)]
        await asyncio.sleep(0)  # they have joined it
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        await asyncio.sleep(0)  # the first joiner reads again, the others join that read
        proxy.resume()
        assert await asyncio.gather(*joiners) == [5] * 5
        # The cancelled read's GET, then one more.
        assert gets() == before + 2

    try:
        asyncio.run(scenario())
    finally:
        proxy.close()
    assert tier_of(backend).flights == {}


def test_readers_never_go_back_once_a_write_is_seen(
    cache: RedisCache, raw_redis: redis.Redis
) -> None:
    """Another client raises a version under each key; threads and tasks read along.

    Once any reader of the process has seen a version (so the write was acknowledged
    and, if the key was held, its invalidation applied), a read that starts after it
    returns that version or a later one. The window from a write's acknowledgement
    to its first sighting is printed, not asserted.
    """
    import statistics
    import threading

    names = [f"v{n}" for n in range(8)]
    keys = [_redis_key(cache, name) for name in names]
    cache.set_many(dict.fromkeys(names, 0), timeout=300)
    floor = dict.fromkeys(names, 0)
    acknowledged: dict[tuple[str, int], float] = {}
    seen_first: dict[tuple[str, int], float] = {}
    regressions: list[tuple[str, int, int]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def check(name: str, before: int, seen: Any) -> None:
        if seen < before:
            regressions.append((name, seen, before))
        if seen > floor[name]:
            floor[name] = seen
        seen_first.setdefault((name, seen), time.perf_counter())

    def write() -> None:
        try:
            for version in range(1, 301):
                for name, key in zip(names, keys, strict=True):
                    raw_redis.set(key, str(version).encode())
                    acknowledged[(name, version)] = time.perf_counter()
                # Each round waits until the readers have seen it: a bounded, load-paced run.
                wait_until(lambda v=version: min(floor.values()) >= v, f"version {version} seen")
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()

    def read_in_threads() -> None:
        try:
            while not done.is_set():
                for name in names:
                    before = floor[name]
                    check(name, before, cache.get(name))
        except BaseException as error:
            errors.append(error)

    def read_in_tasks() -> None:
        async def reader(offset: int) -> None:
            while not done.is_set():
                for name in names[offset:] + names[:offset]:
                    before = floor[name]
                    check(name, before, await cache.aget(name))
                await asyncio.sleep(0)

        async def main() -> None:
            readers = asyncio.gather(*(reader(n % len(names)) for n in range(20)))
            await asyncio.wait_for(readers, 120)

        try:
            asyncio.run(main())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write), threading.Thread(target=read_in_tasks)]
    threads += [threading.Thread(target=read_in_threads) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(150)
    assert errors == [] and regressions == []
    windows = sorted(
        (seen_first[pair] - at) * 1e6 for pair, at in acknowledged.items() if pair in seen_first
    )
    assert len(windows) == len(acknowledged) == 300 * len(names)
    print(
        f"\nacknowledged write -> first reader to see it: p50 {statistics.median(windows):.0f} µs,"
        f" p99 {windows[int(len(windows) * 0.99)]:.0f} µs; {tier_of(cache).stats()}"
    )


def test_a_key_the_server_evicts_is_dropped(extra_servers: list[servers.Server]) -> None:
    server = servers.start_server(["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"])
    extra_servers.append(server)
    backend = cached(server.url(), prefix="evict")
    key = _redis_key(backend, "k")
    backend.set("k", "v" * 100)
    assert backend.get("k") == "v" * 100 and backend.get("k") == "v" * 100
    with server.client() as raw:
        filler = 0
        while raw.exists(key):  # other keys (not under the prefix) push ours out
            raw.set(f"filler:{filler}", b"x" * 10_000)
            filler += 1
            assert filler < 10_000, "the server never evicted the key"
    wait_until(lambda: backend.get("k") is None, "the eviction's invalidation")


def test_a_restarted_server_leaves_nothing_stale(extra_servers: list[servers.Server]) -> None:
    server = servers.start_server()
    extra_servers.append(server)
    backend = cached(server.url(), prefix="restart")
    backend.set("k", 1)
    assert backend.get("k") == 1 and backend.get("k") == 1
    port = server.port
    server.stop()
    again = servers.start_server(port=port)
    extra_servers.append(again)
    with again.client() as raw:
        raw.set(_redis_key(backend, "k"), b"2")  # the new process never heard of our entry
    wait_until(lambda: _answers(backend, "k") == 2, "the value after the restart")
    assert tier_of(backend).flushes >= 1


def _answers(backend: RedisCache, name: str) -> Any:
    try:
        return backend.get(name)
    except (redis.ConnectionError, redis.TimeoutError):
        return None


def test_a_read_in_flight_is_never_evicted(
    redis_server: servers.Server, flushed_redis: redis.Redis
) -> None:
    backend = cached(redis_server.url(), prefix="inflight", CLIENT_CACHE={"MAX_ENTRIES": 2})
    backend.set_many({f"k{n}": n for n in range(6)})
    tier = tier_of(backend)
    key = _redis_key(backend, "k0")
    ticket = tier.begin_read([key], backend.client.serving_nodes())
    assert ticket is not None
    for n in range(1, 6):  # the bound evicts entries meanwhile, over and over
        assert backend.get(f"k{n}") == n
    assert tier.evictions >= 3
    tier.end_read([key], ticket, {key: (b"0", -1)}, time.monotonic())
    hits = tier.hits
    assert backend.get("k0") == 0 and tier.hits == hits + 1  # its reply was kept
    assert tier.stats()["entries"] <= 2
