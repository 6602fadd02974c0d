"""Cached pages, fragments and sessions served by real ASGI servers, under concurrent load.

tests/pagecache_asgi_site.py is served by uvicorn and by hypercorn, each in a
process of its own on the test server's database (a key prefix per run), and
driven with concurrent HTTP/1.1 requests. Each run checks what users see (one
render of a cached page, however many ask; one render of a cached fragment;
every session counter exact) and what the process did: the cached page costs
no ``sync_to_async`` call beyond Django's own per-request baseline, and this
project's code (cache_page, the cache, the session engine) starts no thread and
calls no ``sync_to_async``, counted call by call in the server's process.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import servers

REPO = Path(__file__).resolve().parent.parent
APP = "tests.pagecache_asgi_site:application"
# The servers run on the loop the run names (TEST_EVENT_LOOP, see conftest.py),
# said outright: uvicorn's default ("auto") takes uvloop wherever it is
# installed, and the test extra installs it for the uvloop leg.
LOOP = os.environ.get("TEST_EVENT_LOOP", "asyncio")
SERVERS = {
    "uvicorn": [
        "-m", "uvicorn", APP, "--no-access-log", "--lifespan", "off", "--loop", LOOP, "--port",
    ],
    "hypercorn": ["-m", "hypercorn", APP, "--worker-class", LOOP, "--bind"],
}  # fmt: skip


class Site:
    def __init__(self, port: int) -> None:
        self.port = port

    async def get(self, path: str, cookie: str | None = None) -> tuple[int, dict[str, str], str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        headers = f"Cookie: sessionid={cookie}\r\n" if cookie else ""
        request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n"
        writer.write(request.encode())
        raw = await reader.read()
        writer.close()
        await writer.wait_closed()
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        found = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            found[name.strip().lower()] = value.strip()
        if found.get("transfer-encoding") == "chunked":
            body = _unchunk(body)
        return status, found, body.decode()

    async def counters(self) -> dict[str, int]:
        status, _, body = await self.get("/counters/")
        assert status == 200
        result: dict[str, int] = json.loads(body)
        return result


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if not size:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


@pytest.fixture(params=sorted(SERVERS))
def site(request: pytest.FixtureRequest, redis_server: servers.Server) -> Iterator[Site]:
    name = request.param
    # Both servers come with the test extra: missing is a broken set-up, not a skip.
    assert importlib.util.find_spec(name) is not None, f"{name} is not installed"
    port = servers.free_port()
    where = str(port) if name == "uvicorn" else f"127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
        "SITE_CACHE_URL": redis_server.url(),
        "SITE_KEY_PREFIX": f"asgi-{uuid.uuid4().hex[:8]}",
        "DJANGO_SETTINGS_MODULE": "tests.pagecache_asgi_site",
    }
    process = subprocess.Popen(
        [sys.executable, *SERVERS[name], where],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(port, process)
        yield Site(port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stderr is not None
        log = process.stderr.read().decode(errors="replace")
        process.stderr.close()
        assert "Traceback" not in log, log


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            assert process.stderr is not None
            raise AssertionError(f"server exited: {process.stderr.read().decode()}")
        try:
            asyncio.run(Site(port).counters())
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not start")


async def _many(site: Site, path: str, count: int, concurrency: int = 50) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> Any:
        async with gate:
            return await site.get(path)

    return list(await asyncio.gather(*(one() for _ in range(count))))


def test_pages_fragments_and_sessions_under_load(site: Site) -> None:
    async def scenario() -> dict[str, Any]:
        before = await site.counters()
        first = await site.get("/cached/")
        assert first[0] == 200 and first[2] == "page rendered 1 times"
        after_first = await site.counters()
        cached = await _many(site, "/cached/", 300)
        after_cached = await site.counters()
        plain = await _many(site, "/plain/", 100)
        after_plain = await site.counters()
        await site.get("/fragment/")
        fragments = await _many(site, "/fragment/", 100)
        after_fragments = await site.counters()

        async def visitor() -> list[str]:
            _, headers, body = await site.get("/session/")
            cookie = headers["set-cookie"].split("sessionid=")[1].split(";")[0]
            seen = [body]
            for _ in range(4):
                seen.append((await site.get("/session/", cookie))[2])
            return seen

        visits = await asyncio.gather(*(visitor() for _ in range(30)))
        final = await site.counters()
        return locals()

    run = asyncio.run(scenario())
    cached, plain, fragments = run["cached"], run["plain"], run["fragments"]
    assert {(status, body) for status, _, body in cached} == {(200, "page rendered 1 times")}
    assert all("max-age=60" in headers["cache-control"] for _, headers, _ in cached)
    assert {status for status, _, _ in plain} == {200}
    assert {body for _, _, body in fragments} == {"fragment body"}
    assert run["visits"] == [["1", "2", "3", "4", "5"]] * 30
    before, after_first, after_cached = run["before"], run["after_first"], run["after_cached"]
    after_plain, after_fragments, final = run["after_plain"], run["after_fragments"], run["final"]
    assert after_cached["renders"] == after_first["renders"] == before["renders"] + 1
    assert after_fragments["fragments"] == 1

    # sync_to_async calls per request: Django's own (its request signals) for an
    # uncached async page; the cached page adds none. Between two /counters/
    # reads lie the requests and two of those signals of the /counters/ requests.
    per_plain = (after_plain["sync_to_async"] - after_cached["sync_to_async"] - 2) / 100
    per_cached = (after_cached["sync_to_async"] - after_first["sync_to_async"] - 2) / 300
    assert per_cached == per_plain, (per_cached, per_plain)
    # Threads: Django's handler runs those signals in executors of the request's
    # own (asgiref's ThreadSensitiveContext), so it starts threads for every
    # request whatever the view; how many, and how many are alive at a given
    # moment, is scheduling (printed, not judged). What is ours is counted
    # exactly: over all 1,050 requests (cached and uncached pages, fragments,
    # sessions), this project's code started no thread and no sync_to_async.
    assert (final["ours_threads_started"], final["ours_sync_to_async"]) == (0, 0), final
    threads = final["threads_started"] - before["threads_started"]
    print(
        f"\nper request: sync_to_async calls {per_plain} plain / {per_cached} cached; "
        f"threads started by Django's handler over the run: {threads}, by ours: 0; "
        f"threads alive {before['threads_alive']} before and {final['threads_alive']} after"
    )
