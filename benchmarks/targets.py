"""The issues' targets as PASS / FAIL / N/A, from this run's paired ratios.

Each ratio is taken within a repetition, where the two contenders ran back to
back, and the target is judged on the median of those ratios; the detail gives
their spread (min to max) and says when it crosses the line (then the run does
not settle it). Where a target applies per event loop, it is judged on each
loop of the run (ours on uvloop against the peers on uvloop).

Issue 13's targets come first; issue 3's that it did not make stricter follow.
Instructions per operation come from ``python -m benchmarks.instructions``'s
output (``--instructions PATH``, its last JSON line), not from this run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks import figures
from benchmarks.backends import BASELINE, OURS, REDIS_BENCHMARK, name_on
from benchmarks.figures import span as _span

PEERS = ("django", "django-redis", "django-valkey", "vcache")  # the Django caches we race
INSTRUCTIONS_MOST = 60_000


def load_instructions(paths: list[str]) -> list[dict]:
    """The last JSON line of each file ``python -m benchmarks.instructions`` printed."""
    found = []
    for path in paths:
        lines = [x for x in Path(path).read_text().splitlines() if x.strip().startswith("{")]
        if not lines:
            raise SystemExit(
                f"{path}: no JSON line (the output of python -m benchmarks.instructions)"
            )
        entry = json.loads(lines[-1])
        entry["file"] = str(path)
        found.append(entry)
    return found


def _fmt(value: float, workload: str) -> str:
    unit = "ops/s" if workload in figures.HIGHER_IS_BETTER else "µs"
    if workload == "e2e_rps":
        unit = "req/s"
    text = f"{value:,.0f}" if unit != "µs" else f"{value:,.1f}"
    return f"{text} {unit}"


def status(ok: bool | None) -> str:
    """A target's verdict: PASS, FAIL, or N/A when this run does not judge it."""
    return "N/A" if ok is None else ("PASS" if ok else "FAIL")


def verdict_line(verdict: str, text: str) -> str:
    """A target as every run prints it: ``PASS  what: figure``."""
    return f"{verdict:<4}  {text}"


class Targets:
    def __init__(self, data: dict) -> None:
        self.data = data
        self.results: list[dict] = []
        self.loops: list[str] = data["meta"].get("loops", ["asyncio"])

    def add(
        self,
        issue: int,
        text: str,
        loop: str | None,
        ok: bool | None,
        detail: str,
        ratio: dict | None = None,
    ) -> None:
        entry: dict[str, Any] = {"issue": issue, "target": text, "loop": loop}
        entry.update(status=status(ok), detail=detail)
        if ratio is not None:
            entry["ratio"] = ratio
        self.results.append(entry)

    def missing(self, workload: str, name: str) -> tuple[str, bool] | None:
        """Why ``name`` has no figure in ``workload`` and whether that is its
        failure (unavailable, an error) rather than not asked for; None: it has one."""
        if figures.by_rep(self.data, workload, name):
            return None
        if name == REDIS_BENCHMARK:
            return "redis-benchmark: not run", False
        meta = self.data["backends"].get(name)
        if meta is None:
            hint = " (--baseline REF)" if name.partition("@")[0] == BASELINE else ""
            return f"{name}: not in this run{hint}", False
        if meta["unavailable"]:
            return f"{name}: unavailable: {meta['unavailable']}", True
        if error := figures.first_error(self.data, workload, name):
            return f"{name}: error: {error}", True
        return f"{name}: not run", False

    def compare(
        self,
        issue: int,
        text: str,
        loop: str | None,
        workload: str,
        mine: str,
        theirs: str,
        line: float,
        latency: bool = False,
    ) -> None:
        """mine against theirs: as fast as ``line`` times theirs or more, or, with
        ``latency``, at most ``line`` times theirs' time per call."""
        if gap := self.missing(workload, mine):
            # Ours failing fails the target; ours not run, or a peer missing, is no verdict.
            why, failed = gap
            self.add(issue, text, loop, False if failed else None, why)
            return
        if gap := self.missing(workload, theirs):
            self.add(issue, text, loop, None, gap[0])
            return
        if latency:
            ratio = figures.spread(figures.quotients(self.data, workload, mine, theirs))
            ok, crossed = ratio["median"] <= line, ratio["min"] <= line < ratio["max"]
            what = f"{_span(ratio)} the time per call"
        else:
            ratio = figures.speedup(self.data, workload, mine, theirs) or {}
            ok, crossed = ratio["median"] >= line, ratio["min"] < line <= ratio["max"]
            what = f"{_span(ratio)} as fast"
        medians = self.data["median"][workload]
        detail = (
            f"{what} (medians {_fmt(medians[mine], workload)} vs "
            f"{_fmt(medians[theirs], workload)}; {ratio['n']} paired)"
        )
        if crossed:
            detail += "; the spread crosses the line: not settled by this run"
        self.add(issue, text, loop, ok, detail, ratio)

    def ahead_of_peers(self, text: str, loop: str, workload: str) -> None:
        ours = name_on(OURS, loop)
        if gap := self.missing(workload, ours):
            self.add(13, text, loop, False if gap[1] else None, gap[0])
            return
        parts, ok, worst = [], True, None
        for peer in (name_on(p, loop) for p in PEERS):
            if peer not in self.data["backends"]:
                continue
            if gap := self.missing(workload, peer):
                parts.append(gap[0][:60])
                continue
            ratio = figures.speedup(self.data, workload, ours, peer) or {}
            ok &= ratio["median"] > 1.0
            worst = ratio if worst is None or ratio["median"] < worst["median"] else worst
            parts.append(f"{peer.partition('@')[0]} {_span(ratio)}")
        if worst is None:
            self.add(
                13,
                text,
                loop,
                None,
                "no peer measured" + (": " if parts else "") + "; ".join(parts),
            )
        else:
            self.add(13, text, loop, ok, "ours is " + "; ".join(parts), worst)

    def instructions(self, entries: list[dict]) -> None:
        text = f"instructions per operation, 100 tasks (callgrind): <= {INSTRUCTIONS_MOST // 1000}k"
        if not entries:
            self.add(
                13,
                text,
                None,
                None,
                "no --instructions file (python -m benchmarks.instructions > FILE)",
            )
        for entry in entries:
            per_op = entry.get("per_op", {})
            loop = entry.get("loop", "asyncio")
            ours = per_op.get(OURS)
            others = ", ".join(
                f"{name} {value / 1000:.1f}k"
                for name, value in per_op.items()
                if name != OURS and value is not None
            )
            source = f"{Path(entry['file']).name}, {entry.get('ops')} ops"
            if ours is None:
                ok = None if OURS not in per_op else False  # not asked for, or failed
                self.add(13, text, loop, ok, f"ours: not measured ({source})")
            else:
                detail = f"ours {ours / 1000:.1f}k" + (f" ({others})" if others else "")
                self.add(13, text, loop, ours <= INSTRUCTIONS_MOST, f"{detail}; from {source}")

    def burst(self, loop: str) -> None:
        text = "2,000 concurrent tasks: <= 4 Redis connections held by the process, no error"
        name = name_on(OURS, loop)
        burst = (self.data.get("burst") or {}).get(name)
        meta = self.data["backends"].get(name, {})
        if meta.get("unavailable"):
            self.add(3, text, loop, False, f"{name}: unavailable: {meta['unavailable']}")
        elif burst is None:
            self.add(3, text, loop, None, f"{name}: not run")
        elif "unavailable" in burst:
            self.add(3, text, loop, False, "ours: unavailable: " + burst["unavailable"])
        else:
            ok = (
                burst["max_connections"] <= 4
                and burst["errors"] == 0
                and burst["wrong_values"] == 0
            )
            detail = (
                f"{burst['max_connections']} connection(s), {burst['errors']} error(s), "
                f"{burst['wrong_values']} wrong value(s), {burst['ops']} ops"
            )
            self.add(3, text, loop, ok, detail)


def evaluate(data: dict, instructions: list[dict] | None = None) -> list[dict]:
    t = Targets(data)
    mixed = "100 tasks, 90% aget / 10% aset, ~1 KiB pickled"
    for loop in t.loops:
        ours, vcache = name_on(OURS, loop), name_on("vcache", loop)
        t.compare(13, f"{mixed}: >= 1.5x django-vcache", loop, "concurrent", ours, vcache, 1.5)
        text = f"{mixed}: >= 1.0x redis-benchmark -c 100"
        t.compare(13, text, loop, "concurrent", ours, REDIS_BENCHMARK, 1.0)
    t.instructions(instructions or [])
    for loop in t.loops:
        ours, vcache = name_on(OURS, loop), name_on("vcache", loop)
        text = "sequential aget (one CPU): <= 0.6x django-vcache's latency"
        t.compare(13, text, loop, "aget", ours, vcache, 0.6, latency=True)
    text = "sequential sync get (one CPU): <= 1.3x redis-benchmark -c 1's time per request"
    t.compare(13, text, None, "get", OURS, REDIS_BENCHMARK, 1.3, latency=True)
    for loop in t.loops:
        text = f"{mixed}, through django.core.cache.cache: ahead of every peer"
        t.ahead_of_peers(text, loop, "concurrent_proxy")
    for loop in t.loops:
        t.ahead_of_peers("end to end under uvicorn (req/s): ahead of every peer", loop, "e2e_rps")
    pure = (("concurrent", mixed), ("aget", "sequential aget"), ("get", "sequential sync get"))
    for loop in t.loops:
        for workload, what in pure:
            if workload == "get" and loop != "asyncio":
                continue  # a sync call runs no loop
            mine, theirs = name_on("ours-pure", loop), name_on(BASELINE, loop)
            text = f"the pure-Python path, {what}: no slower than the baseline"
            t.compare(13, text, loop, workload, mine, theirs, 1.0)
    # Issue 3's, where issue 13 did not raise the bar.
    t.compare(3, f"{mixed}: >= 15x Django built-in", "asyncio", "concurrent", OURS, "django", 15)
    text = "sequential sync get: no slower than django-vcache"
    t.compare(3, text, None, "get", OURS, "vcache", 1.0, latency=True)
    text = "sequential sync get: <= 0.75x raw redis-py's latency"
    t.compare(3, text, None, "get", OURS, "redis-py", 0.75, latency=True)
    for loop in t.loops:
        t.burst(loop)
    return t.results


def text(results: list[dict]) -> str:
    lines: list[str] = []
    for issue in sorted({r["issue"] for r in results}, reverse=True):
        lines.append(
            f"Targets (issue {issue}), from this run:"
            if issue == 13
            else f"Standing targets (issue {issue}):"
        )
        for r in (r for r in results if r["issue"] == issue):
            where = f" [{r['loop']}]" if r["loop"] else ""
            lines.append(
                "  " + verdict_line(r["status"], f"{r['target']}{where}: {r['detail'][:400]}")
            )
    return "\n".join(lines)
