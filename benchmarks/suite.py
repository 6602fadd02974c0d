"""The main suite's run: every contender of a ``Plan`` against one server.

The micro workloads go through ``runner.Rounds`` (a kept worker per
contender, interleaved rounds); redis-benchmark runs right after the
contenders did its workload, in the same round. Then the end-to-end run and
the burst, which start a process of their own each time (``oneshot.py``), in
the same rotation. A contender on uvloop (``ours@uvloop``) is one more
contender of the same rounds, running the async workloads only.

The result is the raw data (every repetition); ``figures.add`` sums it up.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

from benchmarks import baseline as baselines
from benchmarks import oneshot, runner
from benchmarks import server as servers
from benchmarks.backends import Backend
from benchmarks.figures import RB_RUNS
from benchmarks.plan import WORKLOAD_ORDER, Plan, contenders, runs_workload
from benchmarks.procs import REPO, KeptWorker, Placement, worker_cmd
from benchmarks.runner import Rounds, Step, log, rotated

VERSIONS = ("Django", "redis", "hiredis", "uvicorn", "httptools", "uvloop")


def _meta(b: Backend) -> dict[str, Any]:
    return {
        "label": b.label,
        "base": b.base,
        "loop": b.loop,
        "kind": b.kind,
        "path": b.path,
        "version": runner.version(b.dist),
        "async": b.async_note,
        "has_sync": b.has_sync,
        "micro": b.micro,
        "e2e": b.e2e,
        "env": dict(b.env),
        "unavailable": None,
    }


def run(plan: Plan) -> dict:
    """The raw data of the run: meta, contenders, every repetition of each part."""
    started = time.time()
    backends = contenders(plan)  # a bad --baseline fails here, before the server starts
    server = servers.start()
    log(f"server: {server.version} at {server.url} ({server.binary or 'REDIS_URL'})")
    meta = runner.conditions(server.version, VERSIONS)
    meta.update(
        server_binary=server.binary or "REDIS_URL",
        load_generator="wrk" if shutil.which("wrk") else "python",
        redis_benchmark=oneshot.redis_benchmark_binary(),
        plan=plan.recorded(),
        loops=list(plan.loops),
    )
    data: dict[str, Any] = {
        "meta": meta,
        "backends": {b.name: _meta(b) for b in backends},
        "runs": {b.name: [] for b in backends if b.micro},
        "e2e_runs": {b.name: [] for b in backends if b.e2e},
        "redis_benchmark_runs": {key: [] for key, _ in RB_RUNS.values()},
        "burst": {},
    }
    if plan.baseline:
        meta["baseline"] = {"ref": plan.baseline, "sha": baselines.worktree(plan.baseline)[0]}

    def available(b: Backend) -> bool:
        return data["backends"][b.name]["unavailable"] is None

    rb = bool(oneshot.redis_benchmark_binary()) and (
        not plan.only or "redis-benchmark" in plan.only
    )
    if rb:
        oneshot.prepare_redis_benchmark_key(server)
    try:
        data["runs"].update(micro(plan, [b for b in backends if b.micro], server, data, rb))
        if plan.e2e_enabled:
            e2e = [b for b in backends if b.e2e]
            for rep in range(plan.e2e_reps):
                for b in rotated(e2e, rep):
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
    runner.finish(meta, started)
    return data


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


def micro(
    plan: Plan, backends: list[Backend], server: servers.Server, data: dict, rb: bool
) -> dict[str, list[dict]]:
    """The micro workloads' repetitions, per contender; redis-benchmark's go
    to ``data["redis_benchmark_runs"]``."""
    by_name = {b.name: b for b in backends}
    placement = Placement([server.pid()])
    data["meta"]["pinned_to_cpu"] = placement.cpu if placement.works else None
    params = {"budgets": plan.budgets(), "concurrency": plan.concurrency}

    def start(name: str) -> KeptWorker:
        b = by_name[name]
        return KeptWorker(worker_cmd(name, server.url, "serve", params), b.environ())

    def ready(name: str, worker: KeptWorker) -> None:
        b, meta = by_name[name], data["backends"][name]
        meta["core"] = core = worker.ready.get("core") or {}
        if not worker.unavailable and (problem := core_problem(b, core)):
            worker.unavailable = problem
            worker.close()
        if worker.unavailable:
            meta["unavailable"] = worker.unavailable
            log(f"{name}: unavailable: {worker.unavailable}")
        elif b.base == "ours" and core.get("compiled") is False:
            log(f"{name}: the compiled core is not built: it runs the pure-Python path")

    def redis_benchmark(rep: int, step: Step) -> None:
        if not rb or step.key not in RB_RUNS:
            return
        run_key, clients = RB_RUNS[step.key]
        requests = plan.rb_requests_c1 if clients == 1 else plan.rb_requests_c100
        where = placement if step.pinned else None
        result = oneshot.run_redis_benchmark(server, clients, requests, where)
        result["rep"] = rep
        data["redis_benchmark_runs"][run_key].append(result)

    rounds = Rounds(list(by_name), start, ready, placement)
    steps = [Step(*row) for row in WORKLOAD_ORDER]
    return rounds.run(
        steps,
        plan.reps,
        applies=lambda name, key: runs_workload(by_name[name], key),
        after=redis_benchmark,
    )


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
