"""The HTTP load test: Debian's ``wrk`` against ``benchmarks/e2e_site.py``.

``python3 -m benchmarks --http-only`` runs it (``--quick`` for a smoke size).
Each *cell* is one (server, loop, view, connections, contender): one ``wrk
-t1 -cN -dS --latency`` run, with the session's cookie, while a thread
counts the Redis connections each process of the server holds
(``connections.py``). What runs is the plan's (``http_plan.py``).

The servers, one worker process each (``http_plan.CONFIGS``):

* uvicorn (httptools) and granian (``--interface asginl``: Django's ASGI
  handler speaks no lifespan), each on asyncio's loop and on uvloop's: the
  async views ``/page/``, ``/cached/`` and ``/session/``;
* gunicorn with sync workers, and with gthread workers of 4 threads: the sync
  view ``/page-sync/``.

Rounds: in each round every server configuration runs every contender, a
different contender first each round (``runner.rotated``); a contender's
server is started, its values and session are written (``/setup/``), it is
warmed up, all its cells run, and it is stopped. Figures are medians over the
rounds with their spread; ratios (``http_report.py``, through ``figures.py``)
are taken within a round.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks import loadgen, report, runner
from benchmarks import server as servers
from benchmarks.backends import Backend
from benchmarks.connections import ConnectionCounter
from benchmarks.http_plan import LABELS, SYNC_PATHS, Config, HttpPlan, contenders, serving
from benchmarks.procs import REPO

JSON_PATH = report.RESULTS / "http-latest.json"

VERSIONS = (
    "Django", "django-async-redis", "django-vcache", "django-valkey", "django-cachex",
    "django-redis", "redis", "uvicorn", "granian", "gunicorn", "uvloop", "httptools",
)  # fmt: skip


def log(message: str) -> None:
    runner.log(message, "http")


def wrk(url: str, connections: int, seconds: float, cookie: str) -> dict:
    cmd = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(int(seconds), 1)}s", "--latency",
        "--timeout", "30s", "-H", f"Cookie: sessionid={cookie}", url,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 90)
    result = loadgen.parse_wrk(done.stdout)
    if non2xx := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", done.stdout):
        result["non_2xx"] = int(non2xx.group(1))
    if sock := re.search(r"Socket errors: (.*)", done.stdout):
        result["socket_errors"] = sock.group(1).strip()
    if not result["requests"]:
        result["failed"] = f"no request answered within wrk -d{max(int(seconds), 1)}s"
    elif result["errors"] > 0.01 * (result["requests"] or 1):
        kinds = ", ".join(
            f"{what} {result[key]}" for key, what in (("non_2xx", "non-2xx"), ("socket_errors",
            "socket errors:")) if key in result
        )  # fmt: skip
        result["failed"] = f"{result['errors']} of {result['requests']} requests failed ({kinds})"
    return result


class Site:
    """One contender's site under one server configuration."""

    def __init__(self, config: Config, backend: Backend, server: servers.Server) -> None:
        self.config, self.backend = config, backend
        self.port = servers.free_port()
        settings = backend.cache_settings(server.url)
        if config.wsgi and backend.name in SYNC_PATHS:
            settings["BACKEND"] = SYNC_PATHS[backend.name]
        env = {
            **backend.environ(),
            "BENCH_CACHE": json.dumps(settings),
            "BENCH_OURS": "1" if backend.base.startswith("ours") else "0",
        }
        self.errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            config.command(self.port),
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.errors,
            start_new_session=True,  # stop() ends the server and its workers together
        )
        self.cookie = ""

    def url(self, view: str) -> str:
        return f"http://127.0.0.1:{self.port}/{view}/"

    def get(self, view: str, timeout: float = 10) -> tuple[int, str]:
        request = urllib.request.Request(
            self.url(view), headers={"Cookie": f"sessionid={self.cookie}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def setup(self, deadline: float = 30) -> None:
        """Wait until the site answers; write its values and the session."""
        view = "setup-sync" if self.config.wsgi else "setup"
        until = time.monotonic() + deadline
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited {self.proc.returncode}: {self.stderr()}")
            try:
                status, body = self.get(view)
                break
            except OSError as exc:
                if time.monotonic() > until:
                    raise RuntimeError(f"no answer from the site: {exc}") from None
                time.sleep(0.1)
        if status != 200:
            raise RuntimeError(f"/{view}/ answered {status}: {body[:200]}")
        self.cookie = body.strip()

    def check(self, view: str) -> str | None:
        """Why ``view`` does not answer as it should, or None."""
        try:
            status, body = self.get(view)
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
        if status != 200:
            said = body[:160] if "<html" not in body else ""
            return f"/{view}/ answered {status}: {said} {self.stderr()}"[:300]
        return None

    def stderr(self) -> str:
        """The last exception the server logged (else its last line)."""
        self.errors.seek(0)
        lines = [x.strip() for x in self.errors.read().strip().splitlines() if x.strip()]
        raised = [x for x in lines if re.match(r"[\w.]+(Error|Exception)\b", x)]
        return (raised or lines or [""])[-1][:240]

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
            self.proc.wait()
        self.errors.close()


def run_site(
    config: Config, backend: Backend, server: servers.Server, plan: HttpPlan
) -> dict[tuple[str, int], dict]:
    """Every cell of one contender under one configuration."""
    cells = plan.cells(config)
    site = Site(config, backend, server)
    try:
        try:
            site.setup()
        except (RuntimeError, OSError) as exc:
            return {cell: {"unavailable": str(exc)[:300]} for cell in cells}
        broken = {view: site.check(view) for view in dict.fromkeys(v for v, _ in cells)}
        warm = next((v for v in ("page", "page-sync") if v in broken and not broken[v]), None)
        if warm:
            wrk(site.url(warm), 50, plan.warmup, site.cookie)
        found = {}
        for view, conns in cells:
            if broken[view]:
                found[(view, conns)] = {"unavailable": broken[view]}
                continue
            with ConnectionCounter(site.proc.pid, server.port) as counter:
                try:
                    result = wrk(site.url(view), conns, plan.seconds, site.cookie)
                except (RuntimeError, subprocess.SubprocessError) as exc:
                    result = {"unavailable": f"{type(exc).__name__}: {exc}"[:300]}
            result["redis_conns_per_process"] = counter.per_process
            result["processes_holding"] = counter.workers
            if after := site.check(view):  # it broke under load
                result.setdefault("failed", after)
            found[(view, conns)] = result
        return found
    finally:
        site.stop()


def run(plan: HttpPlan) -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    started = time.time()
    server = servers.start()
    log(f"server: {server.version} at {server.url}")
    backends = contenders(plan)
    meta = runner.conditions(server.version, VERSIONS)
    meta["versions"]["wrk"] = _wrk_version()
    meta["plan"] = {
        k: (list(v) if isinstance(v, (tuple, set)) else v)
        for k, v in plan.__dict__.items()
        if k not in ("configs", "only")
    }
    meta["configs"] = [c.name for c in plan.configs]
    data: dict[str, Any] = {
        "meta": meta,
        "contenders": {
            b.name: {
                "label": LABELS.get(b.name, b.label),
                "path": b.path,
                "wsgi_path": SYNC_PATHS.get(b.name, b.path),
            }
            for b in backends
        },
        "cells": [],
    }
    try:
        for rnd in range(plan.rounds):
            t0 = time.monotonic()
            for config in plan.configs:
                for backend in runner.rotated(serving(backends, config), rnd):
                    for (view, conns), result in run_site(config, backend, server, plan).items():
                        data["cells"].append(
                            {
                                "round": rnd,
                                "config": config.name,
                                "view": view,
                                "connections": conns,
                                "contender": backend.name,
                                **result,
                            }
                        )
                    log(f"round {rnd + 1}: {config.name}: {backend.name} done")
            log(f"round {rnd + 1}/{plan.rounds}: {time.monotonic() - t0:.0f} s")
    finally:
        server.stop()
    runner.finish(meta, started)
    return data


def _wrk_version() -> str | None:
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0][:80] if text else None


def save_json(data: dict) -> Path:
    return report.save_json(data, JSON_PATH)
