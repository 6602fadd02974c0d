"""The HTTP load test's site, served as the benchmark serves it, with our backend.

``benchmarks/e2e_site.py`` is started under uvicorn and under granian (the
loop the run names, TEST_EVENT_LOOP), one process each, on the test session's
server; every view must answer 200 with the right content: the page its three
values, the cached page the same render twice (the second from the cache), the
session view the session's user. Then Debian's ``wrk`` (apt-get installed
when missing and we are root; only if it cannot be had is the test skipped,
saying why) drives each view for a second on two connections, as
``benchmarks/http_load.py`` does, and every request must have been answered
2xx. Nothing here measures or asserts a timing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests import servers, system_packages

# The apps around the backend: one leg per Django version carries them (noxfile's MATRIX).
pytestmark = pytest.mark.apps

REPO = Path(__file__).resolve().parent.parent
APP = "benchmarks.e2e_site:application"
LOOP = os.environ.get("TEST_EVENT_LOOP", "asyncio")
# Bounds that only catch hangs.
START_TIMEOUT = 60.0
USER = "bench-user"  # what /setup/ puts in the session


@pytest.fixture(scope="module")
def wrk() -> str:
    return system_packages.program("wrk")


def _command(name: str, port: int) -> list[str]:
    if name == "uvicorn":
        return [
            sys.executable, "-m", "uvicorn", APP, "--host", "127.0.0.1", "--port", str(port),
            "--loop", LOOP, "--no-access-log", "--lifespan", "off",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "granian", "--interface", "asginl", "--host", "127.0.0.1",
        "--port", str(port), "--loop", LOOP, "--workers", "1", "--no-ws", APP,
    ]  # fmt: skip


class Site:
    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""

    def url(self, view: str) -> str:
        return f"http://127.0.0.1:{self.port}/{view}/"

    def get(self, view: str, cookie: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
        request = urllib.request.Request(self.url(view), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")


@pytest.fixture(params=["uvicorn", "granian"])
def site(request: pytest.FixtureRequest, redis_server: servers.Server) -> Iterator[Site]:
    name = request.param
    # Both come with the test extra: missing is a broken set-up, not a skip.
    assert importlib.util.find_spec(name) is not None, f"{name} is not installed"
    port = servers.free_port()
    cache = {
        "BACKEND": "django_async_redis.cache.RedisCache",
        "LOCATION": redis_server.url(),
        "KEY_PREFIX": f"http-smoke-{uuid.uuid4().hex[:8]}",
        "TIMEOUT": 300,
    }
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
        "BENCH_CACHE": json.dumps(cache),
        "BENCH_OURS": "1",
    }
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            _command(name, port), cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            yield _started(name, Site(port), process, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.seek(0)
            text = log.read()
        assert "Traceback" not in text, text


def _started(name: str, site: Site, process: subprocess.Popen[bytes], log: IO[str]) -> Site:
    """``site`` once it answers, with the session /setup/ made."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise AssertionError(f"{name} exited {process.returncode}: {log.read()}")
        try:
            status, body = site.get("setup")
            break
        except OSError:
            assert time.monotonic() < deadline, f"{name} did not answer"
            time.sleep(0.1)
    assert status == 200, body
    site.cookie = body.strip()
    return site


def test_every_view_answers_with_its_content(site: Site) -> None:
    status, body = site.get("page")
    assert status == 200
    assert body == " | ".join(f"Benchmark item number {i}" for i in range(3))

    first = site.get("cached")
    second = site.get("cached")
    assert first[0] == second[0] == 200
    assert re.fullmatch(r"cached page, render \d+", first[1]), first[1]
    # The view ran once: the second answer is the stored copy of the first.
    assert second[1] == first[1]

    assert site.get("session", site.cookie) == (200, f"hello {USER}")
    assert site.get("session") == (403, "no session")
    assert site.get("session", "x" * 32)[0] == 403


def _wrk(wrk: str, url: str, cookie: str) -> str:
    done = subprocess.run(
        [wrk, "-t1", "-c2", "-d1s", "--latency", "-H", f"Cookie: sessionid={cookie}", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("view", ["page", "cached", "session"])
def test_wrk_drives_every_view(wrk: str, site: Site, view: str) -> None:
    from benchmarks import loadgen

    out = _wrk(wrk, site.url(view), site.cookie)
    found = loadgen.parse_wrk(out)  # what the benchmark reads; no figure is asserted
    assert found["requests"], out
    assert found["errors"] == 0, out
    # Still right after the load.
    status, body = site.get(view, site.cookie)
    assert status == 200
    assert body != "no session"
