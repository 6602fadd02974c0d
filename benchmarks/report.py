"""The printed table, the JSON and the chart (the targets are in ``targets.py``).

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

from benchmarks.backends import OURS, name_on
from benchmarks.figures import RB_RUNS, REDIS_BENCHMARK
from benchmarks.runner import ON_OTHER_LOOPS

REPO = Path(__file__).resolve().parent.parent
JSON_PATH = REPO / "benchmarks" / "results" / "latest.json"
CHART_PATH = REPO / "docs" / "benchmarks.png"
REDIS_BENCHMARK_LABEL = "redis-benchmark (C)"
DASH = "\u2013"


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


def _label(data: dict, name: str, workload: str, loop: bool = False) -> str:
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


def _rows(data: dict, workload: str, loop: str) -> list[tuple[str, Any]]:
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
    if ratio is None:
        return "n/a"
    return f"{ratio['median']:.2f}x [{ratio['min']:.2f}{DASH}{ratio['max']:.2f}]"


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
        blocks = [(loop, rows) for loop in loops if (rows := _rows(data, w.key, loop))]
        if not blocks:
            continue
        width = min(max(len(_label(data, n, w.key)) for _, rows in blocks for n, _ in rows), 64)
        width = max(width, 40)
        better = "higher" if w.higher_is_better else "lower"
        lines += ["", f"{w.title} ({w.unit}, {better} is better)"]
        lines.append(f"  {'contender':<{width}} {w.unit:>9} {f'[min{DASH}max]':>21}   ours is")
        for loop, rows in blocks:
            if len(blocks) > 1:
                lines.append(f" on {loop}:")
            for name, figure in rows:
                label = _label(data, name, w.key)[:width]
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
        label = _label(data, name, "burst", loop=True)[:44]
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
                f"  ! {_label(data, name, workload, loop=True)}: the server saw only "
                f"{min(seen):.2f} commands per op (answered from process memory?)"
            )
    return warnings


def save_json(data: dict) -> Path:
    JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
    JSON_PATH.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return JSON_PATH


def chart(data: dict, path: Path = CHART_PATH) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    # (title, [(contender, label, value)], higher is better, log scale)
    panels: list[tuple[str, list[tuple[str, str, float]], bool, bool]] = []
    for w in WORKLOADS:
        bars = [
            (name, _label(data, name, w.key, loop=True), figure["median"])
            for loop in data["meta"].get("loops", ["asyncio"])
            for name, figure in _rows(data, w.key, loop)
            if isinstance(figure, dict)
        ]
        if bars:
            panels.append((w.short, bars, w.higher_is_better, False))
    burst = data.get("burst") or {}
    conns = [
        (name, _label(data, name, "burst", loop=True), float(r["max_connections"]))
        for name, r in burst.items()
        if "max_connections" in r
    ]
    if conns:
        tasks = data["meta"]["plan"]["burst_tasks"]
        panels.append((f"{tasks:,} tasks: connections", conns, False, True))

    cols = 4
    rows = (len(panels) + cols - 1) // cols or 1
    most = max(len(bars) for _, bars, _, _ in panels) if panels else 1
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.8 * cols, (1.0 + 0.2 * most) * rows), squeeze=False
    )
    for ax, (title, bars, higher, log) in zip(axes.flat, panels, strict=False):
        labels = [label for _, label, _ in bars]
        values = [value for _, _, value in bars]
        colors = [
            "#d62728"
            if name.partition("@")[0] == OURS
            else ("#7f7f7f" if "redis-benchmark" in label or "ceiling" in label else "#1f77b4")
            for name, label, _ in bars
        ]
        positions = range(len(bars))
        ax.barh(positions, values, color=colors)
        ax.set_yticks(
            list(positions),
            [label.replace(" (sync / redis.asyncio)", "") for label in labels],
            fontsize=8,
        )
        ax.invert_yaxis()
        ax.set_title(title + (" ↑" if higher else " ↓"), fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
        top = max(values) if values else 1
        for y, value in zip(positions, values, strict=True):
            text = f"{value:,.0f}" if value >= 100 or log else f"{value:,.1f}"
            ax.text(value * 1.1 if log else value + top * 0.01, y, text, va="center", fontsize=7)
        if log:
            ax.set_xscale("log")
            ax.set_xlim(0.8, top * 4)
        else:
            ax.set_xlim(0, top * 1.22)
            ax.xaxis.set_major_locator(MaxNLocator(4))
            if top >= 10_000:
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    meta = data["meta"]
    fig.suptitle(
        f"django-async-redis vs peers — {meta['cpus']} CPUs, Python {meta['python']}, "
        f"{meta['server']} on loopback, median of {meta['plan']['reps']} runs "
        f"({meta['date'][:10]}).  ↑ higher is better, ↓ lower is better; "
        "'one CPU': client and server pinned to one CPU",
        fontsize=11,
    )
    missing = [
        f"{name}: {m['unavailable'][:70]}"
        for name, m in data["backends"].items()
        if m["unavailable"]
    ]
    if missing:
        fig.text(0.01, 0.005, "unavailable — " + "; ".join(missing), fontsize=8, color="#d62728")
    fig.tight_layout(rect=(0, 0.03 if missing else 0, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
