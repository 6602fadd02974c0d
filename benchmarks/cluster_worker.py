"""One cluster contender, one subprocess: ``python -m benchmarks.cluster_worker NAME JSON``.

JSON holds the cluster's seed URLs (``seeds``), the URLs of its primaries
(``primaries``, to count the commands they processed), the workloads'
``budgets`` and ``concurrency``. The protocol is that of ``benchmarks.worker
serve``: ``BENCH-READY {json}`` once the contender is set up and its data
written, then one ``BENCH-RESULT {json}`` per workload name read on stdin
(``exit`` ends it). All async workloads share one event loop for the life of
the process. A contender that cannot be set up prints ``BENCH-RESULT
{"unavailable": reason}`` and exits.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import sys
import traceback
from collections.abc import Callable
from typing import Any

from benchmarks import workloads as w
from benchmarks.cluster_backends import BY_NAME, ClusterContender
from benchmarks.worker import HANG_LIMIT, WATCHDOG, _reason, emit

GET_MANY = 20  # keys per get_many: spread over the slots, so over every primary
SYNC_WORKLOADS = ("get", "get_many")
ASYNC_WORKLOADS = ("aget", "concurrent", "aget_many")
RAW_PREFIX = "dar-bench-rawcluster:"


class CommandCounter:
    """Commands the primaries processed, summed, read with clients of our own."""

    def __init__(self, primaries: list[str]) -> None:
        import redis

        self.clients = [redis.Redis.from_url(url) for url in primaries]

    def __call__(self) -> int:
        return sum(int(c.info("stats")["total_commands_processed"]) for c in self.clients)


def setup_django(contender: ClusterContender, seeds: list[str]) -> Any:
    from django.conf import settings

    settings.configure(
        CACHES={"default": contender.cache_settings(seeds)},
        USE_TZ=True,
        SECRET_KEY="benchmarks",
        INSTALLED_APPS=[],
        LOGGING_CONFIG=None,
    )
    import django

    django.setup()
    module, _, cls = contender.path.rpartition(".")
    __import__(module)  # a missing peer fails here, with its own message
    getattr(sys.modules[module], cls)
    from django.core.cache import caches

    return caches["default"]


def django_target(cache: Any) -> w.Target:
    """The cache's methods; an async method the backend lacks stays None."""
    names = ("get", "set", "get_many", "set_many", "aget", "aset", "aget_many", "aset_many")
    return w.Target(**{name: getattr(cache, name, None) for name in names})


def raw_sync_target(client: Any) -> w.Target:
    """redis.cluster.RedisCluster: GET/SET routed by slot, mget_nonatomic for many."""
    dumps, loads, proto, p = pickle.dumps, pickle.loads, pickle.HIGHEST_PROTOCOL, RAW_PREFIX

    def get(key: str) -> Any:
        raw = client.get(p + key)
        return None if raw is None else loads(raw)

    def set_(key: str, value: Any) -> Any:
        return client.set(p + key, dumps(value, proto), ex=300)

    def get_many(keys: list[str]) -> dict:
        raws = client.mget_nonatomic([p + k for k in keys])
        return {k: loads(r) for k, r in zip(keys, raws, strict=True) if r is not None}

    return w.Target(get=get, set=set_, get_many=get_many)


def raw_async_target(client: Any, target: w.Target) -> None:
    """redis.asyncio.cluster.RedisCluster, the same calls awaited."""
    dumps, loads, proto, p = pickle.dumps, pickle.loads, pickle.HIGHEST_PROTOCOL, RAW_PREFIX

    async def aget(key: str) -> Any:
        raw = await client.get(p + key)
        return None if raw is None else loads(raw)

    async def aset(key: str, value: Any) -> Any:
        return await client.set(p + key, dumps(value, proto), ex=300)

    async def aget_many(keys: list[str]) -> dict:
        raws = await client.mget_nonatomic([p + k for k in keys])
        return {k: loads(r) for k, r in zip(keys, raws, strict=True) if r is not None}

    target.aget, target.aset, target.aget_many = aget, aset, aget_many


def _slots_and_nodes(full_keys: list[bytes], seed: str) -> tuple[int, int]:
    """How many slots, and how many primaries, the get_many keys fall on."""
    import redis
    from redis.crc import key_slot

    slots = {key_slot(k) for k in full_keys}
    owners = set()
    for start, end, primary, *_ in redis.Redis.from_url(seed).execute_command("CLUSTER", "SLOTS"):
        if any(start <= s <= end for s in slots):
            owners.add(int(primary[1]))
    return len(slots), len(owners)


class Contender:
    """A set-up cluster contender and the workloads it can run."""

    def __init__(self, contender: ClusterContender, params: dict) -> None:
        self.contender = contender
        seeds: list[str] = params["seeds"]
        self.budgets = {k: w.Budget(**v) for k, v in params["budgets"].items()}
        self.concurrency = params.get("concurrency", 100)
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.count = CommandCounter(params["primaries"])
        self.keys = [w.key_for(i) for i in range(GET_MANY)]
        self.raw_async: Any = None
        if contender.kind == "django":
            cache = setup_django(contender, seeds)
            self.target = django_target(cache)
            full = [cache.make_key(k).encode() for k in self.keys]
        else:
            import redis.cluster

            nodes = [_cluster_node(redis.cluster.ClusterNode, url) for url in seeds]
            self.target = raw_sync_target(redis.cluster.RedisCluster(startup_nodes=nodes))
            self.loop.run_until_complete(self._raw_async(seeds))
            full = [(RAW_PREFIX + k).encode() for k in self.keys]
        self.slots, self.nodes = (
            _slots_and_nodes(full, seeds[0]) if contender.cluster else (None, 1)
        )

    async def _raw_async(self, seeds: list[str]) -> None:
        import redis.asyncio.cluster

        nodes = [_cluster_node(redis.asyncio.cluster.ClusterNode, url) for url in seeds]
        self.raw_async = redis.asyncio.cluster.RedisCluster(startup_nodes=nodes)
        raw_async_target(self.raw_async, self.target)

    def populate(self) -> None:
        """Every key the workloads read, written one by one (no multi-key
        command: one peer's cannot span slots), then read back."""
        t = self.target
        if t.set is not None:
            for i in range(w.N_KEYS):
                t.set(w.key_for(i), w.value_for(i))
            got = t.get(w.key_for(7)) if t.get is not None else None
            if not isinstance(got, dict) or got.get("id") != 7:
                raise AssertionError(f"get read back {str(got)[:80]!r}")
        if t.aset is not None:
            self.loop.run_until_complete(self._apopulate(t.set is None))

    async def _apopulate(self, write: bool) -> None:
        t = self.target
        assert t.aset is not None and t.aget is not None
        if write:
            for i in range(w.N_KEYS):
                await t.aset(w.key_for(i), w.value_for(i))
        got = await t.aget(w.key_for(7))
        if not isinstance(got, dict) or got.get("id") != 7:
            raise AssertionError(f"aget read back {str(got)[:80]!r}")

    def workload(self, name: str) -> tuple[Callable[[], dict], float] | None:
        """(a callable giving the result, its time budget), or None: not supported."""
        t, b, one, keys = self.target, self.budgets, w.key_for(3), self.keys
        needs = {"get": t.get, "get_many": t.get_many, "aget": t.aget}
        needs.update(concurrent=t.aget and t.aset, aget_many=t.aget_many)
        if needs[name] is None:
            return None
        run = self.loop.run_until_complete
        jobs: dict[str, Callable[[], dict]] = {
            "get": lambda: w.sequential(lambda: t.get(one), b["get"]),
            "get_many": lambda: w.sequential(lambda: t.get_many(keys), b["get_many"]),
            "aget": lambda: run(w.asequential(lambda: t.aget(one), b["aget"])),
            "concurrent": lambda: run(w.concurrent_mixed(t, self.concurrency, b["concurrent"])),
            "aget_many": lambda: run(w.asequential(lambda: t.aget_many(keys), b["aget_many"])),
        }
        budget = b[name]
        return jobs[name], budget.warmup + budget.duration

    def check_many(self) -> None:
        """A get_many that returns fewer keys than asked is wrong, not fast."""
        for fn in (self.target.get_many, self.target.aget_many):
            if fn is None:
                continue
            got = fn(self.keys)
            if asyncio.iscoroutine(got):
                got = self.loop.run_until_complete(got)
            if len(got) != GET_MANY:
                raise AssertionError(f"get_many returned {len(got)} of {GET_MANY} keys")

    def run(self, name: str) -> dict:
        job = self.workload(name)
        if job is None:
            return {"skipped": "n/a"}
        fn, limit = job
        WATCHDOG.arm(name, limit + HANG_LIMIT)
        try:
            if name in ("get_many", "aget_many"):
                self.check_many()
            before = self.count()
            result = fn()
            after = self.count()
            if result.get("total_ops"):  # minus the INFO of ``before``, one per primary
                spent = after - before - len(self.count.clients)
                result["server_commands_per_op"] = round(spent / result["total_ops"], 3)
            return result
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            return {"error": _reason(exc)}
        finally:
            WATCHDOG.disarm()


def _cluster_node(cls: Any, url: str) -> Any:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return cls(parts.hostname or "127.0.0.1", parts.port or 6379)


def serve(contender: ClusterContender, params: dict) -> None:
    WATCHDOG.arm("setup", HANG_LIMIT, fatal=True)
    try:
        running = Contender(contender, params)
        running.populate()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        emit("BENCH-RESULT", {"unavailable": _reason(exc)})
        return
    finally:
        WATCHDOG.disarm()
    emit("BENCH-READY", {"pid": os.getpid(), "slots": running.slots, "nodes": running.nodes})
    for line in sys.stdin:
        name = line.strip()
        if name == "exit" or not name:
            break
        emit("BENCH-RESULT", running.run(name))


def main() -> None:
    name, raw_params = sys.argv[1:3]
    serve(BY_NAME[name], json.loads(raw_params))


if __name__ == "__main__":
    main()
