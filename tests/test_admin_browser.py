"""The admin's Cache section in a real browser: Debian's Chromium, driven by Playwright.

scripts/demo serves the site (on the session server, database 13, so the test
can write a key the way the demo's cache does and check the server after each
click). Signed in as the demo user (staff, holding the three cache
permissions), it opens the overview, searches, opens a key, sets its TTL and
deletes it, each through the confirmation page; screenshots of every page go
to ``.cache/admin-*.png`` (docs/admin.md shows them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from django_async_redis.cache import RedisCache
from tests.browser import SCREENSHOTS, chromium, page, playwright_api, running_demo

# The apps around the backend: one leg per Django version carries them (noxfile's MATRIX).
pytestmark = pytest.mark.apps

__all__ = ["chromium", "page", "playwright_api"]  # fixtures, used by name

CACHE_ADMIN = "/admin/django_async_redis_admin/cache/"
DB = 13


@pytest.fixture(scope="module")
def site(
    chromium: str, tmp_path_factory: pytest.TempPathFactory, redis_server: Any
) -> Iterator[tuple[str, str, redis.Redis]]:
    raw = redis_server.client(db=DB)
    raw.flushdb()
    with running_demo(tmp_path_factory.mktemp("admin-demo"), REDIS_URL=redis_server.url(DB)) as (
        base,
        password,
    ):
        yield base, password, raw
    raw.flushdb()
    raw.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"admin-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    assert path.stat().st_size > 10_000


def test_sign_in_search_open_set_ttl_and_delete(
    page: Any, site: tuple[str, str, redis.Redis], redis_server: Any
) -> None:
    base, password, raw = site
    # Written as the demo's default cache writes (KEY_PREFIX "demo", pickled).
    demo_cache = RedisCache(redis_server.url(DB), {"KEY_PREFIX": "demo"})
    demo_cache.set(
        "report:2026-12",
        {"title": "December <b>report</b>", "rows": list(range(12))},
        timeout=None,
    )
    demo_cache.set_many({f"report:2026-{m:02}": {"month": m} for m in range(1, 12)}, 3600)
    demo_cache.hset("profile:42", mapping={"name": "Ada", "langs": ["python", "c"]})
    key = "demo:1:report:2026-12"

    page.goto(base + CACHE_ADMIN)
    assert "/admin/login/" in page.url
    page.fill("#id_username", "demo")
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(base + CACHE_ADMIN)
    assert page.locator("#alias-default tr.server-row").count() == 1
    shot(page, "overview")

    page.click("#alias-default a.browse-keys")
    page.fill("#pattern", "report:*")
    page.click("#search-submit")
    page.wait_for_selector("#page-summary")
    assert page.inner_text("#glob") == "demo:1:report:*"
    assert page.locator("tr.key-row").count() == 12
    shot(page, "keys")

    page.click(f"tr.key-row a:text-is('{key}')")
    page.wait_for_selector("#value-text")
    assert "December <b>report</b>" in page.inner_text("#value-text")  # shown, not rendered
    assert page.inner_text("#key-ttl") == "no expiry"
    shot(page, "key")

    page.fill("#seconds", "120")
    page.click("#set-ttl")
    page.wait_for_selector("#confirm")
    assert "to 120 seconds" in page.inner_text("#question")
    assert raw.ttl(key) == -1  # asked, not done
    shot(page, "confirm")
    page.click("#confirm")
    page.wait_for_selector("#key-ttl")
    assert 110 <= raw.ttl(key) <= 120
    assert page.inner_text("#key-ttl").endswith("s") and "min" in page.inner_text("#key-ttl")
    assert "Set the TTL of demo:1:report:2026-12 to 120 s" in page.inner_text("ul.messagelist")

    page.click("#delete-key")
    page.wait_for_selector("#confirm")
    assert raw.exists(key)
    page.click("#confirm")
    page.wait_for_selector("#page-summary")
    assert not raw.exists(key)
    assert "Deleted demo:1:report:2026-12" in page.inner_text("ul.messagelist")

    page.goto(base + CACHE_ADMIN + "default/server/")
    page.wait_for_selector("#info-server")
    shot(page, "server")
