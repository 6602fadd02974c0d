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
import sys
from typing import Any

from benchmarks import protocol
from benchmarks import workloads as w
from benchmarks.cluster_backends import BY_NAME, ClusterContender
from benchmarks.worker import ServerCounter, setup_django

GET_MANY = 20  # keys per get_many: spread over the slots, so over every primary
RAW_PREFIX = "dar-bench-rawcluster:"


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
        self.count = ServerCounter(params["primaries"])
        self.keys = [w.key_for(i) for i in range(GET_MANY)]
        self.raw_async: Any = None
        if contender.kind == "django":
            cache = setup_django(contender.cache_settings(seeds))
            self.target = w.django_target(cache)
            full = [cache.make_key(k).encode() for k in self.keys]
        else:
            import redis.cluster

            nodes = [_cluster_node(redis.cluster.ClusterNode, url) for url in seeds]
            client = redis.cluster.RedisCluster(startup_nodes=nodes)
            self.target = w.raw_sync_target(client, RAW_PREFIX, "mget_nonatomic")
            self.loop.run_until_complete(self._raw_async(seeds))
            full = [(RAW_PREFIX + k).encode() for k in self.keys]
        run = self.loop.run_until_complete
        self.jobs = w.jobs(self.target, self.budgets, run, self.concurrency, self.keys)
        self.slots, self.nodes = (
            _slots_and_nodes(full, seeds[0]) if contender.cluster else (None, 1)
        )

    async def _raw_async(self, seeds: list[str]) -> None:
        import redis.asyncio.cluster

        nodes = [_cluster_node(redis.asyncio.cluster.ClusterNode, url) for url in seeds]
        self.raw_async = redis.asyncio.cluster.RedisCluster(startup_nodes=nodes)
        w.raw_async_target(self.raw_async, self.target, RAW_PREFIX, "mget_nonatomic")

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

    def supported(self, name: str) -> bool:
        """Whether the contender has the methods the workload calls."""
        t = self.target
        needs = {"get": t.get, "get_many": t.get_many, "aget": t.aget}
        needs.update(concurrent=t.aget and t.aset, aget_many=t.aget_many)
        return needs[name] is not None

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
        if not self.supported(name):
            return {"skipped": "n/a"}
        check = self.check_many if name in ("get_many", "aget_many") else None
        limit = self.budgets[name].limit
        return protocol.measured(name, self.jobs[name], limit, self.count, self.count.reads, check)


def _cluster_node(cls: Any, url: str) -> Any:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return cls(parts.hostname or "127.0.0.1", parts.port or 6379)


def serve(contender: ClusterContender, params: dict) -> None:
    def setup() -> tuple[Contender, dict]:
        running = Contender(contender, params)
        running.populate()
        return running, {"pid": os.getpid(), "slots": running.slots, "nodes": running.nodes}

    protocol.serve(setup)


def main() -> None:
    name, raw_params = sys.argv[1:3]
    serve(BY_NAME[name], json.loads(raw_params))


if __name__ == "__main__":
    main()
