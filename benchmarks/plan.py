"""Stage 1 of the pipeline: the plan, what a run of the main suite measures.

``python3 -m benchmarks`` goes plan -> run -> figures -> report: this module
says which contenders run (backends x event loops, ``--only``, ``--baseline``),
which workloads and in what order, how many rounds, and every size and time
budget. ``--quick`` is only a smaller plan (``Plan.quick``); nothing
downstream knows about it. The cluster run and the HTTP load test derive
their own plans from this one (``cluster.ClusterPlan``, ``http_load.HttpPlan``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks import baseline as baselines
from benchmarks.backends import BACKENDS, BASELINE, LOOPS, Backend, on_loop

# (result key, worker workload, pinned to one CPU with the server), in the
# order each round runs them.
WORKLOAD_ORDER = (
    ("get", "get", True),
    ("get_unpinned", "get", False),
    ("aget", "aget", True),
    ("aget_unpinned", "aget", False),
    ("concurrent", "concurrent", False),
    ("concurrent_proxy", "concurrent_proxy", False),
    ("get_many", "get_many", True),
    ("aget_many", "aget_many", True),
    ("set_many", "set_many", True),
    ("aset_many", "aset_many", True),
)
# What a contender on a loop other than asyncio runs (the sync ones run no loop).
ON_OTHER_LOOPS = {"aget", "concurrent", "concurrent_proxy", "aget_many", "aset_many"}
SEQUENTIAL = ("get", "aget", "get_many", "aget_many", "set_many", "aset_many")


@dataclass
class Plan:
    reps: int = 5
    e2e_reps: int = 3  # each end-to-end run costs ~6 s, and Django's overhead dominates it
    seq: tuple[float, float] = (0.1, 0.6)  # warm-up, duration (seconds)
    concurrent: tuple[float, float] = (0.2, 1.0)
    concurrency: int = 100
    e2e: tuple[float, float] = (1.0, 3.0)
    e2e_connections: int = 100
    burst_tasks: int = 2000
    burst_ops_per_task: int = 20
    burst_seconds: float = 4.0
    rb_requests_c100: int = 100_000
    rb_requests_c1: int = 12_000
    only: set[str] = field(default_factory=set)
    e2e_enabled: bool = True
    burst_enabled: bool = True
    loops: tuple[str, ...] = LOOPS
    baseline: str | None = None  # a git ref: the "ours-baseline" contender

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            reps=1,
            e2e_reps=1,
            seq=(0.1, 0.3),
            concurrent=(0.2, 0.5),
            e2e=(1.0, 2.0),
            burst_seconds=2.0,
            rb_requests_c100=30_000,
            rb_requests_c1=5_000,
        )

    @classmethod
    def of(
        cls,
        quick: bool = False,
        reps: int | None = None,
        only: set[str] | None = None,
        e2e: bool = True,
        burst: bool = True,
        loops: tuple[str, ...] = LOOPS,
        baseline: str | None = None,
    ) -> Plan:
        """The plan the command line asks for (``python3 -m benchmarks``'s options)."""
        plan = cls.quick() if quick else cls()
        if reps:
            plan.reps = reps
            # end to end: --reps only lowers its 3 repetitions (each costs ~6 s), but
            # a --quick run does what it is told
            plan.e2e_reps = reps if quick else min(plan.e2e_reps, reps)
        plan.only = set(only or ())
        plan.e2e_enabled, plan.burst_enabled = e2e, burst
        plan.loops, plan.baseline = loops, baseline
        return plan

    def budgets(self) -> dict[str, dict[str, Any]]:
        """Each worker workload's warm-up, duration and most operations."""
        seq = {"warmup": self.seq[0], "duration": self.seq[1], "max_ops": 200_000}
        concurrent = {
            "warmup": self.concurrent[0],
            "duration": self.concurrent[1],
            "max_ops": 2_000_000,
        }
        return {
            **dict.fromkeys(SEQUENTIAL, seq),
            "concurrent": concurrent,
            "concurrent_proxy": concurrent,
        }

    def recorded(self) -> dict[str, Any]:
        """The plan as latest.json keeps it (``only`` is in the contenders)."""
        return {k: v for k, v in self.__dict__.items() if k != "only"}


def contenders(plan: Plan) -> list[Backend]:
    """Every contender of the run: each backend on asyncio, then the ones that
    also run on each other loop. ``--only`` names backends (``ours``: on every
    loop) or one contender (``ours@uvloop``)."""
    base = list(BACKENDS)
    if plan.baseline:
        base.insert(2, baselines.backend(plan.baseline))  # after ours and ours-pure
    found = []
    for loop in plan.loops:
        for backend in base:
            variant = on_loop(backend, loop)
            if variant is None:
                continue
            if plan.only and not {variant.name, variant.base} & plan.only:
                continue
            if backend.name == BASELINE and plan.baseline is None:
                continue
            found.append(variant)
    return found


def runs_workload(backend: Backend, key: str) -> bool:
    """Whether ``backend`` runs the workload of result key ``key`` at all."""
    return backend.loop == "asyncio" or key in ON_OTHER_LOOPS
