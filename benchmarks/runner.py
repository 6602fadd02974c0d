"""Runs every contender, each in its own subprocess, against one server.

Repetitions are interleaved (rep 1 of every contender, then rep 2, ...) so a
slow minute of the machine does not land on one contender only.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks import loadgen
from benchmarks import server as servers
from benchmarks.backends import BACKENDS, Backend

REPO = Path(__file__).resolve().parent.parent
WORKER_TIMEOUT = 120


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
        return {
            "get": seq,
            "aget": seq,
            "get_many": seq,
            "aget_many": seq,
            "set_many": seq,
            "aset_many": seq,
            "concurrent": {
                "warmup": self.concurrent[0],
                "duration": self.concurrent[1],
                "max_ops": 2_000_000,
            },
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


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])[:300]


# --- micro workloads and the burst: benchmarks.worker subprocesses -------------


def _worker_cmd(backend: Backend, url: str, mode: str, params: dict) -> list[str]:
    return [
        sys.executable, "-m", "benchmarks.worker", backend.name, url, mode, json.dumps(params)
    ]  # fmt: skip


def _parse_result(stdout: str, stderr: str, returncode: int) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith("BENCH-RESULT "):
            return json.loads(line[len("BENCH-RESULT ") :])
    return {"unavailable": f"worker exited {returncode}: {_tail(stderr)}"}


class ContenderProcess:
    """A ``benchmarks.worker serve`` subprocess: one contender, set up once,
    running one workload per request."""

    def __init__(self, backend: Backend, url: str, plan: Plan) -> None:
        self.backend = backend
        self.url, self.plan = url, plan
        self.unavailable: str | None = None
        self.dead = False
        params = {"budgets": plan.budgets(), "concurrency": plan.concurrency}
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            _worker_cmd(backend, url, "serve", params),
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.startswith(("BENCH-READY", "BENCH-RESULT")):
                self.lines.put(line)
        self.lines.put(None)

    def _next(self, timeout: float) -> tuple[str, dict]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.proc.kill()
            return "BENCH-RESULT", {"unavailable": f"no answer within {timeout:.0f} s"}
        if line is None:
            self.proc.wait()
            self.stderr.seek(0)
            reason = f"worker exited {self.proc.returncode}: {_tail(self.stderr.read())}"
            return "BENCH-RESULT", {"unavailable": reason}
        tag, _, payload = line.partition(" ")
        return tag, json.loads(payload)

    def wait_ready(self) -> None:
        tag, payload = self._next(WORKER_TIMEOUT)
        if tag != "BENCH-READY":
            self.unavailable = payload.get("unavailable", str(payload))

    def run(self, workload: str) -> dict:
        """The workload's result; ``{"error": ...}`` and ``self.dead`` when the
        worker hung (it reports that and exits), crashed or stopped answering."""
        try:
            self.proc.stdin.write(workload + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass  # it died: _next reads the EOF and says why
        _, result = self._next(WORKER_TIMEOUT)
        if "unavailable" in result:
            result = {"error": result["unavailable"]}
            self.dead = True
        elif str(result.get("error", "")).startswith("hung"):
            self.dead = True
        return result

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("exit\n")
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


class ConnectionWatcher(threading.Thread):
    """Polls CLIENT LIST from our own client, counting the connections whose
    peer port belongs to one process (its sockets are read with psutil)."""

    def __init__(self, pid: int, server: servers.Server) -> None:
        super().__init__(daemon=True)
        import psutil
        import redis

        self.process = psutil.Process(pid)
        # psutil < 6 calls it connections()
        self.sockets = getattr(self.process, "net_connections", None) or self.process.connections
        self.server = server
        self.client = redis.Redis(host=server.host, port=server.port, password=server.password)
        self.stop_event = threading.Event()
        self.max_clients = 0  # per CLIENT LIST
        self.max_sockets = 0  # per the process's own sockets
        self.samples = 0

    def run(self) -> None:
        import psutil

        while not self.stop_event.is_set():
            try:
                ports = {
                    c.laddr.port
                    for c in self.sockets(kind="tcp")
                    if c.raddr and c.raddr.port == self.server.port
                }
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                return
            if ports:
                listed = self.client.client_list()
                mine = sum(1 for c in listed if int(c["addr"].rsplit(":", 1)[1]) in ports)
                self.max_clients = max(self.max_clients, mine)
                self.max_sockets = max(self.max_sockets, len(ports))
                self.samples += 1
            time.sleep(0.002)


def run_burst(backend: Backend, server: servers.Server, plan: Plan) -> dict:
    if find_spec("psutil") is None:
        return {"unavailable": "psutil is not installed (it comes with the bench extra)"}
    params = {
        "tasks": plan.burst_tasks,
        "ops_per_task": plan.burst_ops_per_task,
        "seconds": plan.burst_seconds,
    }
    with tempfile.TemporaryFile(mode="w+") as errfile:
        proc = subprocess.Popen(
            _worker_cmd(backend, server.url, "burst", params),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=errfile,
            text=True,
        )
        watcher = ConnectionWatcher(proc.pid, server)
        watcher.start()
        lines: list[str] = []
        timer = threading.Timer(WORKER_TIMEOUT, proc.kill)
        timer.start()
        try:
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("BENCH-EVENT") and '"done"' in line:
                    watcher.stop_event.set()
            proc.wait()
        finally:
            timer.cancel()
            watcher.stop_event.set()
            watcher.join(5)
        errfile.seek(0)
        result = _parse_result("".join(lines), errfile.read(), proc.returncode)
    if "unavailable" not in result:
        result["max_connections"] = watcher.max_clients
        result["max_sockets"] = watcher.max_sockets
        result["samples"] = watcher.samples
    return result


# --- end to end: uvicorn + wrk ------------------------------------------------


def run_e2e(backend: Backend, server: servers.Server, plan: Plan) -> dict:
    port = servers.free_port()
    env = {**os.environ, "BENCH_CACHE": json.dumps(backend.cache_settings(server.url))}
    http = "httptools" if find_spec("httptools") else "h11"
    cmd = [
        sys.executable, "-m", "uvicorn", "benchmarks.e2e_app:application",
        "--host", "127.0.0.1", "--port", str(port), "--loop", "asyncio", "--http", http,
        "--no-access-log", "--log-level", "warning", "--lifespan", "off",
    ]  # fmt: skip
    with tempfile.TemporaryFile(mode="w+") as errfile:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=errfile)
        try:
            result = _drive(f"http://127.0.0.1:{port}/", proc, plan)
        except Exception as exc:
            result = {"unavailable": f"{type(exc).__name__}: {exc}"}
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if "unavailable" in result:
            errfile.seek(0)
            result["unavailable"] = f"{result['unavailable']} {_tail(errfile.read())}"[:300]
    result["http"] = http
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


RB_RUNS = {  # result key of the row it stands in: (its runs' key, clients)
    "get": ("c1", 1),
    "get_unpinned": ("c1_unpinned", 1),
    "concurrent": ("c100", 100),
}


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
        return {"unavailable": f"no result: {_tail(done.stdout + done.stderr)}"}
    rps = float(rows[-1][1])
    return {"ops_per_s": rps, "us_per_op": 1e6 / rps, "requests": requests, "clients": clients}


def prepare_redis_benchmark_key(server: servers.Server) -> None:
    """redis-benchmark's GET reads the literal key ``key:__rand_int__`` (no -r)."""
    import redis

    redis.Redis.from_url(server.url).set("key:__rand_int__", b"x" * 1000)


# --- the whole run ------------------------------------------------------------


def wait_idle(limit: float, threshold: float = 0.5) -> None:
    """Wait (at most ``limit`` seconds) for the 1-minute load average to drop."""
    deadline = time.monotonic() + limit
    while (load := os.getloadavg()[0]) >= threshold and time.monotonic() < deadline:
        log(f"waiting for an idle machine: load average {load:.2f}")
        time.sleep(10)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def run_all(plan: Plan) -> dict:
    started = time.time()
    server = servers.start()
    log(f"server: {server.version} at {server.url} ({server.binary or 'REDIS_URL'})")
    backends = [b for b in BACKENDS if not plan.only or b.name in plan.only]
    data: dict[str, Any] = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "server": server.version,
            "server_binary": server.binary or "REDIS_URL",
            "load_generator": "wrk" if shutil.which("wrk") else "python",
            "redis_benchmark": redis_benchmark_binary(),
            "versions": {
                d: _version(d) for d in ("Django", "redis", "hiredis", "uvicorn", "httptools")
            },
            "plan": {k: v for k, v in plan.__dict__.items() if k != "only"},
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
            "path": b.path,
            "version": _version(b.dist),
            "async": b.async_note,
            "has_sync": b.has_sync,
            "unavailable": None,
        }
    unavailable = data["backends"]

    def available(b: Backend) -> bool:
        return unavailable[b.name]["unavailable"] is None

    rb = bool(redis_benchmark_binary()) and (not plan.only or "redis-benchmark" in plan.only)
    if rb:
        prepare_redis_benchmark_key(server)
    try:
        micro_loop([b for b in backends if b.micro], server, plan, data, rb)
        if plan.e2e_enabled:
            for rep in range(plan.e2e_reps):
                for b in _rotated(backends, rep):
                    if not b.e2e or not available(b):
                        continue
                    result = run_e2e(b, server, plan)
                    result["rep"] = rep
                    data["e2e_runs"][b.name].append(result)
                    log(f"e2e rep {rep + 1}: {b.label}: {_brief(result)}")
        if plan.burst_enabled:
            for b in backends:
                if not b.burst or not available(b):
                    continue
                result = run_burst(b, server, plan)
                data["burst"][b.name] = result
                log(f"burst: {b.label}: {_brief(result)}")
    finally:
        server.stop()
        if server.process is None:  # REDIS_URL: leave the server as we found it
            _cleanup_keys(server)
    data["meta"]["seconds"] = round(time.time() - started, 1)
    data["meta"]["load_average_at_end"] = os.getloadavg()[0]
    data["median"] = medians(data)
    data["ratios"] = paired_ratios(data, "ours")
    return data


# (result key, worker workload, pinned to one CPU with the server)
WORKLOAD_ORDER = (
    ("get", "get", True),
    ("get_unpinned", "get", False),
    ("aget", "aget", True),
    ("aget_unpinned", "aget", False),
    ("concurrent", "concurrent", False),
    ("get_many", "get_many", True),
    ("aget_many", "aget_many", True),
    ("set_many", "set_many", True),
    ("aset_many", "aset_many", True),
)


class Placement:
    """Puts the server and one contender's process on a single CPU, and back.

    On a VM a round trip between two vCPUs costs a cross-CPU wake-up (tens of
    µs, and it comes and goes with the scheduler's placement); on one CPU the
    round trip costs what the client and the server spend, which is what the
    sequential workloads compare.
    """

    def __init__(self, server: servers.Server) -> None:
        self.all = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()
        self.cpu = max(self.all) if len(self.all) > 1 else None
        self.server_pid = server.pid()
        self.works = self.cpu is not None and self.server_pid is not None
        if self.works:
            try:
                self._set(self.server_pid, self.all)
            except OSError:
                self.works = False

    @staticmethod
    def _set(pid: int, cpus: set[int]) -> None:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):  # a thread that just ended
                os.sched_setaffinity(int(tid), cpus)

    def pin(self, pid: int | None) -> None:
        if self.works:
            self._set(self.server_pid, {self.cpu})
            if pid is not None:
                self._set(pid, {self.cpu})

    def release(self, pid: int | None) -> None:
        if self.works:
            self._set(self.server_pid, self.all)
            if pid is not None:
                with contextlib.suppress(OSError):
                    self._set(pid, self.all)

    def preexec(self) -> Any:
        """For a subprocess (redis-benchmark) that runs pinned."""
        cpu = self.cpu
        return (lambda: os.sched_setaffinity(0, {cpu})) if self.works else None


def _rotated(items: list, rep: int) -> list:
    """A different contender goes first in each repetition."""
    shift = rep % len(items) if items else 0
    return items[shift:] + items[:shift]


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

    def start(b: Backend) -> None:
        procs[b.name] = ContenderProcess(b, server.url, plan)

    def ready(b: Backend) -> bool:
        proc = procs[b.name]
        proc.wait_ready()
        if proc.unavailable:
            data["backends"][b.name]["unavailable"] = proc.unavailable
            log(f"{b.label}: unavailable: {proc.unavailable}")
        return not proc.unavailable

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
                    if proc.unavailable:
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
                    if "skipped" not in result:
                        reps[b.name][key] = result
                    if proc.dead:
                        broken[(b.name, workload)] = result
                        log(f"{b.label}: {workload}: {result.get('error')}; restarting it")
                        proc.close()
                        start(b)
                        ready(b)
                if rb and key in RB_RUNS:
                    run_key, clients = RB_RUNS[key]
                    requests = plan.rb_requests_c1 if clients == 1 else plan.rb_requests_c100
                    result = run_redis_benchmark(
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


MICRO = {
    "get": "us_per_op",
    "get_unpinned": "us_per_op",
    "aget": "us_per_op",
    "aget_unpinned": "us_per_op",
    "concurrent": "ops_per_s",
    "get_many": "us_per_op",
    "aget_many": "us_per_op",
    "set_many": "us_per_op",
    "aset_many": "us_per_op",
}


def by_rep(data: dict, workload: str, name: str) -> dict[int, float]:
    """{repetition: figure} of one contender in one workload."""
    if name == "redis-benchmark":
        if workload not in RB_RUNS:
            return {}
        runs = data["redis_benchmark_runs"][RB_RUNS[workload][0]]
        key = MICRO[workload]
        return {r["rep"]: r[key] for r in runs if key in r}
    if workload in ("e2e_rps", "e2e_p99"):
        key = "req_per_s" if workload == "e2e_rps" else "p99_ms"
        runs = data["e2e_runs"].get(name, [])
        return {r["rep"]: r[key] for r in runs if key in r and not r.get("failed")}
    field_name = MICRO[workload]
    runs = data["runs"].get(name, [])
    return {r["rep"]: r[workload][field_name] for r in runs if field_name in r.get(workload, {})}


def _first_error(data: dict, workload: str, name: str) -> str | None:
    if workload in ("e2e_rps", "e2e_p99"):
        for r in data["e2e_runs"].get(name, []):
            if r.get("unavailable") or r.get("failed"):
                return r.get("unavailable") or r.get("failed")
        return None
    for r in data["runs"].get(name, []):
        if "error" in r.get(workload, {}):
            return r[workload]["error"]
    return None


HIGHER_IS_BETTER = {"concurrent", "e2e_rps"}


def medians(data: dict) -> dict:
    """{workload: {contender: median figure, or {"error": ...}}}."""
    names = [*data["backends"], "redis-benchmark"]
    out: dict[str, dict[str, Any]] = {}
    for workload in [*MICRO, "e2e_rps", "e2e_p99"]:
        out[workload] = {}
        for name in names:
            figures = list(by_rep(data, workload, name).values())
            if figures:
                out[workload][name] = _median(figures)
            elif (error := _first_error(data, workload, name)) is not None:
                out[workload][name] = {"error": error}
    return out


def paired_ratios(data: dict, ours: str) -> dict:
    """{workload: {peer: how many times as fast ours is}}, each the median of the
    ratios within one repetition, where the contenders ran back to back: the
    machine's drift between repetitions cancels out."""
    out: dict[str, dict[str, float]] = {}
    for workload in [*MICRO, "e2e_rps", "e2e_p99"]:
        mine = by_rep(data, workload, ours)
        out[workload] = {}
        for name in [*data["backends"], "redis-benchmark"]:
            if name == ours:
                continue
            theirs = by_rep(data, workload, name)
            common = sorted(set(mine) & set(theirs))
            if not common:
                continue
            if workload in HIGHER_IS_BETTER:
                ratios = [mine[r] / theirs[r] for r in common]
            else:
                ratios = [theirs[r] / mine[r] for r in common]
            out[workload][name] = _median(ratios)
    return out
