"""Stage 3 of the pipeline: from the repetitions to the figures.

Every figure is a median over the repetitions with its spread (min to max). A
ratio between two contenders is taken within each repetition, where they ran
back to back, and summed up the same way (median, min to max): the machine's
drift between repetitions cancels out of it, and its spread says how settled
the comparison is. A contender is compared with ours on its own event loop
(``vcache@uvloop`` with ``ours@uvloop``); redis-benchmark, which runs no loop,
with ours on each.

The first part is what every run sums up with (the cluster run, the HTTP load
test and the standalone runs too); the rest reads the main suite's data.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.backends import OURS, REDIS_BENCHMARK, name_on

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
DASH = "\u2013"  # an en dash, for the spreads
ALL = [*MICRO, *E2E]
HIGHER_IS_BETTER = {"concurrent", "concurrent_proxy", "e2e_rps"}


def spread(values: list[float]) -> dict[str, Any]:
    """A figure over the rounds: its median, its spread (min to max), how many."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def per_round(mine: dict[int, float], theirs: dict[int, float]) -> list[float]:
    """mine's figure over theirs' in each round where both have one ({round: figure})."""
    return [mine[r] / theirs[r] for r in sorted(set(mine) & set(theirs)) if theirs[r]]


def paired(
    mine: dict[int, float], theirs: dict[int, float], higher_is_better: bool
) -> dict[str, Any] | None:
    """How many times as fast ``mine`` is as ``theirs`` (>1: mine is faster),
    each ratio taken within one round, summed up by ``spread``; None when no
    round has both."""
    q = per_round(mine, theirs)
    if not q:
        return None
    return spread(q if higher_is_better else [1 / x for x in q])


def span(s: dict[str, Any], digits: int = 2) -> str:
    """A ratio's spread as the tables show it: ``1.32x [0.66-1.45]`` (an en dash)."""
    return f"{s['median']:.{digits}f}x [{s['min']:.{digits}f}{DASH}{s['max']:.{digits}f}]"


def median_range(values: list[float], spec: str = ".1f", range_spec: str | None = None) -> str:
    """A figure as the standalone runs' tables show it: ``31.7 (28-40)``; ``spec``
    formats the median, ``range_spec`` (default: the same) the min and max."""
    low = spec if range_spec is None else range_spec
    return f"{statistics.median(values):{spec}} ({min(values):{low}}-{max(values):{low}})"


def runs_by_rep(runs: list[dict], workload: str, key: str) -> dict[int, float]:
    """{round: figure ``key``} of one contender's kept-worker rounds (``runner.Rounds``)."""
    return {r["rep"]: r[workload][key] for r in runs if key in r.get(workload, {})}


# --- the main suite -------------------------------------------------------------


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
    return runs_by_rep(data["runs"].get(name, []), workload, MICRO[workload])


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


def quotients(data: dict, workload: str, a: str, b: str) -> list[float]:
    """a's figure over b's, in each repetition where both have one."""
    return per_round(by_rep(data, workload, a), by_rep(data, workload, b))


def speedup(data: dict, workload: str, a: str, b: str) -> dict[str, Any] | None:
    """How many times as fast a is as b (>1: a is faster), paired by repetition."""
    higher = workload in HIGHER_IS_BETTER
    return paired(by_rep(data, workload, a), by_rep(data, workload, b), higher)


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


def add(data: dict) -> dict:
    """The run's raw data with its figures: ``summary`` (each contender's
    spread per workload), ``median`` and the paired ``ratios`` per loop."""
    data["summary"] = summaries(data)
    data["median"] = medians(data["summary"])
    data["ratios"] = paired_ratios(data, list(data["meta"].get("loops", ["asyncio"])))
    return data
