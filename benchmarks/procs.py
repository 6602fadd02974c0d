"""The contenders' worker processes, and where the sequential workloads run.

A ``ContenderProcess`` is one ``benchmarks.worker serve`` subprocess: one
contender, set up once, started with the contender's environment
(``Backend.environ``: the compiled core off, the baseline's PYTHONPATH, which
must be there when the interpreter starts), running one workload per request.
``Placement`` puts the server and one such process on a single CPU.
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
from pathlib import Path
from typing import Any

from benchmarks import server as servers
from benchmarks.backends import Backend

REPO = Path(__file__).resolve().parent.parent
WORKER_TIMEOUT = 120


def tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])[:300]


def worker_cmd(backend: Backend, url: str, mode: str, params: dict) -> list[str]:
    return [
        sys.executable, "-m", "benchmarks.worker", backend.name, url, mode, json.dumps(params)
    ]  # fmt: skip


def parse_result(stdout: str, stderr: str, returncode: int) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith("BENCH-RESULT "):
            return json.loads(line[len("BENCH-RESULT ") :])
    return {"unavailable": f"worker exited {returncode}: {tail(stderr)}"}


class ContenderProcess:
    """A ``benchmarks.worker serve`` subprocess: one contender, set up once,
    running one workload per request."""

    def __init__(self, backend: Backend, url: str, params: dict) -> None:
        self.backend = backend
        self.url = url
        self._start(worker_cmd(backend, url, "serve", params), backend.environ())

    def _start(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        """Start the worker ``cmd`` and the thread that reads its answers."""
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

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.startswith(("BENCH-READY", "BENCH-RESULT")):
                self.lines.put(line)
        self.lines.put(None)

    def _next(self, timeout: float) -> tuple[str, dict]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.proc.kill()
            return "BENCH-RESULT", {"unavailable": f"no answer within {timeout:.0f} s"}
        if line is None:
            self.proc.wait()
            self.stderr.seek(0)
            reason = f"worker exited {self.proc.returncode}: {tail(self.stderr.read())}"
            return "BENCH-RESULT", {"unavailable": reason}
        tag, _, payload = line.partition(" ")
        return tag, json.loads(payload)

    def wait_ready(self) -> None:
        tag, payload = self._next(WORKER_TIMEOUT)
        if tag != "BENCH-READY":
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


class Placement:
    """Puts the server and one contender's process on a single CPU, and back.

    On a VM a round trip between two vCPUs costs a cross-CPU wake-up (tens of
    µs, and it comes and goes with the scheduler's placement); on one CPU the
    round trip costs what the client and the server spend, which is what the
    sequential workloads compare.
    """

    def __init__(self, server: servers.Server) -> None:
        self.all = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()
        self.cpu = max(self.all) if len(self.all) > 1 else None
        self.server_pid = server.pid()
        self.works = self.cpu is not None and self.server_pid is not None
        if self.works:
            try:
                self._set(self.server_pid, self.all)
            except OSError:
                self.works = False

    @staticmethod
    def _set(pid: int, cpus: set[int]) -> None:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):  # a thread that just ended
                os.sched_setaffinity(int(tid), cpus)

    def pin(self, pid: int | None) -> None:
        if self.works:
            self._set(self.server_pid, {self.cpu})
            if pid is not None:
                self._set(pid, {self.cpu})

    def release(self, pid: int | None) -> None:
        if self.works:
            self._set(self.server_pid, self.all)
            if pid is not None:
                with contextlib.suppress(OSError):
                    self._set(pid, self.all)

    def preexec(self) -> Any:
        """For a subprocess (redis-benchmark) that runs pinned."""
        cpu = self.cpu
        return (lambda: os.sched_setaffinity(0, {cpu})) if self.works else None
