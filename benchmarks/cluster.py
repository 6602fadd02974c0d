"""The Redis Cluster run: ``python3 -m benchmarks --cluster`` (or ``--cluster-only``).

The same pipeline as the single-server run, on a cluster of 3 primaries with
a replica each (``cluster_topology.py``) and a plain server beside it for the
reference row: a ``ClusterPlan`` (taken from the suite's ``Plan``: its
budgets, its ``--only``; 7 rounds unless ``--reps``), then ``runner.Rounds``
over one ``benchmarks.cluster_worker`` process per contender, set up once.
A round runs each workload across every contender back to back (the first
contender changes from round to round), so a slow moment of the machine
falls on all of them; ``cluster_report.py`` gives each contender's median
over the rounds with its spread, and "ours is Nx as fast" as the median (and
spread) of the ratios taken within each round.

The sequential workloads run with the client and every server process on one
CPU, as in the single-server run; the 100-task workload is placed by the OS.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks import runner
from benchmarks.cluster_backends import CONTENDERS, NO_CLUSTER, ClusterContender
from benchmarks.cluster_report import JSON_PATH, save_json, summarize, table
from benchmarks.cluster_topology import PRIMARIES, REPLICAS_PER_PRIMARY, Topology, start_cluster
from benchmarks.plan import Plan
from benchmarks.procs import KeptWorker, Placement, module_cmd
from benchmarks.runner import Rounds, Step

__all__ = ["JSON_PATH", "ClusterPlan", "run", "save_json", "table"]

ROUNDS = 7  # default number of rounds (--reps overrides it)
# The workloads of each round, in order (result key = worker workload).
STEPS = (
    Step("get", "get", True),
    Step("aget", "aget", True),
    Step("concurrent", "concurrent", False),
    Step("get_many", "get_many", True),
    Step("aget_many", "aget_many", True),
)
VERSIONS = ("Django", "redis", "hiredis", "valkey")


@dataclass
class ClusterPlan:
    """What the cluster run measures: its contenders, rounds and budgets."""

    rounds: int = ROUNDS
    budgets: dict[str, dict[str, Any]] = field(default_factory=dict)
    concurrency: int = 100
    contenders: list[ClusterContender] = field(default_factory=lambda: list(CONTENDERS))

    @classmethod
    def of(cls, plan: Plan, rounds: int | None = None) -> ClusterPlan:
        """The cluster run of the suite's plan: its budgets and ``--only``."""
        return cls(
            rounds=rounds or ROUNDS,
            budgets=plan.budgets(),
            concurrency=plan.concurrency,
            contenders=[c for c in CONTENDERS if not plan.only or c.name in plan.only],
        )


def _meta(c: ClusterContender) -> dict:
    return {
        "label": c.label,
        "path": c.path or "redis.cluster.RedisCluster / redis.asyncio.cluster.RedisCluster",
        "version": runner.version(c.dist),
        "note": c.note,
        "cluster": c.cluster,
    }


def run(plan: Plan, reps: int | None = None) -> dict:
    """The cluster run of ``plan``, its figures summed up (``cluster_report``)."""
    chosen = ClusterPlan.of(plan, reps)
    started = time.time()
    runner.log("cluster: starting 3 primaries + 3 replicas")
    topology = start_cluster()
    runner.log(f"cluster: {topology.version} at {', '.join(topology.seeds)}")
    meta = runner.conditions(topology.version, VERSIONS)
    meta.update(
        server_binary=topology.binary,
        topology=f"{PRIMARIES} primaries, {REPLICAS_PER_PRIMARY} replica each",
        reps=chosen.rounds,
        budgets=chosen.budgets,
        concurrency=chosen.concurrency,
    )
    data: dict[str, Any] = {"meta": meta, "contenders": {}, "no_cluster": dict(NO_CLUSTER)}
    try:
        data["runs"] = _rounds(chosen, topology, data)
    finally:
        topology.stop()
    runner.finish(meta, started)
    data["summary"] = summarize(data)
    return data


def _rounds(plan: ClusterPlan, topology: Topology, data: dict) -> dict[str, list[dict]]:
    assert topology.single is not None
    by_name = {c.name: c for c in plan.contenders}
    placement = Placement(n.process.pid for n in topology.nodes)
    data["meta"]["pinned_to_cpu"] = placement.cpu if placement.works else None
    primaries = [n.url for n in topology.primaries]
    single = [topology.single.url + "/0"]

    def start(name: str) -> KeptWorker:
        c = by_name[name]
        where = {"seeds": topology.seeds, "primaries": primaries} if c.cluster else {
            "seeds": single, "primaries": single
        }  # fmt: skip
        params = {**where, "budgets": plan.budgets, "concurrency": plan.concurrency}
        return KeptWorker(module_cmd("benchmarks.cluster_worker", name, json.dumps(params)))

    def ready(name: str, worker: KeptWorker) -> None:
        meta = data["contenders"].setdefault(name, _meta(by_name[name]))
        meta["unavailable"] = worker.unavailable
        meta["get_many_slots"] = worker.ready.get("slots")
        meta["get_many_nodes"] = worker.ready.get("nodes")
        if worker.unavailable:
            runner.log(f"cluster: {by_name[name].label}: unavailable: {worker.unavailable}")

    rounds = Rounds(list(by_name), start, ready, placement, prefix="cluster")
    return rounds.run(STEPS, plan.rounds)
