"""The cluster run's figures and table (the run is ``cluster.py``).

Each contender's median over the rounds with its spread [min-max], and "ours
is Nx as fast" as the median [min-max] of the ratios within each round
(``figures.paired``), with the commands per operation the primaries saw.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks import figures, report
from benchmarks.cluster_backends import CONTENDERS, OURS
from benchmarks.figures import DASH, span

JSON_PATH = report.RESULTS / "cluster-latest.json"
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


def by_rep(data: dict, workload: str, name: str) -> dict[int, float]:
    """{round: figure} of one contender in one workload."""
    runs = data["runs"].get(name, [])
    return figures.runs_by_rep(runs, workload, FIGURE.get(workload, "us_per_op"))


def summarize(data: dict) -> dict:
    """{workload: {contender: {median, min, max, n, ratio: {median, min, max, n},
    commands_per_op, op_errors} or {error} or {skipped}}}."""
    out: dict[str, dict[str, Any]] = {}
    for workload in TITLES:
        mine = by_rep(data, workload, OURS)
        out[workload] = {}
        for name, runs in data["runs"].items():
            entry: dict[str, Any] = {}
            theirs = by_rep(data, workload, name)
            if theirs:
                entry.update(figures.spread(list(theirs.values())))
                higher = workload in HIGHER_IS_BETTER
                if name != OURS and (ratio := figures.paired(mine, theirs, higher)):
                    entry["ratio"] = ratio
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
    for workload, (title, unit) in TITLES.items():
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
                ratio_text = span(ratio)
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
    return report.save_json(data, JSON_PATH)
