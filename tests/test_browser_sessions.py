"""Sessions end to end in real browsers: the demo (examples/demo, served by
scripts/demo under uvicorn) driven by headless Chromium through Playwright.

What it proves: a sign-in creates a session in Redis that a second page (the
admin) sees; logging out removes that session's key and its index entry from
Redis; and "log out other devices" / "log out everywhere" in one browser end
the session of another browser, which has its own profile and cookie jar.
Chromium, Playwright and the served demo come from tests/browser.py.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis

from django_async_redis.sessions import SESSION_KEY_PREFIX, USER_INDEX_KEY_PREFIX
from tests import servers
from tests.browser import BROWSER_TIMEOUT_MS, CHROMIUM_FLAGS, chromium, playwright_api, running_demo

# The apps around the backend: one leg per Django version carries them (noxfile's MATRIX).
pytestmark = pytest.mark.apps

__all__ = ["chromium", "playwright_api"]  # fixtures, used by name

DEMO_REDIS_DB = 13
USERNAME = "demo"  # the user scripts/demo makes (its password is in the banner)
# The demo's cache: KEY_PREFIX "demo", VERSION 1 (Django's key format).
KEY_FORMAT = "demo:1:{}"


@pytest.fixture(scope="module")
def demo_redis(redis_server: servers.Server) -> Iterator[redis.Redis]:
    client = redis_server.client(db=DEMO_REDIS_DB)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def demo(
    chromium: str,
    redis_server: servers.Server,
    demo_redis: redis.Redis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str]]:
    """scripts/demo on the session server's database 13: (base URL, the demo user's password)."""
    state = tmp_path_factory.mktemp("sessions-demo")
    with running_demo(state, REDIS_URL=redis_server.url(db=DEMO_REDIS_DB)) as served:
        yield served


# ---------------------------------------------------------------- browsers


class Browsers:
    """Separate Chromium instances, each with a fresh --user-data-dir (its own cookies)."""

    def __init__(self, api: ModuleType, chromium: str, root: Path) -> None:
        self._manager = api.sync_playwright()
        self._playwright = self._manager.__enter__()
        self._chromium = chromium
        self._root = root
        self._contexts: list[Any] = []

    def open(self, name: str) -> Any:
        profile = self._root / f"profile-{name}"
        profile.mkdir()
        # launch_persistent_context is how Playwright takes an explicit
        # --user-data-dir (it refuses the flag in plain launch()).
        context = self._playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=self._chromium,
            headless=True,
            chromium_sandbox=False,
            args=CHROMIUM_FLAGS,
        )
        context.set_default_timeout(BROWSER_TIMEOUT_MS)
        self._contexts.append(context)
        return context

    def close(self) -> None:
        for context in self._contexts:
            with contextlib.suppress(Exception):
                context.close()
        self._manager.__exit__(None, None, None)


@pytest.fixture
def clean_redis(demo_redis: redis.Redis) -> redis.Redis:
    """The demo's database, emptied so each test sees only its own sessions."""
    demo_redis.flushdb()
    return demo_redis


@pytest.fixture
def browsers(playwright_api: ModuleType, chromium: str, tmp_path: Path) -> Iterator[Browsers]:
    opened = Browsers(playwright_api, chromium, tmp_path)
    try:
        yield opened
    finally:
        opened.close()


def signed_out(page: Any, base: str) -> bool:
    """The sessions page sends a signed-out browser to the sign-in page."""
    page.goto(base + "/sessions/")
    return "/login/" in page.url


def sign_in(context: Any, demo: tuple[str, str]) -> Any:
    base, password = demo
    page = context.pages[0] if context.pages else context.new_page()
    assert signed_out(page, base)
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", password)
    page.click("#login-submit")
    page.wait_for_url(base + "/sessions/")
    assert page.inner_text("#username") == USERNAME
    return page


def session_cookie(context: Any) -> str | None:
    for cookie in context.cookies():
        if cookie["name"] == "sessionid":
            return str(cookie["value"])
    return None


def stored_session(r: redis.Redis, session_key: str) -> dict[str, Any] | None:
    raw = r.get(KEY_FORMAT.format(SESSION_KEY_PREFIX + session_key))
    return None if raw is None else dict(json.loads(raw))


def indexed_sessions(r: redis.Redis) -> set[str]:
    members: set[str] = set()
    for key in r.scan_iter(match=KEY_FORMAT.format(USER_INDEX_KEY_PREFIX + "*")):
        found: list[Any] = r.zrange(key, 0, -1)
        members.update(member.decode() for member in found)
    return members


# ---------------------------------------------------------------- the tests


def test_sign_in_second_page_and_logout(
    browsers: Browsers, demo: tuple[str, str], clean_redis: redis.Redis, tmp_path: Path
) -> None:
    base = demo[0]
    browser = browsers.open("a")
    home = sign_in(browser, demo)
    key = session_cookie(browser)
    assert key is not None
    stored = stored_session(clean_redis, key)
    assert stored is not None and stored["_auth_user_id"]
    assert indexed_sessions(clean_redis) == {key}
    assert home.locator("li.session").count() == 1

    # A second page of the same browser sees the signed-in user.
    second = browser.new_page()
    second.goto(base + "/admin/")
    assert second.locator("#user-tools strong").text_content() == USERNAME
    second.screenshot(path=str(tmp_path / "admin.png"))
    second.close()

    home.click("#logout")
    home.wait_for_url("**/login/")
    assert stored_session(clean_redis, key) is None
    assert indexed_sessions(clean_redis) == set()
    assert signed_out(home, base)


def test_log_out_everywhere_ends_another_browsers_session(
    browsers: Browsers, demo: tuple[str, str], clean_redis: redis.Redis, tmp_path: Path
) -> None:
    base = demo[0]
    laptop, phone = browsers.open("laptop"), browsers.open("phone")
    laptop_page, phone_page = sign_in(laptop, demo), sign_in(phone, demo)
    laptop_key, phone_key = session_cookie(laptop), session_cookie(phone)
    assert laptop_key and phone_key and laptop_key != phone_key
    assert indexed_sessions(clean_redis) == {laptop_key, phone_key}
    laptop_page.reload()
    assert laptop_page.locator("li.session").count() == 2
    laptop_page.screenshot(path=str(tmp_path / "two-sessions.png"))

    # "Log out other devices" on the phone ends the laptop's session only.
    phone_page.click("#logout-others")
    phone_page.wait_for_url(base + "/sessions/")
    assert phone_page.inner_text("#username") == USERNAME
    assert stored_session(clean_redis, laptop_key) is None
    assert signed_out(laptop_page, base)

    # "Log out everywhere" on the laptop ends the phone's session too.
    laptop_page = sign_in(laptop, demo)
    laptop_key = session_cookie(laptop)
    assert laptop_key is not None
    assert indexed_sessions(clean_redis) == {laptop_key, phone_key}
    laptop_page.click("#logout-everywhere")
    laptop_page.wait_for_url("**/login/")
    assert stored_session(clean_redis, laptop_key) is None
    assert stored_session(clean_redis, phone_key) is None
    assert indexed_sessions(clean_redis) == set()

    assert signed_out(phone_page, base)
    phone_page.goto(base + "/admin/")
    assert "/admin/login/" in phone_page.url
    phone_page.screenshot(path=str(tmp_path / "phone-after.png"))
