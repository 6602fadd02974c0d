"""Stage 4 of the pipeline: the printed table and the JSON (the targets are in
``targets.py``, the docs chart in ``chart.py``).

Every figure is the median over the repetitions with its spread [min to max];
"ours is Nx as fast" is the median [min to max] of the ratios taken within each
repetition (see ``figures.py``). The async workloads show one block per event
loop of the run: there each contender is compared with ours on that loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.backends import OURS, REDIS_BENCHMARK_LABEL, name_on
from benchmarks.figures import DASH, RB_RUNS, REDIS_BENCHMARK, span
from benchmarks.plan import ON_OTHER_LOOPS

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
JSON_PATH = RESULTS / "latest.json"


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    unit: str
    higher_is_better: bool
    short: str  # chart panel title


PINNED = "client and Redis on one CPU"
MIXED = "100 concurrent asyncio tasks, 90% aget / 10% aset, ~1 KiB pickled dict"
WORKLOADS = [
    Workload("get", f"Sequential sync get of a ~1 KiB pickled dict, {PINNED}", "µs/op", False,
             "sync get, one CPU (µs)"),
    Workload("aget", f"Sequential aget of a ~1 KiB pickled dict, {PINNED}", "µs/op", False,
             "aget, one CPU (µs)"),
    Workload("get_unpinned", "Sequential sync get, placed by the OS (mostly on two vCPUs: "
             "a cross-CPU wake-up per call)", "µs/op", False, "sync get, OS-placed (µs)"),
    Workload("aget_unpinned", "Sequential aget, placed by the OS", "µs/op", False,
             "aget, OS-placed (µs)"),
    Workload("concurrent", MIXED, "ops/s", True, "100 tasks aget/aset (ops/s)"),
    Workload("concurrent_proxy", f"{MIXED}, every call through django.core.cache.cache "
             "(the proxy views use)", "ops/s", True, "100 tasks via the proxy (ops/s)"),
    Workload("get_many", f"get_many of 100 keys, {PINNED}", "µs/call", False,
             "get_many 100 (µs)"),
    Workload("aget_many", f"aget_many of 100 keys, {PINNED}", "µs/call", False,
             "aget_many 100 (µs)"),
    Workload("set_many", f"set_many of 100 keys, {PINNED}", "µs/call", False,
             "set_many 100 (µs)"),
    Workload("aset_many", f"aset_many of 100 keys, {PINNED}", "µs/call", False,
             "aset_many 100 (µs)"),
    Workload("e2e_rps", "End to end: Django async view doing aget, uvicorn (1 worker), "
             "100 connections", "req/s", True, "ASGI view (req/s)"),
    Workload("e2e_p99", "End to end: p99 latency of the same run", "ms", False,
             "ASGI view p99 (ms)"),
]  # fmt: skip


def _fmt(value: float, unit: str) -> str:
    if unit in ("ops/s", "req/s"):
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:,.2f}"
    return f"{value:,.1f}"


def contender_label(data: dict, name: str, workload: str, loop: bool = False) -> str:
    if name == REDIS_BENCHMARK:
        flag = "-c 100, GET only" if workload == "concurrent" else "-c 1"
        return f"{REDIS_BENCHMARK_LABEL} {flag}"
    meta = data["backends"][name]
    return meta["label"] + (f" [{meta['loop']}]" if loop and meta["loop"] != "asyncio" else "")


def _skipped(data: dict, workload: str, name: str) -> str | None:
    for r in data["runs"].get(name, []):
        if "skipped" in r.get(workload, {}):
            return r[workload]["skipped"]
    return None


def _applies(data: dict, meta: dict, workload: str) -> bool:
    if workload.startswith("e2e"):
        return meta["e2e"] and data["meta"]["plan"].get("e2e_enabled", True)
    return meta["micro"] and (meta["loop"] == "asyncio" or workload in ON_OTHER_LOOPS)


def workload_rows(data: dict, workload: str, loop: str) -> list[tuple[str, Any]]:
    """(contender, its summary | a message) of the contenders on ``loop``."""
    rows: list[tuple[str, Any]] = []
    summary = data["summary"].get(workload, {})
    for name, meta in data["backends"].items():
        if meta["loop"] != loop or not _applies(data, meta, workload):
            continue
        entry = summary.get(name, {})
        if meta["unavailable"]:
            rows.append((name, f"unavailable: {meta['unavailable']}"))
        elif "median" in entry:
            rows.append((name, entry))
        elif "error" in entry:
            rows.append((name, f"error: {entry['error']}"))
        else:
            rows.append((name, _skipped(data, workload, name) or "not run"))
    rb = summary.get(REDIS_BENCHMARK)
    if rb and "median" in rb and workload in RB_RUNS and rows:
        rows.append((REDIS_BENCHMARK, rb))
    return rows


def _ratio(data: dict, workload: str, loop: str, name: str) -> str:
    if name == name_on(OURS, loop):
        return "—"
    ratio = data.get("ratios", {}).get(loop, {}).get(workload, {}).get(name)
    return "n/a" if ratio is None else span(ratio)


def _core_line(data: dict) -> str | None:
    """Which django_async_redis each of ours imported, and whether compiled."""
    parts = []
    for name, meta in data["backends"].items():
        core = meta.get("core") or {}
        if not core or meta["loop"] != "asyncio" or meta["kind"] != "django":
            continue
        compiled = {True: "compiled core", False: "pure Python", None: "no compiled core"}[
            core.get("compiled")
        ]
        where = Path(core["file"]).parent.parent
        shown = where.relative_to(REPO) if where.is_relative_to(REPO) else where
        parts.append(f"{name}: {compiled} ({shown})")
    return "django_async_redis imported as — " + "; ".join(parts) if parts else None


def table(data: dict) -> str:
    lines: list[str] = []
    meta = data["meta"]
    loops = meta.get("loops", ["asyncio"])
    lines.append(
        f"django-async-redis benchmarks — {meta['date']}, {meta['cpus']} CPUs, "
        f"Python {meta['python']}, {meta['server']} on loopback, event loops: "
        f"{', '.join(loops)}, {meta['plan']['reps']} repetitions (end to end: "
        f"{meta['plan']['e2e_reps']})"
    )
    lines.append(
        f"figure: median [min{DASH}max] over the repetitions; 'ours is Nx as fast': median "
        f"[min{DASH}max] of the ratios within each repetition, against ours on the same loop"
    )
    start, end = meta.get("load_average_at_start", 0), meta.get("load_average_at_end", 0)
    lines.append(f"1-minute load average: {start:.2f} before the run, {end:.2f} after it")
    if start > 0.7:
        lines.append(
            "! the machine was busy before the run: figures are noisy; "
            "rerun on an idle machine (--wait-idle 300)"
        )
    if core := _core_line(data):
        lines.append(core)
    for name, m in data["backends"].items():
        if m["base"] == OURS and (m.get("core") or {}).get("compiled") is False:
            lines.append(f"! {name} ran the pure-Python path: the compiled core is not built")
    for w in WORKLOADS:
        blocks = [(loop, rows) for loop in loops if (rows := workload_rows(data, w.key, loop))]
        if not blocks:
            continue
        width = min(
            max(len(contender_label(data, n, w.key)) for _, rows in blocks for n, _ in rows), 64
        )
        width = max(width, 40)
        better = "higher" if w.higher_is_better else "lower"
        lines += ["", f"{w.title} ({w.unit}, {better} is better)"]
        lines.append(f"  {'contender':<{width}} {w.unit:>9} {f'[min{DASH}max]':>21}   ours is")
        for loop, rows in blocks:
            if len(blocks) > 1:
                lines.append(f" on {loop}:")
            for name, figure in rows:
                label = contender_label(data, name, w.key)[:width]
                if isinstance(figure, dict):
                    spread = f"[{_fmt(figure['min'], w.unit)}{DASH}{_fmt(figure['max'], w.unit)}]"
                    lines.append(
                        f"  {label:<{width}} {_fmt(figure['median'], w.unit):>9} {spread:>21}   "
                        f"{_ratio(data, w.key, loop, name)}"
                    )
                else:
                    lines.append(f"  {label:<{width}} {figure[:100]}")
        lines.extend(_integrity_warnings(data, w.key))
    lines.extend(_burst_lines(data))
    return "\n".join(lines)


def _burst_lines(data: dict) -> list[str]:
    burst = data.get("burst") or {}
    if not burst:
        return []
    plan = data["meta"]["plan"]
    lines = [
        "",
        f"{plan['burst_tasks']:,} concurrent tasks on one event loop "
        f"({plan['burst_ops_per_task']} ops each, 90% aget / 10% aset, capped at "
        f"{plan['burst_seconds']:g} s): Redis connections held by the process",
        f"  {'contender':<44} {'max conns':>10} {'ops':>8} {'ops/s':>9} {'errors':>7}",
    ]
    for name, r in burst.items():
        label = contender_label(data, name, "burst", loop=True)[:44]
        if "unavailable" in r:
            lines.append(f"  {label:<44} unavailable: {r['unavailable'][:80]}")
            continue
        lines.append(
            f"  {label:<44} {r['max_connections']:>10} {r['ops']:>8} "
            f"{r['ops_per_s']:>9,.0f} {r['errors']:>7}"
        )
        if r.get("first_error"):
            lines.append(f"  {'':<44} first error: {r['first_error'][:90]}")
    return lines


def _integrity_warnings(data: dict, workload: str) -> list[str]:
    """Each get must reach the server: fewer commands than ops means a contender
    answered from its own memory, and its figure is not comparable."""
    if workload not in ("get", "get_unpinned", "aget", "aget_unpinned", "concurrent",
                        "concurrent_proxy"):  # fmt: skip
        return []
    warnings = []
    for name, reps in data.get("runs", {}).items():
        if data["backends"][name]["kind"] == "ceiling":  # the ceilings have no server
            continue
        seen = [
            r[workload]["server_commands_per_op"]
            for r in reps
            if "server_commands_per_op" in r.get(workload, {})
        ]
        if seen and min(seen) < 0.9:
            warnings.append(
                f"  ! {contender_label(data, name, workload, loop=True)}: the server saw only "
                f"{min(seen):.2f} commands per op (answered from process memory?)"
            )
    return warnings


def save_json(data: dict, path: Path = JSON_PATH) -> Path:
    """Every run's JSON, in benchmarks/results (the main suite's: latest.json)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return path


def shown(path: Path) -> str:
    """``path`` as the runs print it: from the repository root when under it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
