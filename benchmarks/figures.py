"""From the repetitions to the figures: medians, spreads and paired ratios.

Every figure is a median over the repetitions with its spread (min to max). A
ratio between two contenders is taken within each repetition, where they ran
back to back, and summed up the same way (median, min to max): the machine's
drift between repetitions cancels out of it, and its spread says how settled
the comparison is. A contender is compared with ours on its own event loop
(``vcache@uvloop`` with ``ours@uvloop``); redis-benchmark, which runs no loop,
with ours on each.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.backends import OURS, name_on

REDIS_BENCHMARK = "redis-benchmark"
# result key of the row it stands in: (its runs' key, clients)
RB_RUNS = {
    "get": ("c1", 1),
    "get_unpinned": ("c1_unpinned", 1),
    "concurrent": ("c100", 100),
}
MICRO = {  # result key: the figure it reports
    "get": "us_per_op",
    "get_unpinned": "us_per_op",
    "aget": "us_per_op",
    "aget_unpinned": "us_per_op",
    "concurrent": "ops_per_s",
    "concurrent_proxy": "ops_per_s",
    "get_many": "us_per_op",
    "aget_many": "us_per_op",
    "set_many": "us_per_op",
    "aset_many": "us_per_op",
}
E2E = {"e2e_rps": "req_per_s", "e2e_p99": "p99_ms"}
ALL = [*MICRO, *E2E]
HIGHER_IS_BETTER = {"concurrent", "concurrent_proxy", "e2e_rps"}


def by_rep(data: dict, workload: str, name: str) -> dict[int, float]:
    """{repetition: figure} of one contender in one workload."""
    if name == REDIS_BENCHMARK:
        if workload not in RB_RUNS:
            return {}
        runs = data["redis_benchmark_runs"][RB_RUNS[workload][0]]
        key = MICRO[workload]
        return {r["rep"]: r[key] for r in runs if key in r}
    if workload in E2E:
        key = E2E[workload]
        runs = data["e2e_runs"].get(name, [])
        return {r["rep"]: r[key] for r in runs if key in r and not r.get("failed")}
    key = MICRO[workload]
    runs = data["runs"].get(name, [])
    return {r["rep"]: r[workload][key] for r in runs if key in r.get(workload, {})}


def first_error(data: dict, workload: str, name: str) -> str | None:
    if workload in E2E:
        for r in data["e2e_runs"].get(name, []):
            if r.get("unavailable") or r.get("failed"):
                return r.get("unavailable") or r.get("failed")
        return None
    for r in data["runs"].get(name, []):
        if "error" in r.get(workload, {}):
            return r[workload]["error"]
    return None


def spread(values: list[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def quotients(data: dict, workload: str, a: str, b: str) -> list[float]:
    """a's figure over b's, in each repetition where both have one."""
    mine, theirs = by_rep(data, workload, a), by_rep(data, workload, b)
    return [mine[r] / theirs[r] for r in sorted(set(mine) & set(theirs)) if theirs[r]]


def speedup(data: dict, workload: str, a: str, b: str) -> dict[str, Any] | None:
    """How many times as fast a is as b (>1: a is faster), paired by repetition."""
    q = quotients(data, workload, a, b)
    if not q:
        return None
    return spread(q if workload in HIGHER_IS_BETTER else [1 / x for x in q])


def contenders(data: dict) -> list[str]:
    return [*data["backends"], REDIS_BENCHMARK]


def summaries(data: dict) -> dict:
    """{workload: {contender: {median, min, max, n} or {"error": ...}}}."""
    out: dict[str, dict[str, Any]] = {}
    for workload in ALL:
        out[workload] = {}
        for name in contenders(data):
            figures = list(by_rep(data, workload, name).values())
            if figures:
                out[workload][name] = spread(figures)
            elif (error := first_error(data, workload, name)) is not None:
                out[workload][name] = {"error": error}
    return out


def medians(summary: dict) -> dict:
    """{workload: {contender: median, or {"error": ...}}}, from ``summaries``."""
    return {
        workload: {name: entry.get("median", entry) for name, entry in rows.items()}
        for workload, rows in summary.items()
    }


def paired_ratios(data: dict, loops: list[str]) -> dict:
    """{loop: {workload: {peer: spread of how many times as fast ours is}}}:
    ours on that loop against every contender on it, and redis-benchmark."""
    out: dict[str, dict[str, dict]] = {}
    for loop in loops:
        ours = name_on(OURS, loop)
        out[loop] = {}
        for workload in ALL:
            row = {}
            for name in contenders(data):
                meta = data["backends"].get(name, {})
                if name == ours or (name != REDIS_BENCHMARK and meta.get("loop") != loop):
                    continue
                if (ratio := speedup(data, workload, ours, name)) is not None:
                    row[name] = ratio
            out[loop][workload] = row
    return out
