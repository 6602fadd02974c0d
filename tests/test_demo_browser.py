"""The demo in a real browser: Debian's Chromium, driven by Playwright.

It opens the live dashboard, waits for its figures to change on their own
(the page's simulated visitors make the traffic), checks that the charts were
drawn, and saves a screenshot under ``.cache/`` whose path it prints. Then it
runs the race from the browser. Sign-in and sessions on the same demo:
tests/test_browser_sessions.py.
Chromium, Playwright and the served demo come from tests/browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import SCREENSHOTS, chromium, page, playwright_api, running_demo

# The apps around the backend: one leg per Django version carries them (noxfile's MATRIX).
pytestmark = pytest.mark.apps

__all__ = ["chromium", "page", "playwright_api"]  # fixtures, used by name

# Bounds that only catch hangs: the figures move within a second or two.
MOVE_TIMEOUT_MS = 30_000
RACE_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def demo(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """scripts/demo on its embedded server: (base URL, the demo user's password)."""
    with running_demo(tmp_path_factory.mktemp("demo")) as served:
        yield served


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
    # The client cache answers the visitors' repeated reads in the process.
    page.wait_for_function(
        "Number(document.getElementById('local-hits').textContent.replace(/,/g, '')) > 0",
        timeout=MOVE_TIMEOUT_MS,
    )
    assert "KiB" in page.inner_text("#local-held")  # what it holds, shown
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
