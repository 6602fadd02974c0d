"""``python3 -m benchmarks``: set up the bench venv, run everything, report.

Options:
  --quick           one short repetition of everything (a smoke run, not figures)
  --reps N          repetitions (default 5, end to end 3; medians are reported)
  --only A,B        only these contenders (names: ours, django, django-redis,
                    django-valkey, vcache, redis-py, locmem,
                    redis-benchmark)
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
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks import runner


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
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    if not args.no_setup:
        from benchmarks import bootstrap

        bootstrap.reexec_in_venv(argv)  # returns only when already in the venv

    from benchmarks import report, runner

    plan = runner.Plan.quick() if args.quick else runner.Plan()
    if args.reps:
        plan.reps = args.reps
        plan.e2e_reps = min(plan.e2e_reps, args.reps) if not args.quick else args.reps
    plan.only = {name for name in args.only.split(",") if name}
    plan.e2e_enabled = not args.skip_e2e
    plan.burst_enabled = not args.skip_burst

    if args.wait_idle:
        runner.wait_idle(args.wait_idle)
    if not args.cluster_only:
        single(plan, args)
    if args.cluster or args.cluster_only:
        from benchmarks import cluster

        started = time.time()
        found = cluster.run(plan, reps=args.reps or (1 if args.quick else None))
        print()
        print(cluster.table(found))
        print()
        print(f"JSON: {cluster.save_json(found).relative_to(report.REPO)}")
        print(f"cluster run took {time.time() - started:.0f} s")
    return 0


def single(plan: runner.Plan, args: argparse.Namespace) -> None:
    from benchmarks import report, runner

    data = runner.run_all(plan)
    data["targets"] = report.targets(data)
    print(report.table(data))
    print()
    print(report.targets_text(data["targets"]))
    print()
    print(f"JSON: {report.save_json(data).relative_to(report.REPO)}")
    if not args.no_chart:
        try:
            print(f"chart: {report.chart(data).relative_to(report.REPO)}")
        except ImportError as exc:
            print(f"chart: not drawn ({exc}; matplotlib comes with the bench extra)")
    print(f"took {data['meta']['seconds']:.0f} s")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
