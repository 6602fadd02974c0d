"""``python3 -m benchmarks.instructions``: CPU instructions per operation, by callgrind.

Timings on this machine swing by 40% from run to run; instruction counts do
not. Each contender runs the 100-task, 90% aget / 10% aset workload of the
benchmark suite for a fixed number of operations under ``valgrind
--tool=callgrind`` (every thread of the process counted, Rust threads
included), once with N operations and once with 2N: the difference over N is
what one operation costs, start-up and the populate step cancelling out.

Options:
  --ops N       operations of the shorter run (default 4000)
  --only A,B    contenders (default: ours, ours-pure, vcache, ceiling,
                ceiling-compiled); names as in benchmarks/backends.py
  --loop L      asyncio (default) or uvloop
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT = ["ours", "ours-pure", "vcache", "ceiling", "ceiling-compiled"]
TASKS = 100


def measure(name: str, url: str, ops: int, loop: str) -> int | None:
    """Instructions of one whole worker process running ``ops`` operations."""
    out = subprocess.run(
        [
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
            sys.executable, "-m", "benchmarks.instructions", "--worker", name, url,
            str(ops), loop,
        ],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or found is None or "BENCH-OK" not in out.stdout:
        tail = " | ".join(out.stderr.strip().splitlines()[-3:])[:300]
        print(f"[instructions] {name}: failed ({out.returncode}): {tail}", file=sys.stderr)
        return None
    return int(found.group(1))


def worker(name: str, url: str, ops: int, loop_kind: str) -> None:
    from benchmarks import workloads as w
    from benchmarks.backends import BY_NAME
    from benchmarks.worker import contender_environment, new_event_loop, setup_django

    backend = BY_NAME[name]
    os.environ.update(contender_environment(backend))
    if backend.kind == "ceiling":
        target = w.ceiling_target(compiled=backend.name == "ceiling-compiled")
    else:
        target = w.django_target(setup_django(backend.cache_settings(url)), has_sync=False)
    loop = new_event_loop(loop_kind)
    values = [w.value_for(i) for i in range(w.N_KEYS)]
    state = {"ops": 0, "errors": 0, "wrong": 0, "first_error": None}

    async def task(seed: int, count: int) -> None:
        rng = random.Random(seed)
        for _ in range(count):
            await w._mixed_op(target, rng, values, state, 0.1)

    async def main() -> None:
        await w.apopulate(target)
        await asyncio.gather(*(task(n, ops // TASKS) for n in range(TASKS)))

    loop.run_until_complete(main())
    if state["errors"] or state["wrong"]:
        raise SystemExit(f"{state['errors']} errors, {state['wrong']} wrong values")
    print("BENCH-OK", json.dumps(state))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        worker(argv[1], argv[2], int(argv[3]), argv[4])
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions")
    parser.add_argument("--ops", type=int, default=4000)
    parser.add_argument("--only", default=",".join(DEFAULT))
    parser.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    from benchmarks import server as servers

    server = servers.start()
    results: dict[str, float | None] = {}
    try:
        for name in [n for n in args.only.split(",") if n]:
            short = measure(name, server.url, args.ops, args.loop)
            long = measure(name, server.url, 2 * args.ops, args.loop)
            per_op = None if short is None or long is None else (long - short) / args.ops
            results[name] = per_op
            shown = "failed" if per_op is None else f"{per_op / 1000:.1f}k"
            print(f"[instructions] {name} ({args.loop}): {shown} instructions per operation")
    finally:
        server.stop()
    print(json.dumps({"loop": args.loop, "ops": args.ops, "per_op": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
