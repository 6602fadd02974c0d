"""Stage 2 of the pipeline: running a plan, in interleaved rounds.

On a shared VM every client's figures drift by 2-3x over a minute, so no
contender runs all its repetitions in one go: each round runs one workload
across every contender back to back (who goes first rotates from round to
round), then the next workload. The ratios of ``figures.py`` are taken within
a round, where the machine was the same for both.

Two shapes of run, one implementation each:

* ``Rounds``: every contender's worker process is set up once and kept for
  all the rounds (the main suite's workloads, the cluster run);
* ``interleave``: each contender's figures come from a fresh process per
  round (the standalone runs, whose measure is Django building its backend).

The HTTP load test and the one-shot runs (burst, end to end) use ``rotated``
for the same rotation. ``conditions`` and ``finish`` record what the machine
was like, for every run's JSON.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TypeVar

from benchmarks.procs import KeptWorker, Placement, module_cmd, run_once

T = TypeVar("T")
K = TypeVar("K")  # what interleave measures: a contender's name, or (threads, name)


def log(message: str, prefix: str = "bench") -> None:
    print(f"[{prefix}] {message}", file=sys.stderr, flush=True)


def rotated(items: Sequence[T], rnd: int) -> list[T]:
    """``items`` with a different one first in each round."""
    shift = rnd % len(items) if items else 0
    return [*items[shift:], *items[:shift]]


def version(dist: str) -> str | None:
    """The installed version of distribution ``dist``, None when it is not."""
    if not dist:
        return None
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def conditions(server: str, dists: Iterable[str]) -> dict[str, Any]:
    """The ``meta`` every run's JSON starts with: when, on what, how busy."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "server": server,
        "versions": {d: version(d) for d in dists},
        "load_average_at_start": os.getloadavg()[0],
    }


def finish(meta: dict[str, Any], started: float) -> None:
    """What the run took, and how busy the machine was at its end."""
    meta["seconds"] = round(time.time() - started, 1)
    meta["load_average_at_end"] = os.getloadavg()[0]


def wait_idle(limit: float, threshold: float = 0.5) -> None:
    """Wait (at most ``limit`` seconds) for the 1-minute load average to drop."""
    deadline = time.monotonic() + limit
    while (load := os.getloadavg()[0]) >= threshold and time.monotonic() < deadline:
        log(f"waiting for an idle machine: load average {load:.2f}")
        time.sleep(10)


@dataclass(frozen=True)
class Step:
    """One workload of a round: its result key, what the worker is asked to
    run, and whether the worker and the servers share one CPU meanwhile."""

    key: str
    workload: str
    pinned: bool


class Rounds:
    """Contenders' kept workers, and the rounds run across them.

    ``start(name)`` makes a contender's worker; ``ready(name, worker)`` sees it
    once set up (it may set ``worker.unavailable``, and records what the
    worker said). A workload that hangs or crashes its worker is reported as
    an error and not tried again; the worker is restarted for the others.
    """

    def __init__(
        self,
        names: list[str],
        start: Callable[[str], KeptWorker],
        ready: Callable[[str, KeptWorker], None],
        placement: Placement,
        prefix: str = "bench",
    ) -> None:
        self.names = names
        self._start, self._ready = start, ready
        self.placement = placement
        self.prefix = prefix
        self.workers: dict[str, KeptWorker] = {}
        self.broken: dict[tuple[str, str], dict] = {}

    def _up(self, names: list[str]) -> None:
        for name in names:  # all start together, then each is waited for
            self.workers[name] = self._start(name)
        for name in names:
            worker = self.workers[name]
            worker.wait_ready()
            self._ready(name, worker)

    def _one(self, name: str, step: Step) -> dict:
        worker = self.workers[name]
        if (name, step.workload) in self.broken:
            return self.broken[(name, step.workload)]
        if step.pinned:
            self.placement.pin(worker.pid)
        try:
            result = worker.run(step.workload)
        finally:
            if step.pinned:
                self.placement.release(worker.pid)
        if worker.dead:
            self.broken[(name, step.workload)] = result
            log(f"{name}: {step.workload}: {result.get('error')}; restarting it", self.prefix)
            worker.close()
            self._up([name])
        return result

    def run(
        self,
        steps: Sequence[Step],
        rounds: int,
        applies: Callable[[str, str], bool] = lambda name, key: True,
        after: Callable[[int, Step], None] | None = None,
    ) -> dict[str, list[dict]]:
        """{contender: [{"rep": n, key: result, ...} per round it ran in]}.

        ``applies(name, key)``: whether that contender runs that step;
        ``after(round, step)``: run once a step is done for all (redis-benchmark
        runs there, right after the contenders did its workload)."""
        runs: dict[str, list[dict]] = {name: [] for name in self.names}
        try:
            self._up(self.names)
            for rnd in range(rounds):
                t0 = time.monotonic()
                results: dict[str, dict] = {name: {"rep": rnd} for name in self.names}
                for step in steps:
                    for name in rotated(self.names, rnd):
                        if self.workers[name].unavailable or not applies(name, step.key):
                            continue
                        results[name][step.key] = self._one(name, step)
                    if after is not None:
                        after(rnd, step)
                for name in self.names:
                    if len(results[name]) > 1:  # it ran something
                        runs[name].append(results[name])
                log(f"rep {rnd + 1}/{rounds}: {time.monotonic() - t0:.0f} s", self.prefix)
        finally:
            for worker in self.workers.values():
                worker.close()
        return runs


def interleave(
    names: Sequence[K],
    rounds: int,
    measure: Callable[[K], dict[str, Any] | None],
    rotate: bool = False,
) -> dict[K, dict[str, list[Any]]]:
    """{contender: {figure: [one value per round]}}: every contender measured
    once per round (``measure`` returns its figures, None when it failed), so
    the rounds, not the contenders, take the machine's drift. ``rotate``: a
    different contender first in each round."""
    figures: dict[K, dict[str, list[Any]]] = {name: {} for name in names}
    for rnd in range(rounds):
        for name in rotated(names, rnd) if rotate else names:
            for key, value in (measure(name) or {}).items():
                figures[name].setdefault(key, []).append(value)
    return figures


def fresh(
    module: str, *args: str, timeout: float, prefix: str, what: str | None = None
) -> dict[str, Any] | None:
    """One round of a standalone run's contender: ``python -m MODULE --worker
    ARGS`` in a process of its own (its own settings, a Django that never saw
    the cache), its ``BENCH-RESULT``; None, and a log line naming ``what``
    (default: the first of ARGS, the contender), when it failed."""
    found = run_once(module_cmd(module, "--worker", *args), timeout=timeout)
    if "unavailable" in found:
        log(f"{what or args[0]}: failed: {found['unavailable']}", prefix)
        return None
    return found
