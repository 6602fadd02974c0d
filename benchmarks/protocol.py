"""The lines a worker process and the runner exchange, and the worker's watchdog.

Every benchmark worker (``benchmarks.worker``, ``benchmarks.cluster_worker``,
the ``--worker`` modes of the standalone runs) speaks the same protocol on its
stdout, one JSON payload per line after a tag:

* ``BENCH-READY {json}``: set up (a kept worker then reads one workload name
  per line on stdin, ``exit`` ends it);
* ``BENCH-RESULT {json}``: one result, or ``{"unavailable": reason}`` for a
  worker that could not be set up, or ``{"error": ...}`` for a workload that
  failed or hung;
* ``BENCH-EVENT {json}``: a moment the parent may act on (the burst's
  ``ready`` and ``done``).

The parent's side of it (reading the lines, its own timeouts) is
``procs.py``; this module is imported by the workers, so it must stay light.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, Protocol

READY = "BENCH-READY"
RESULT = "BENCH-RESULT"
EVENT = "BENCH-EVENT"
HANG_LIMIT = 20.0  # seconds a workload may run past its own budget


def emit(tag: str, payload: Any) -> None:
    sys.stdout.write(f"{tag} {json.dumps(payload)}\n")
    sys.stdout.flush()


def tail(text: str, lines: int = 3) -> str:
    """The last lines of a worker's stderr, on one line: the reason it gave."""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])[:300]


def last_result(stdout: str, stderr: str, returncode: int) -> dict:
    """The last ``BENCH-RESULT`` a finished worker printed, or why there is none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT + " "):
            return json.loads(line[len(RESULT) + 1 :])
    return {"unavailable": f"worker exited {returncode}: {tail(stderr)}"}


# What the event loop's exception handler saw: a protocol callback that raised
# (connection_made, data_received) leaves its caller waiting for a timeout,
# and this says why.
LOOP_ERRORS: list[str] = []


def reason(exc: BaseException) -> str:
    """What a failed setup or workload reports: the exception, and what the
    event loop logged before it."""
    said = f"{type(exc).__name__}: {exc}".strip()
    if LOOP_ERRORS:
        said += f" (the event loop logged {LOOP_ERRORS[0]})"
    return said[:300]


def record_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """An event loop exception handler that keeps the first few for ``reason``."""
    exc = context.get("exception")
    if isinstance(exc, BaseException) and len(LOOP_ERRORS) < 5:
        frames = traceback.extract_tb(exc.__traceback__)
        where = ""
        if frames:
            parts = frames[-1].filename.replace(os.sep, "/").split("/")
            where = f" at {'/'.join(parts[-2:])}:{frames[-1].lineno}"
        LOOP_ERRORS.append(f"{type(exc).__name__}{f': {exc}' if str(exc) else ''}{where}")
    loop.default_exception_handler(context)


def _main_thread_position() -> str:
    """Where the main thread is stuck, e.g. `` at transport/sync.py:114 (peer_closed)``."""
    frame = sys._current_frames().get(threading.main_thread().ident)
    if frame is None:
        return ""
    summary = traceback.extract_stack(frame)[-1]
    parts = summary.filename.replace(os.sep, "/").split("/")
    return f" at {'/'.join(parts[-2:])}:{summary.lineno} ({summary.name})"


class Watchdog:
    """A contender that hangs must not hang the run: if a step gives no result
    within its limit, say where it hung (every stack goes to stderr) and exit.
    The parent's own timeout (``procs.WORKER_TIMEOUT``) is the backstop for a
    worker too stuck even for this thread."""

    def __init__(self) -> None:
        self.timer: threading.Timer | None = None

    def arm(self, step: str, seconds: float, fatal: bool = False) -> None:
        self.disarm()
        self.timer = threading.Timer(seconds, self._fire, (step, seconds, fatal))
        self.timer.daemon = True
        self.timer.start()

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def _fire(self, step: str, seconds: float, fatal: bool) -> None:
        faulthandler.dump_traceback(file=sys.stderr)
        where = _main_thread_position()
        if fatal:
            emit(RESULT, {"unavailable": f"hung in {step}{where}"})
        else:
            emit(RESULT, {"error": f"hung: no result after {seconds:.0f} s{where}"})
        os._exit(0)


WATCHDOG = Watchdog()


class Running(Protocol):
    """A set-up contender in a kept worker: it runs one workload per request."""

    def run(self, name: str) -> dict: ...


def serve(setup: Callable[[], tuple[Running, dict]]) -> None:
    """A kept worker's life: ``setup`` (under the watchdog: a contender that
    hangs while being set up is reported unavailable), ``BENCH-READY`` with what
    it returned, then one ``BENCH-RESULT`` per workload name read on stdin."""
    WATCHDOG.arm("setup", HANG_LIMIT, fatal=True)
    try:
        running, ready = setup()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        emit(RESULT, {"unavailable": reason(exc)})
        return
    finally:
        WATCHDOG.disarm()
    emit(READY, ready)
    for line in sys.stdin:
        name = line.strip()
        if name == "exit" or not name:
            break
        emit(RESULT, running.run(name))


def measured(
    name: str,
    job: Callable[[], dict],
    limit: float,
    commands: Callable[[], int],
    reads: int,
    check: Callable[[], None] | None = None,
) -> dict:
    """``job``'s result, under the watchdog, with the server's commands per
    operation: ``commands`` reads the server's count, and ``reads`` is how many
    commands one such reading costs (an INFO per server), taken off again. A
    contender that answers from process memory shows fewer than one per get.
    ``check`` runs first, under the watchdog but outside the count."""
    WATCHDOG.arm(name, limit + HANG_LIMIT)
    try:
        if check is not None:
            check()
        before = commands()
        result = job()
        after = commands()
        if result.get("total_ops"):
            spent = after - before - reads
            result["server_commands_per_op"] = round(spent / result["total_ops"], 3)
        return result
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return {"error": reason(exc)}
    finally:
        WATCHDOG.disarm()
