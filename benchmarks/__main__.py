"""``python3 -m benchmarks``: set up the bench venv, run everything, report.

Every run goes plan -> run -> figures -> report: ``plan.py`` (what to run),
``runner.py`` (interleaved rounds over the contenders' worker processes),
``figures.py`` (medians, spreads, paired ratios), ``report.py`` /
``targets.py`` / ``chart.py`` (tables, PASS/FAIL lines, JSON, the docs
chart). The cluster run (``cluster.py``) and the HTTP load test
(``http_load.py``) plan, run and report through the same stages.

Options:
  --quick           one short repetition of everything (a smoke run, not figures)
  --reps N          repetitions (default 5, end to end 3; medians are reported)
  --only A,B        only these contenders (names: ours, ours-pure,
                    ours-baseline, django, django-redis, django-valkey, vcache,
                    redis-py, ceiling, ceiling-compiled, locmem,
                    redis-benchmark; a name takes in its runs on every loop,
                    NAME@uvloop that one only)
  --loops L,M       the event loops of the async workloads (default
                    asyncio,uvloop; asyncio is always one): every contender
                    runs on asyncio, and ours, ours-pure, ours-baseline,
                    django-valkey, vcache, redis-py and the ceilings also on
                    uvloop, in the same repetitions (end to end: ours,
                    django-valkey, vcache, locmem under uvicorn --loop uvloop)
  --baseline REF    also run our backend as it was at the git ref REF
                    (contender ours-baseline, pure-Python path, from a
                    worktree under .cache/), to compare today's pure path with
  --instructions F  the output of python -m benchmarks.instructions (its last
                    JSON line) for the instructions-per-operation target;
                    may be given once per loop
  --skip-e2e        no uvicorn + wrk run
  --skip-burst      no 2,000-task run
  --no-setup        use the running interpreter as is (no venv, no install)
  --no-chart        do not redraw docs/benchmarks.png
  --wait-idle S     first wait up to S seconds for the 1-minute load average
                    to fall below 0.5 (a shared machine gives noisy figures)
  --cluster         after the single-server run, the Redis Cluster run
                    (benchmarks/cluster.py: 3 primaries + 3 replicas started
                    here, 7 rounds unless --reps; about 2.5 minutes); --only
                    also picks its contenders (ours, redis-py, django-valkey,
                    vcache, ours-single)
  --cluster-only    the Redis Cluster run alone
  --http            after the single-server run, the HTTP load test
                    (benchmarks/http_load.py: wrk against benchmarks/e2e_site.py
                    under uvicorn, granian and gunicorn; 3 rounds unless --reps;
                    --quick makes it one short round); --only also picks its
                    contenders (ours, vcache, django-valkey, cachex,
                    django-redis, django, locmem)
  --http-only       the HTTP load test alone
  --http-servers S  its server configurations only (uvicorn, granian,
                    gunicorn-sync, gunicorn-gthread, or uvicorn/uvloop, ...)
  --http-seconds N  wrk -d per cell (default 3; --quick: 1)
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from benchmarks.backends import LOOPS

if TYPE_CHECKING:
    from benchmarks.plan import Plan


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int)
    parser.add_argument("--only", default="")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--skip-burst", action="store_true")
    parser.add_argument("--no-setup", action="store_true")
    parser.add_argument("--no-chart", action="store_true")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="S")
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--cluster-only", action="store_true")
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--http-only", action="store_true")
    parser.add_argument("--http-servers", default="")
    parser.add_argument("--http-seconds", type=int)
    parser.add_argument("--loops", default=",".join(LOOPS))
    parser.add_argument("--baseline", metavar="REF")
    parser.add_argument("--instructions", action="append", default=[], metavar="F")
    args = parser.parse_args(argv)
    loops = tuple(dict.fromkeys(x for x in args.loops.split(",") if x))
    if "asyncio" not in loops or not set(loops) <= set(LOOPS):
        parser.error(f"--loops: a list of {', '.join(LOOPS)} that holds asyncio")
    args.loops = loops
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    if not args.no_setup:
        from benchmarks import bootstrap

        bootstrap.reexec_in_venv(argv)  # returns only when already in the venv
        bootstrap.build_compiled_core()

    from benchmarks import runner
    from benchmarks.plan import Plan

    plan = Plan.of(
        quick=args.quick,
        reps=args.reps,
        only={name for name in args.only.split(",") if name},
        e2e=not args.skip_e2e,
        burst=not args.skip_burst,
        loops=args.loops,
        baseline=args.baseline,
    )
    if args.wait_idle:
        runner.wait_idle(args.wait_idle)
    if not (args.cluster_only or args.http_only):
        single(plan, args)
    if args.cluster or args.cluster_only:
        cluster_run(plan, args)
    if args.http or args.http_only:
        http(args, plan.only)
    return 0


def cluster_run(plan: Plan, args: argparse.Namespace) -> None:
    from benchmarks import cluster, report

    started = time.time()
    found = cluster.run(plan, reps=args.reps or (1 if args.quick else None))
    print()
    print(cluster.table(found))
    print()
    print(f"JSON: {report.shown(cluster.save_json(found))}")
    print(f"cluster run took {time.time() - started:.0f} s")


def http(args: argparse.Namespace, only: set[str]) -> None:
    from benchmarks import http_load, http_plan, http_report, report

    plan = http_plan.HttpPlan.quick() if args.quick else http_plan.HttpPlan()
    if args.reps:
        plan.rounds = args.reps
    if args.http_seconds:
        plan.seconds = args.http_seconds
    chosen = {x for x in args.http_servers.split(",") if x}
    plan = http_plan.with_only(plan, only, chosen)
    data = http_load.run(plan)
    data["targets"] = http_report.targets(data)
    print()
    print(http_report.table(data))
    print()
    print(http_report.summary(data))
    print()
    print(http_report.targets_text(data["targets"]))
    print()
    print(f"JSON: {report.shown(http_load.save_json(data))}")


def single(plan: Plan, args: argparse.Namespace) -> None:
    from benchmarks import figures, report, suite, targets

    instructions = targets.load_instructions(args.instructions)  # a bad file fails now
    data = figures.add(suite.run(plan))
    data["instructions"] = instructions
    data["targets"] = targets.evaluate(data, instructions)
    print(report.table(data))
    print()
    print(targets.text(data["targets"]))
    print()
    print(f"JSON: {report.shown(report.save_json(data))}")
    if not args.no_chart:
        try:
            from benchmarks import chart

            print(f"chart: {report.shown(chart.chart(data))}")
        except ImportError as exc:
            print(f"chart: not drawn ({exc}; matplotlib comes with the bench extra)")
    print(f"took {data['meta']['seconds']:.0f} s")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
