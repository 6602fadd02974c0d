"""Runs every contender, each in its own subprocess, against one server.

Repetitions are interleaved (rep 1 of every contender, then rep 2, ...) so a
slow minute of the machine does not land on one contender only. A contender
on uvloop (``ours@uvloop``) is one more contender of the same repetitions,
running the async workloads only: the sync ones run no event loop.

The worker processes are in ``procs.py``; the burst, the end-to-end run and
redis-benchmark, which start a process of their own each time, in
``oneshot.py``; the figures are summed up by ``figures.py``.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from benchmarks import baseline as baselines
from benchmarks import figures, oneshot
from benchmarks import server as servers
from benchmarks.backends import BACKENDS, BASELINE, LOOPS, Backend, on_loop
from benchmarks.figures import RB_RUNS
from benchmarks.procs import REPO, WORKER_TIMEOUT, ContenderProcess, Placement

__all__ = ["REPO", "WORKER_TIMEOUT", "ContenderProcess", "Placement", "Plan", "log", "run_all"]


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

    def budgets(self) -> dict:
        seq = {"warmup": self.seq[0], "duration": self.seq[1], "max_ops": 200_000}
        concurrent = {
            "warmup": self.concurrent[0],
            "duration": self.concurrent[1],
            "max_ops": 2_000_000,
        }
        return {
            **dict.fromkeys(("get", "aget", "get_many", "aget_many", "set_many", "aset_many"), seq),
            "concurrent": concurrent,
            "concurrent_proxy": concurrent,
        }


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _version(dist: str) -> str | None:
    if not dist:
        return None
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


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


def wait_idle(limit: float, threshold: float = 0.5) -> None:
    """Wait (at most ``limit`` seconds) for the 1-minute load average to drop."""
    deadline = time.monotonic() + limit
    while (load := os.getloadavg()[0]) >= threshold and time.monotonic() < deadline:
        log(f"waiting for an idle machine: load average {load:.2f}")
        time.sleep(10)


def run_all(plan: Plan) -> dict:
    started = time.time()
    backends = contenders(plan)  # a bad --baseline fails here, before the server starts
    server = servers.start()
    log(f"server: {server.version} at {server.url} ({server.binary or 'REDIS_URL'})")
    data: dict[str, Any] = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "server": server.version,
            "server_binary": server.binary or "REDIS_URL",
            "load_generator": "wrk" if shutil.which("wrk") else "python",
            "redis_benchmark": oneshot.redis_benchmark_binary(),
            "versions": {
                d: _version(d)
                for d in ("Django", "redis", "hiredis", "uvicorn", "httptools", "uvloop")
            },
            "plan": {k: v for k, v in plan.__dict__.items() if k != "only"},
            "loops": list(plan.loops),
            "load_average_at_start": os.getloadavg()[0],
        },
        "backends": {},
        "runs": {b.name: [] for b in backends if b.micro},
        "e2e_runs": {b.name: [] for b in backends if b.e2e},
        "redis_benchmark_runs": {key: [] for key, _ in RB_RUNS.values()},
        "burst": {},
    }
    for b in backends:
        data["backends"][b.name] = {
            "label": b.label,
            "base": b.base,
            "loop": b.loop,
            "kind": b.kind,
            "path": b.path,
            "version": _version(b.dist),
            "async": b.async_note,
            "has_sync": b.has_sync,
            "micro": b.micro,
            "e2e": b.e2e,
            "env": dict(b.env),
            "unavailable": None,
        }
    if plan.baseline:
        data["meta"]["baseline"] = {
            "ref": plan.baseline,
            "sha": baselines.worktree(plan.baseline)[0],
        }
    unavailable = data["backends"]

    def available(b: Backend) -> bool:
        return unavailable[b.name]["unavailable"] is None

    rb = bool(oneshot.redis_benchmark_binary()) and (
        not plan.only or "redis-benchmark" in plan.only
    )
    if rb:
        oneshot.prepare_redis_benchmark_key(server)
    try:
        micro_loop([b for b in backends if b.micro], server, plan, data, rb)
        if plan.e2e_enabled:
            e2e = [b for b in backends if b.e2e]
            for rep in range(plan.e2e_reps):
                for b in _rotated(e2e, rep):
                    if not available(b):
                        continue
                    result = oneshot.run_e2e(b, server, plan)
                    result["rep"] = rep
                    data["e2e_runs"][b.name].append(result)
                    log(f"e2e rep {rep + 1}: {b.name}: {_brief(result)}")
        if plan.burst_enabled:
            for b in backends:
                if not b.burst or not available(b):
                    continue
                result = oneshot.run_burst(b, server, plan)
                data["burst"][b.name] = result
                log(f"burst: {b.name}: {_brief(result)}")
    finally:
        server.stop()
        if server.process is None:  # REDIS_URL: leave the server as we found it
            _cleanup_keys(server)
    data["meta"]["seconds"] = round(time.time() - started, 1)
    data["meta"]["load_average_at_end"] = os.getloadavg()[0]
    data["summary"] = figures.summaries(data)
    data["median"] = figures.medians(data["summary"])
    data["ratios"] = figures.paired_ratios(data, list(plan.loops))
    return data


# (result key, worker workload, pinned to one CPU with the server)
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


def _rotated(items: list, rep: int) -> list:
    """A different contender goes first in each repetition."""
    shift = rep % len(items) if items else 0
    return items[shift:] + items[:shift]


def core_problem(b: Backend, core: dict) -> str | None:
    """Why the ``django_async_redis`` a worker imported is not the one meant."""
    where = core.get("file") or ""
    src = b.env.get("PYTHONPATH")
    if src and not where.startswith(src):
        return f"imported django_async_redis from {where}, not from {src}"
    if not src and core and not where.startswith(str(REPO / "src")):
        return f"imported django_async_redis from {where}, not from this checkout"
    if b.env.get("DJANGO_ASYNC_REDIS_NO_EXTENSIONS") and core.get("compiled"):
        return "the compiled core ran though DJANGO_ASYNC_REDIS_NO_EXTENSIONS was set"
    return None


def micro_loop(
    backends: list[Backend], server: servers.Server, plan: Plan, data: dict, rb: bool
) -> None:
    """Every contender's process stays up; each repetition runs each workload
    across all of them back to back, so drift of the machine hits all alike.

    A workload that hangs or crashes its worker is reported as an error and not
    tried again; the worker is restarted for the other workloads.
    """
    procs: dict[str, ContenderProcess] = {}
    broken: dict[tuple[str, str], dict] = {}
    placement = Placement(server)
    data["meta"]["pinned_to_cpu"] = placement.cpu if placement.works else None
    params = {"budgets": plan.budgets(), "concurrency": plan.concurrency}

    def start(b: Backend) -> None:
        procs[b.name] = ContenderProcess(b, server.url, params)

    def ready(b: Backend) -> None:
        proc = procs[b.name]
        proc.wait_ready()
        meta = data["backends"][b.name]
        meta["core"] = core = proc.ready.get("core") or {}
        if not proc.unavailable and (problem := core_problem(b, core)):
            proc.unavailable = problem
            proc.close()
        if proc.unavailable:
            meta["unavailable"] = proc.unavailable
            log(f"{b.name}: unavailable: {proc.unavailable}")
        elif b.base == "ours" and core.get("compiled") is False:
            log(f"{b.name}: the compiled core is not built: it runs the pure-Python path")

    try:
        for b in backends:  # all start together, then each is waited for
            start(b)
        for b in backends:
            ready(b)
        for rep in range(plan.reps):
            t0 = time.monotonic()
            reps: dict[str, dict] = {b.name: {"rep": rep} for b in backends}
            for key, workload, pinned in WORKLOAD_ORDER:
                for b in _rotated(backends, rep):
                    proc = procs[b.name]
                    if proc.unavailable or (b.loop != "asyncio" and key not in ON_OTHER_LOOPS):
                        continue
                    if (b.name, workload) in broken:
                        reps[b.name][key] = broken[(b.name, workload)]
                        continue
                    if pinned:
                        placement.pin(proc.proc.pid)
                    try:
                        result = proc.run(workload)
                    finally:
                        if pinned:
                            placement.release(proc.proc.pid)
                    reps[b.name][key] = result
                    if proc.dead:
                        broken[(b.name, workload)] = result
                        log(f"{b.name}: {workload}: {result.get('error')}; restarting it")
                        proc.close()
                        start(b)
                        ready(b)
                if rb and key in RB_RUNS:
                    run_key, clients = RB_RUNS[key]
                    requests = plan.rb_requests_c1 if clients == 1 else plan.rb_requests_c100
                    result = oneshot.run_redis_benchmark(
                        server, clients, requests, placement if pinned else None
                    )
                    result["rep"] = rep
                    data["redis_benchmark_runs"][run_key].append(result)
            for b in backends:
                if len(reps[b.name]) > 1:
                    data["runs"][b.name].append(reps[b.name])
            log(f"rep {rep + 1}/{plan.reps}: {time.monotonic() - t0:.0f} s")
    finally:
        for proc in procs.values():
            proc.close()


def _brief(result: dict) -> str:
    if "unavailable" in result:
        return "unavailable: " + result["unavailable"]
    if result.get("failed"):
        return "failed: " + result["failed"]
    keys = ("req_per_s", "p99_ms", "ops_per_s", "max_connections", "errors")
    return ", ".join(
        f"{k}={result[k]:.1f}" if isinstance(result[k], float) else f"{k}={result[k]}"
        for k in keys
        if k in result
    )


def _cleanup_keys(server: servers.Server) -> None:
    import redis

    client = redis.Redis.from_url(server.url)
    for pattern in ("dar-bench-*", "*:dar-bench-*", "key:__rand_int__"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
