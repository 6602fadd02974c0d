"""A hung server (SIGSTOP), then back (SIGCONT): ``python3 -m benchmarks.hung``.

Every contender is configured alike: SOCKET_TIMEOUT 0.5 s (connect too) and
IGNORE_EXCEPTIONS where it has one. For each, in its own process and in turn
within each round (rounds interleave the contenders, the machine is noisy):

1. the server is stopped with SIGSTOP;
2. for 4 seconds the contender calls ``get`` (or ``aget``) back to back; every
   call that returns or raises counts as answered: answered calls per second;
3. SIGCONT; the seconds until a call returns the stored value again.

A call that never returns (a backend with no timeout) stops the count; the
window still ends on time (a watchdog thread reports). Figures are printed
and written to benchmarks/results/hung-*.json; nothing is asserted.

Options: ``--rounds N`` (default 3), ``--only ours,django,...``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from benchmarks.figures import median_range
from benchmarks.procs import REPO, module_cmd
from benchmarks.protocol import emit
from benchmarks.report import RESULTS
from benchmarks.runner import rotated

WINDOW = 4.0
RECOVERY_LIMIT = 15.0
TIMEOUT = 0.5

# name -> (label, BACKEND, OPTIONS, has sync API)
CONTENDERS: dict[str, tuple[str, str, dict[str, Any], bool]] = {
    "ours": (
        "django-async-redis",
        "django_async_redis.cache.RedisCache",
        {"SOCKET_TIMEOUT": TIMEOUT, "IGNORE_EXCEPTIONS": True},
        True,
    ),
    "django": (
        "Django built-in RedisCache (no IGNORE_EXCEPTIONS)",
        "django.core.cache.backends.redis.RedisCache",
        {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT},
        True,
    ),
    "django-redis": (
        "django-redis",
        "django_redis.cache.RedisCache",
        {"SOCKET_TIMEOUT": TIMEOUT, "SOCKET_CONNECT_TIMEOUT": TIMEOUT, "IGNORE_EXCEPTIONS": True},
        True,
    ),
    "django-valkey": (
        "django-valkey (async)",
        "django_valkey.async_cache.cache.AsyncValkeyCache",
        {"SOCKET_TIMEOUT": TIMEOUT, "SOCKET_CONNECT_TIMEOUT": TIMEOUT, "IGNORE_EXCEPTIONS": True},
        False,
    ),
    "vcache": (
        "django-vcache (has no socket timeout option)",
        "django_vcache.backend.ValkeyCache",
        {"IGNORE_EXCEPTIONS": True, "SERIALIZER": "pickle"},
        True,
    ),
}


# the worker: one contender, one mode, one process ---------------------------------


def worker(name: str, url: str, mode: str) -> None:
    _label, backend, options, _has_sync = CONTENDERS[name]
    from django.conf import settings

    settings.configure(
        CACHES={"default": {"BACKEND": backend, "LOCATION": url, "OPTIONS": options}},
        SECRET_KEY="benchmarks",
        USE_TZ=True,
    )
    import django

    django.setup()
    from django.core.cache import cache

    loop = asyncio.new_event_loop()
    if mode == "sync":
        cache.set("hung-key", "stored")

        def call() -> Any:
            return cache.get("hung-key", "default")
    else:
        loop.run_until_complete(cache.aset("hung-key", "stored"))

        def call() -> Any:
            return loop.run_until_complete(cache.aget("hung-key", "default"))

    assert call() == "stored"
    answered = 0
    window_over = threading.Event()

    def report_window() -> None:
        emit("WINDOW", {"answered": answered})
        window_over.set()

    emit("READY", None)
    sys.stdin.readline()  # the parent has stopped the server
    threading.Timer(WINDOW, report_window).start()
    while not window_over.is_set():
        # An error counts as an answer too: the caller got it at once.
        with contextlib.suppress(Exception):
            call()
        answered += 1
    resumed = time.monotonic()  # the parent sends SIGCONT as soon as it reads WINDOW
    while time.monotonic() - resumed < RECOVERY_LIMIT:
        try:
            if call() == "stored":
                emit("RECOVERED", {"seconds": time.monotonic() - resumed})
                os._exit(0)
        except Exception:
            time.sleep(0.005)
    emit("RECOVERED", {"seconds": None})
    os._exit(0)


# the parent --------------------------------------------------------------------------


def _one(name: str, mode: str, url: str, pid: int) -> dict[str, Any]:
    # Not procs.run_once: the parent talks with this worker while it runs
    # (the server is stopped between its READY and its WINDOW).
    process = subprocess.Popen(
        module_cmd("benchmarks.hung", "--worker", name, url, mode),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert process.stdin is not None and process.stdout is not None
    result: dict[str, Any] = {}
    try:
        line = process.stdout.readline()
        if not line.startswith("READY"):
            return {"error": f"did not start: {line.strip() or 'no output'}"}
        os.kill(pid, signal.SIGSTOP)
        stopped = True
        process.stdin.write("go\n")
        process.stdin.flush()
        deadline = time.monotonic() + WINDOW + 5
        for line in process.stdout:
            tag, _, payload = line.partition(" ")
            if tag == "WINDOW":
                result["per_second"] = json.loads(payload)["answered"] / WINDOW
                os.kill(pid, signal.SIGCONT)
                stopped = False
            elif tag == "RECOVERED":
                result["recovery"] = json.loads(payload)["seconds"]
                break
            if time.monotonic() > deadline + RECOVERY_LIMIT:
                break
    finally:
        if stopped:
            os.kill(pid, signal.SIGCONT)
        process.kill()
        process.wait()
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hung", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="")
    parser.add_argument("--worker", nargs=3, metavar=("NAME", "URL", "MODE"))
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return 0
    from benchmarks import bootstrap

    bootstrap.reexec_in_venv(argv, "benchmarks.hung")
    from benchmarks import server as bench_server

    names = [n for n in CONTENDERS if not args.only or n in args.only.split(",")]
    server = bench_server.start()
    pid = server.pid()
    assert pid is not None, "the server's process id is needed to stop it"
    runs: dict[str, list[dict[str, Any]]] = {}
    try:
        for round_number in range(args.rounds):
            for name in rotated(names, round_number):
                for mode in ("sync", "async"):
                    if mode == "sync" and not CONTENDERS[name][3]:
                        continue
                    outcome = _one(name, mode, server.url, pid)
                    runs.setdefault(f"{name}/{mode}", []).append(outcome)
                    print(f"round {round_number + 1} {name} {mode}: {outcome}", flush=True)
    finally:
        server.stop()
    print(_table(runs))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"hung-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps({"server": server.version, "runs": runs}, indent=1))
    print(f"JSON: {path}")
    return 0


def _table(runs: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        f"hung server, SOCKET_TIMEOUT {TIMEOUT} s, {WINDOW:.0f} s window, medians (min-max)",
        "| contender | API | calls answered per second | SIGCONT to first success (s) |",
        "| --- | --- | --- | --- |",
    ]
    for key, outcomes in runs.items():
        name, mode = key.split("/")
        rates = [o["per_second"] for o in outcomes if "per_second" in o]
        recoveries = [o.get("recovery") for o in outcomes if "per_second" in o]
        finite = [r for r in recoveries if r is not None]
        rate = median_range(rates, ",.0f") if rates else "n/a"
        if len(finite) == len(recoveries) and finite:
            recovery = median_range(finite, ".2f")
        else:
            recovery = f"not within {RECOVERY_LIMIT:.0f} s in {len(recoveries) - len(finite)} runs"
        lines.append(f"| {CONTENDERS[name][0]} | {mode} | {rate} | {recovery} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
