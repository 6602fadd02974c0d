"""The chart of docs/benchmarks.png, from the main suite's figures (stage 4).

One panel per workload (the bars of every loop together, ours in red, the
references in grey) and one for the burst's connections, on a log scale.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.backends import OURS
from benchmarks.report import REPO, WORKLOADS, contender_label, workload_rows

CHART_PATH = REPO / "docs" / "benchmarks.png"


def chart(data: dict, path: Path = CHART_PATH) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    # (title, [(contender, label, value)], higher is better, log scale)
    panels: list[tuple[str, list[tuple[str, str, float]], bool, bool]] = []
    for w in WORKLOADS:
        bars = [
            (name, contender_label(data, name, w.key, loop=True), figure["median"])
            for loop in data["meta"].get("loops", ["asyncio"])
            for name, figure in workload_rows(data, w.key, loop)
            if isinstance(figure, dict)
        ]
        if bars:
            panels.append((w.short, bars, w.higher_is_better, False))
    burst = data.get("burst") or {}
    conns = [
        (name, contender_label(data, name, "burst", loop=True), float(r["max_connections"]))
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
