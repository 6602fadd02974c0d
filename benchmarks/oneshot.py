"""The runs that start a process of their own each time.

The 2,000-task burst (a ``benchmarks.worker burst`` process, its Redis
connections counted from outside, ``connections.py``), the end-to-end run (uvicorn serving
``benchmarks.e2e_app``, on asyncio's loop or uvloop's, driven by wrk or
``benchmarks.loadgen``) and redis-benchmark.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from importlib.util import find_spec
from urllib.parse import urlsplit

from benchmarks import loadgen
from benchmarks import server as servers
from benchmarks.backends import Backend
from benchmarks.connections import ConnectionCounter
from benchmarks.plan import Plan
from benchmarks.procs import REPO, Placement, run_once, stop, worker_cmd
from benchmarks.protocol import EVENT, tail


def run_burst(backend: Backend, server: servers.Server, plan: Plan) -> dict:
    if find_spec("psutil") is None:
        return {"unavailable": "psutil is not installed (it comes with the bench extra)"}
    params = {
        "tasks": plan.burst_tasks,
        "ops_per_task": plan.burst_ops_per_task,
        "seconds": plan.burst_seconds,
    }
    import redis

    client = redis.Redis(host=server.host, port=server.port, password=server.password)
    counters: list[ConnectionCounter] = []

    def started(proc: subprocess.Popen) -> None:
        # Every 2 ms, one process: the burst's peak lasts a moment.
        counters.append(
            ConnectionCounter(
                proc.pid,
                server.port,
                0.002,
                children=False,
                established=False,
                listing=client.client_list,
            )
        )
        counters[0].start()

    def line(text: str) -> None:
        if text.startswith(EVENT) and '"done"' in text:  # stop counting with the tasks
            counters[0].stop_event.set()

    cmd = worker_cmd(backend.name, server.url, "burst", params)
    try:
        result = run_once(cmd, backend.environ(), started=started, line=line)
    finally:
        for counter in counters:
            counter.stop()
        client.close()
    if "unavailable" not in result:
        counter = counters[0]
        result["max_connections"] = counter.listed
        result["max_sockets"] = counter.per_process
        result["samples"] = counter.samples
    return result


# --- end to end: uvicorn + wrk --------------------------------------------------


def run_e2e(backend: Backend, server: servers.Server, plan: Plan) -> dict:
    port = servers.free_port()
    env = {**backend.environ(), "BENCH_CACHE": json.dumps(backend.cache_settings(server.url))}
    http = "httptools" if find_spec("httptools") else "h11"
    cmd = [
        sys.executable, "-m", "uvicorn", "benchmarks.e2e_app:application",
        "--host", "127.0.0.1", "--port", str(port), "--loop", backend.loop, "--http", http,
        "--no-access-log", "--log-level", "warning", "--lifespan", "off",
    ]  # fmt: skip
    with tempfile.TemporaryFile(mode="w+") as errfile:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=errfile)
        try:
            result = _drive(f"http://127.0.0.1:{port}/", proc, plan)
        except Exception as exc:
            result = {"unavailable": f"{type(exc).__name__}: {exc}"}
        finally:
            stop(proc)
        if "unavailable" in result:
            errfile.seek(0)
            result["unavailable"] = f"{result['unavailable']} {tail(errfile.read())}"[:300]
    result["http"], result["loop"] = http, backend.loop
    return result


def _drive(url: str, proc: subprocess.Popen, plan: Plan) -> dict:
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            return {"unavailable": "uvicorn exited:"}
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    break
        except OSError as exc:
            if time.monotonic() > deadline:
                return {"unavailable": f"no answer from the app: {exc}"}
            time.sleep(0.1)
    loadgen.run(url, plan.e2e_connections, plan.e2e[0])  # warm-up
    result = loadgen.run(url, plan.e2e_connections, plan.e2e[1])
    if result["errors"] > 0.01 * (result["requests"] or 1):
        result["failed"] = f"{result['errors']} of {result['requests']} requests failed"
    return result


# --- redis-benchmark ----------------------------------------------------------


def redis_benchmark_binary() -> str | None:
    return shutil.which("redis-benchmark") or shutil.which("valkey-benchmark")


def run_redis_benchmark(
    server: servers.Server, clients: int, requests: int, placement: Placement | None = None
) -> dict:
    import csv

    binary = redis_benchmark_binary()
    db = (urlsplit(server.url).path or "/0").strip("/") or "0"
    cmd = [
        binary, "-h", server.host, "-p", str(server.port), "--dbnum", db,
        "-c", str(clients), "-n", str(requests), "-d", "1000", "-t", "get", "--csv",
    ]  # fmt: skip
    if server.password:
        cmd += ["-a", server.password]
    if placement is not None and placement.works:
        placement.pin(None)  # the server; redis-benchmark pins itself as it starts
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=120, preexec_fn=placement.preexec()
            )
        finally:
            placement.release(None)
    else:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    rows = [r for r in csv.reader(done.stdout.splitlines()) if r and r[0] == "GET"]
    if not rows:
        return {"unavailable": f"no result: {tail(done.stdout + done.stderr)}"}
    rps = float(rows[-1][1])
    return {"ops_per_s": rps, "us_per_op": 1e6 / rps, "requests": requests, "clients": clients}


def prepare_redis_benchmark_key(server: servers.Server) -> None:
    """redis-benchmark's GET reads the literal key ``key:__rand_int__`` (no -r)."""
    import redis

    redis.Redis.from_url(server.url).set("key:__rand_int__", b"x" * 1000)
