"""The parent's side of the worker processes, and where the sequential workloads run.

Every process a benchmark starts for a contender goes through here:

* ``KeptWorker``: a worker set up once and kept for the whole run, one
  workload per request (``benchmarks.worker serve``, ``benchmarks.cluster_worker``);
* ``run_once``: a worker run to its end, its last result read (the burst, the
  ``--worker`` modes of the standalone runs).

Both read the lines of ``protocol.py`` and stop a worker that says nothing
for ``WORKER_TIMEOUT`` seconds: the worker's own watchdog reports a hang, this
is the backstop when even that thread cannot run. ``Placement`` puts the
server processes and one worker on a single CPU.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from benchmarks.protocol import READY, RESULT, last_result, tail

REPO = Path(__file__).resolve().parent.parent
WORKER_TIMEOUT = 120


def module_cmd(module: str, *args: str) -> list[str]:
    """``python -m benchmarks.<module> ARGS`` with the running interpreter (the venv's)."""
    return [sys.executable, "-m", module, *args]


def worker_cmd(name: str, url: str, mode: str, params: dict) -> list[str]:
    """A ``benchmarks.worker`` process for contender ``name``."""
    return module_cmd("benchmarks.worker", name, url, mode, json.dumps(params))


class KeptWorker:
    """A worker subprocess: one contender, set up once, running one workload per
    request. ``unavailable`` says why it cannot run; ``dead`` that it must be
    restarted (it hung or crashed in a workload)."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.unavailable: str | None = None
        self.dead = False
        self.ready: dict = {}  # what BENCH-READY said
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.startswith((READY, RESULT)):
                self.lines.put(line)
        self.lines.put(None)

    def _next(self, timeout: float) -> tuple[str, dict]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.proc.kill()
            return RESULT, {"unavailable": f"no answer within {timeout:.0f} s"}
        if line is None:
            self.proc.wait()
            self.stderr.seek(0)
            reason = f"worker exited {self.proc.returncode}: {tail(self.stderr.read())}"
            return RESULT, {"unavailable": reason}
        tag, _, payload = line.partition(" ")
        return tag, json.loads(payload)

    def wait_ready(self) -> None:
        tag, payload = self._next(WORKER_TIMEOUT)
        if tag != READY:
            self.unavailable = payload.get("unavailable", str(payload))
        else:
            self.ready = payload

    def run(self, workload: str) -> dict:
        """The workload's result; ``{"error": ...}`` and ``self.dead`` when the
        worker hung (it reports that and exits), crashed or stopped answering."""
        try:
            self.proc.stdin.write(workload + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass  # it died: _next reads the EOF and says why
        _, result = self._next(WORKER_TIMEOUT)
        if "unavailable" in result:
            result = {"error": result["unavailable"]}
            self.dead = True
        elif str(result.get("error", "")).startswith("hung"):
            self.dead = True
        return result

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("exit\n")
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


def stop(proc: subprocess.Popen, grace: float = 10) -> None:
    """Ask ``proc`` to end (SIGTERM), and kill it if it has not within ``grace`` s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_once(
    cmd: list[str],
    env: dict[str, str] | None = None,
    timeout: float = WORKER_TIMEOUT,
    started: Callable[[subprocess.Popen], None] | None = None,
    line: Callable[[str], None] | None = None,
) -> dict:
    """Run a worker to its end and return its last ``BENCH-RESULT`` (or
    ``{"unavailable": why}``). ``started`` sees the process as soon as it runs
    (to watch it from outside), ``line`` each line it prints; a worker still
    running after ``timeout`` seconds is killed."""
    with tempfile.TemporaryFile(mode="w+") as errfile:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=errfile, text=True
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        lines: list[str] = []
        try:
            if started is not None:
                started(proc)
            for text in proc.stdout:
                lines.append(text)
                if line is not None:
                    line(text)
            proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        errfile.seek(0)
        return last_result("".join(lines), errfile.read(), proc.returncode)


class Placement:
    """Puts the server processes and one contender's process on a single CPU, and back.

    On a VM a round trip between two vCPUs costs a cross-CPU wake-up (tens of
    µs, and it comes and goes with the scheduler's placement); on one CPU the
    round trip costs what the client and the server spend, which is what the
    sequential workloads compare.
    """

    def __init__(self, server_pids: Iterable[int | None]) -> None:
        self.all = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()
        self.cpu = max(self.all) if len(self.all) > 1 else None
        self.server_pids = [pid for pid in server_pids if pid is not None]
        self.works = self.cpu is not None and bool(self.server_pids)
        if self.works:
            try:  # a server we may not move (REDIS_URL's, another user's): no pinning
                for pid in self.server_pids:
                    self._set(pid, self.all)
            except OSError:
                self.works = False

    @staticmethod
    def _set(pid: int, cpus: set[int]) -> None:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):  # a thread that just ended
                os.sched_setaffinity(int(tid), cpus)

    def _each(self, pid: int | None, cpus: set[int]) -> None:
        for server in self.server_pids:
            with contextlib.suppress(OSError):
                self._set(server, cpus)
        if pid is not None:
            with contextlib.suppress(OSError):  # a worker that just exited
                self._set(pid, cpus)

    def pin(self, pid: int | None) -> None:
        """The servers and ``pid`` (None: the servers only) onto the one CPU."""
        if self.works and self.cpu is not None:
            self._each(pid, {self.cpu})

    def release(self, pid: int | None) -> None:
        if self.works:
            self._each(pid, self.all)

    def preexec(self) -> Callable[[], None] | None:
        """For a subprocess (redis-benchmark) that runs pinned."""
        cpu = self.cpu
        if not self.works or cpu is None:
            return None
        return lambda: os.sched_setaffinity(0, {cpu})
