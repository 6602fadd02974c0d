"""The printed table, the issue's targets as PASS/FAIL, the JSON and the chart."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.backends import BACKENDS, OURS, REDIS_BENCHMARK, REDIS_BENCHMARK_LABEL

REPO = Path(__file__).resolve().parent.parent
JSON_PATH = REPO / "benchmarks" / "results" / "latest.json"
CHART_PATH = REPO / "docs" / "benchmarks.png"


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    unit: str
    higher_is_better: bool
    short: str  # chart panel title


PINNED = "client and Redis on one CPU"
WORKLOADS = [
    Workload("get", f"Sequential sync get of a ~1 KiB pickled dict, {PINNED}", "µs/op", False,
             "sync get, one CPU (µs)"),
    Workload("aget", f"Sequential aget of a ~1 KiB pickled dict, {PINNED}", "µs/op", False,
             "aget, one CPU (µs)"),
    Workload("get_unpinned", "Sequential sync get, placed by the OS (mostly on two vCPUs: "
             "a cross-CPU wake-up per call)", "µs/op", False, "sync get, OS-placed (µs)"),
    Workload("aget_unpinned", "Sequential aget, placed by the OS", "µs/op", False,
             "aget, OS-placed (µs)"),
    Workload(
        "concurrent",
        "100 concurrent asyncio tasks, 90% aget / 10% aset, ~1 KiB pickled dict",
        "ops/s",
        True,
        "100 tasks aget/aset (ops/s)",
    ),
    Workload("get_many", f"get_many of 100 keys, {PINNED}", "µs/call", False,
             "get_many 100 (µs)"),
    Workload("aget_many", f"aget_many of 100 keys, {PINNED}", "µs/call", False,
             "aget_many 100 (µs)"),
    Workload("set_many", f"set_many of 100 keys, {PINNED}", "µs/call", False,
             "set_many 100 (µs)"),
    Workload("aset_many", f"aset_many of 100 keys, {PINNED}", "µs/call", False,
             "aset_many 100 (µs)"),
    Workload(
        "e2e_rps",
        "End to end: Django async view doing aget, uvicorn (1 worker), 100 connections",
        "req/s",
        True,
        "ASGI view (req/s)",
    ),
    Workload("e2e_p99", "End to end: p99 latency of the same run", "ms", False,
             "ASGI view p99 (ms)"),
]  # fmt: skip


def _fmt(value: float, unit: str) -> str:
    if unit in ("ops/s", "req/s"):
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:,.2f}"
    return f"{value:,.1f}"


def speedup(ours: float, peer: float, higher_is_better: bool) -> float:
    """How many times as fast ours is (>1: ours is faster)."""
    return ours / peer if higher_is_better else peer / ours


def _label(name: str, workload: str) -> str:
    if name == REDIS_BENCHMARK:
        flag = "-c 100, GET only" if workload == "concurrent" else "-c 1"
        return f"{REDIS_BENCHMARK_LABEL} {flag}"
    return next(b.label for b in BACKENDS if b.name == name)


def _rows(data: dict, workload: str) -> list[tuple[str, Any]]:
    """(contender, figure | message) in the fixed contender order."""
    rows = []
    figures = data["median"].get(workload, {})
    for b in BACKENDS:
        if b.name not in data["backends"]:
            continue
        meta = data["backends"][b.name]
        if not workload.startswith("e2e") and not b.micro:
            continue
        if meta["unavailable"]:
            rows.append((b.name, f"unavailable: {meta['unavailable']}"))
        elif workload.startswith("e2e") and not b.e2e:
            continue
        elif b.name in figures:
            figure = figures[b.name]
            rows.append(
                (b.name, f"error: {figure['error']}" if isinstance(figure, dict) else figure)
            )
        elif workload in ("get", "get_unpinned", "get_many", "set_many") and not b.has_sync:
            rows.append((b.name, "n/a (async-only backend)"))
        else:
            rows.append((b.name, "not run"))
    if REDIS_BENCHMARK in figures:
        rows.append((REDIS_BENCHMARK, figures[REDIS_BENCHMARK]))
    return rows


def table(data: dict) -> str:
    lines: list[str] = []
    meta = data["meta"]
    lines.append(
        f"django-async-redis benchmarks — {meta['date']}, {meta['cpus']} CPUs, "
        f"Python {meta['python']}, {meta['server']} on loopback, "
        f"median of {meta['plan']['reps']} runs (end to end: {meta['plan']['e2e_reps']})"
    )
    lines.append(
        "'ours is Nx as fast': the median of the ratios within each repetition "
        "(contenders run back to back)"
    )
    start, end = meta.get("load_average_at_start", 0), meta.get("load_average_at_end", 0)
    lines.append(f"1-minute load average: {start:.2f} before the run, {end:.2f} after it")
    if start > 0.7:
        lines.append(
            "! the machine was busy before the run: figures are noisy; "
            "rerun on an idle machine (--wait-idle 300)"
        )
    for w in WORKLOADS:
        rows = _rows(data, w.key)
        if not rows:
            continue
        better = "higher" if w.higher_is_better else "lower"
        lines.append("")
        lines.append(f"{w.title} ({w.unit}, {better} is better)")
        ours = data["median"].get(w.key, {}).get(OURS)
        ours = ours if isinstance(ours, float) else None
        width = 44
        lines.append(f"  {'contender':<{width}} {w.unit:>12}   ours is")
        for name, figure in rows:
            label = _label(name, w.key)
            if isinstance(figure, float):
                paired = data.get("ratios", {}).get(w.key, {}).get(name)
                if name == OURS:
                    ratio = "—"
                elif paired is not None:
                    ratio = f"{paired:.2f}x as fast"
                elif ours is not None:
                    ratio = f"{speedup(ours, figure, w.higher_is_better):.2f}x as fast"
                else:
                    ratio = "n/a"
                lines.append(f"  {label:<{width}} {_fmt(figure, w.unit):>12}   {ratio}")
            else:
                lines.append(f"  {label:<{width}} {figure[:90]}")
        lines.extend(_integrity_warnings(data, w.key))
    burst = data.get("burst") or {}
    if burst:
        plan = meta["plan"]
        lines.append("")
        lines.append(
            f"{plan['burst_tasks']:,} concurrent tasks on one event loop "
            f"({plan['burst_ops_per_task']} ops each, 90% aget / 10% aset, capped at "
            f"{plan['burst_seconds']:g} s): Redis connections held by the process"
        )
        lines.append(f"  {'contender':<44} {'max conns':>10} {'ops':>8} {'ops/s':>9} {'errors':>7}")
        for b in BACKENDS:
            r = burst.get(b.name)
            if r is None:
                continue
            if "unavailable" in r:
                lines.append(f"  {b.label:<44} unavailable: {r['unavailable'][:80]}")
                continue
            lines.append(
                f"  {b.label:<44} {r['max_connections']:>10} {r['ops']:>8} "
                f"{r['ops_per_s']:>9,.0f} {r['errors']:>7}"
            )
            if r.get("first_error"):
                lines.append(f"  {'':<44} first error: {r['first_error'][:90]}")
    return "\n".join(lines)


def _integrity_warnings(data: dict, workload: str) -> list[str]:
    """Each get must reach the server: fewer commands than ops means a contender
    answered from its own memory, and its figure is not comparable."""
    if workload not in ("get", "get_unpinned", "aget", "aget_unpinned", "concurrent"):
        return []
    warnings = []
    for name, reps in data.get("runs", {}).items():
        seen = [
            r[workload]["server_commands_per_op"]
            for r in reps
            if "server_commands_per_op" in r.get(workload, {})
        ]
        if seen and min(seen) < 0.9 and name != "ceiling":  # the ceiling has no server
            warnings.append(
                f"  ! {_label(name, workload)}: the server saw only {min(seen):.2f} commands "
                "per op (answered from process memory?)"
            )
    return warnings


def _figure(data: dict, workload: str, name: str) -> float | None:
    value = data["median"].get(workload, {}).get(name)
    return value if isinstance(value, float) else None


def _paired(data: dict, workload: str, peer: str, fallback: float) -> float:
    """How many times as fast ours is, from the per-repetition pairs."""
    return data.get("ratios", {}).get(workload, {}).get(peer, fallback)


def targets(data: dict) -> list[dict]:
    """The issue's targets, from this run's paired ratios (see runner.paired_ratios)."""
    results = []

    def check(text: str, ok: bool | None, detail: str) -> None:
        status = "N/A" if ok is None else ("PASS" if ok else "FAIL")
        results.append({"target": text, "status": status, "detail": detail})

    in_run = OURS in data["backends"]

    def figures(workload: str, peer: str, text: str) -> tuple[float, float] | None:
        """Both medians, or None once the reason there is no comparison is recorded."""
        ours, other = _figure(data, workload, OURS), _figure(data, workload, peer)
        if not in_run:
            check(text, None, "ours: not in this run")
        elif ours is None:
            check(text, False, "ours: " + _why(data, workload, OURS))
        elif other is None:
            check(text, None, f"{peer}: " + _why(data, workload, peer))
        else:
            return ours, other
        return None

    def ratio_target(workload: str, peer: str, need: float, text: str) -> None:
        pair = figures(workload, peer, text)
        if pair is not None:
            ours, other = pair
            got = _paired(data, workload, peer, ours / other)
            check(
                text,
                got >= need,
                f"{got:.2f}x (medians {_fmt(ours, 'ops/s')} vs {_fmt(other, 'ops/s')} ops/s)",
            )

    ratio_target("concurrent", "django", 15, "100 concurrent aget/aset >= 15x Django built-in")
    ratio_target("concurrent", "vcache", 1.5, "100 concurrent aget/aset >= 1.5x django-vcache")
    ceiling, vcache = _figure(data, "concurrent", "ceiling"), _figure(data, "concurrent", "vcache")
    if ceiling and vcache and results[-1]["status"] != "N/A":
        # No backend can pass the no-Redis ceiling: say how much of it the target asks for.
        results[-1]["detail"] += (
            f"; 1.5x django-vcache is {_fmt(1.5 * vcache, 'ops/s')} ops/s,"
            f" {1.5 * vcache / ceiling:.0%} of the no-Redis ceiling ({_fmt(ceiling, 'ops/s')})"
        )
    ratio_target(
        "concurrent",
        REDIS_BENCHMARK,
        0.7,
        "100 concurrent aget/aset >= 0.7x redis-benchmark -c 100",
    )

    def latency_target(workload: str, peer: str, most: float, text: str) -> None:
        pair = figures(workload, peer, text)
        if pair is not None:
            ours, other = pair
            got = 1 / _paired(data, workload, peer, other / ours)
            detail = f"{got:.2f}x the latency (one CPU; medians {ours:.1f} vs {other:.1f} µs/op)"
            loose = data.get("ratios", {}).get(f"{workload}_unpinned", {}).get(peer)
            if loose:
                detail += f"; placed by the OS: {1 / loose:.2f}x"
            check(text, got <= most, detail)

    latency_target("aget", "vcache", 1.0, "sequential aget no slower than django-vcache")
    latency_target("get", "vcache", 1.0, "sequential sync get no slower than django-vcache")
    latency_target("get", "redis-py", 0.75, "sequential sync get <= 0.75x raw redis-py latency")

    text = "2,000 concurrent tasks: <= 4 Redis connections held by the process, no error"
    burst = (data.get("burst") or {}).get(OURS)
    if burst is None:
        check(text, False if data["backends"].get(OURS, {}).get("unavailable") else None, "not run")
    elif "unavailable" in burst:
        check(text, False, "ours: unavailable: " + burst["unavailable"])
    else:
        ok = burst["max_connections"] <= 4 and burst["errors"] == 0 and burst["wrong_values"] == 0
        check(
            text,
            ok,
            f"{burst['max_connections']} connection(s), {burst['errors']} error(s), "
            f"{burst['wrong_values']} wrong value(s), {burst['ops']} ops",
        )
    return results


def _why(data: dict, workload: str, name: str) -> str:
    meta = data["backends"].get(name)
    if meta and meta["unavailable"]:
        return "unavailable: " + meta["unavailable"]
    value = data["median"].get(workload, {}).get(name)
    if isinstance(value, dict):
        return "error: " + str(value.get("error"))
    return "not measured"


def targets_text(results: list[dict]) -> str:
    lines = ["Targets (issue 3), from this run:"]
    for r in results:
        lines.append(f"  {r['status']:<4}  {r['target']}: {r['detail'][:300]}")
    return "\n".join(lines)


def save_json(data: dict) -> Path:
    JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
    JSON_PATH.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return JSON_PATH


def chart(data: dict, path: Path = CHART_PATH) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    panels: list[tuple[str, list[tuple[str, float]], bool, bool]] = []
    for w in WORKLOADS:
        bars = [
            (_label(name, w.key), figure)
            for name, figure in _rows(data, w.key)
            if isinstance(figure, float)
        ]
        if bars:
            panels.append((w.short, bars, w.higher_is_better, False))
    burst = data.get("burst") or {}
    conns = [
        (b.label, float(burst[b.name]["max_connections"]))
        for b in BACKENDS
        if b.name in burst and "max_connections" in burst[b.name]
    ]
    if conns:
        tasks = data["meta"]["plan"]["burst_tasks"]
        panels.append((f"{tasks:,} tasks: connections", conns, False, True))

    cols = 4
    rows = (len(panels) + cols - 1) // cols or 1
    fig, axes = plt.subplots(rows, cols, figsize=(4.8 * cols, 3.0 * rows), squeeze=False)
    ours_label = next(b.label for b in BACKENDS if b.name == OURS)
    for ax, (title, bars, higher, log) in zip(axes.flat, panels, strict=False):
        labels = [label for label, _ in bars]
        values = [value for _, value in bars]
        colors = [
            "#d62728"
            if label == ours_label
            else ("#7f7f7f" if "redis-benchmark" in label or "ceiling" in label else "#1f77b4")
            for label in labels
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
        f"{data['backends'][b.name]['label']}: {data['backends'][b.name]['unavailable'][:70]}"
        for b in BACKENDS
        if b.name in data["backends"] and data["backends"][b.name]["unavailable"]
    ]
    if missing:
        fig.text(0.01, 0.005, "unavailable — " + "; ".join(missing), fontsize=8, color="#d62728")
    fig.tight_layout(rect=(0, 0.03 if missing else 0, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
