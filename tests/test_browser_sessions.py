"""End to end in a real browser: examples/sessions_demo under uvicorn, driven by
headless Chromium through Playwright.

What it proves: a login through Django's admin creates a session in Redis that a
second page sees; logging out removes that session's key from Redis; and "log
out everywhere" (and "log out other devices") in one browser ends the session
of another browser, which has its own profile and cookie jar.

Set-up is the test's own: the ``playwright`` package is pip-installed into the
running interpreter if missing (its bundled browsers are never downloaded), and
Debian's ``chromium`` is apt-get installed if missing and we are root. Only
when Chromium cannot be had is the test skipped, saying why.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis

from django_async_redis.sessions import SESSION_KEY_PREFIX, USER_INDEX_KEY_PREFIX
from tests import servers

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "sessions_demo"
DEMO_REDIS_DB = 13
USERNAME, PASSWORD = "alice", "correct horse battery staple"

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
APT_LOCK = Path(tempfile.gettempdir()) / "django-async-redis-apt-chromium.lock"
# Bounds that only catch hangs; nothing here is a performance assertion.
INSTALL_TIMEOUT = 1200
COMMAND_TIMEOUT = 300
SERVER_START_TIMEOUT = 60.0
BROWSER_TIMEOUT_MS = 30_000


# ---------------------------------------------------------------- what we need installed


def _apt_install_chromium() -> str:
    """Install Debian's chromium; returns why it failed ("" on success)."""
    if shutil.which("apt-get") is None:
        return "there is no apt-get on this machine"
    if os.geteuid() != 0:
        return "installing it needs root (apt-get install chromium)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
    ):
        try:
            done = subprocess.run(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"{' '.join(command)} failed: {error}"
        if done.returncode != 0:
            return f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()[-500:]}"
    return ""


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        # Test runs of several legs at once must not race for dpkg's lock.
        with open(APT_LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = shutil.which("chromium")
            reason = "" if path else _apt_install_chromium()
        path = shutil.which("chromium")
        if path is None:
            pytest.skip(f"Chromium is not installed and could not be installed: {reason}")
    return path


def _ensure_module(module: str, requirement: str) -> ModuleType:
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
    return _ensure_module("playwright.sync_api", "playwright")


# ---------------------------------------------------------------- the demo server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"uvicorn did not listen within {SERVER_START_TIMEOUT}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def demo_redis(redis_server: servers.Server) -> Iterator[redis.Redis]:
    client = redis_server.client(db=DEMO_REDIS_DB)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def demo_url(
    chromium: str,
    redis_server: servers.Server,
    demo_redis: redis.Redis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    _ensure_module("uvicorn", "uvicorn")
    workdir = tmp_path_factory.mktemp("sessions_demo")
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="sessions_demo.settings",
        REDIS_URL=redis_server.url(db=DEMO_REDIS_DB),
        DEMO_DB=str(workdir / "demo.sqlite3"),
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    for command in (
        ["manage.py", "migrate", "--noinput"],
        [
            "manage.py",
            "createsuperuser",
            "--noinput",
            "--username",
            USERNAME,
            "--email",
            "a@x.test",
        ],
    ):
        done = subprocess.run(
            [sys.executable, *command],
            cwd=DEMO,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    port = _free_port()
    log = workdir / "uvicorn.log"
    with log.open("wb") as out:
        uvicorn = ["uvicorn", "sessions_demo.asgi:application", "--lifespan", "off"]
        # Said outright: uvicorn's default loop ("auto") is uvloop wherever it is
        # installed; this is the one the run names (TEST_EVENT_LOOP, see conftest.py).
        uvicorn += ["--loop", os.environ.get("TEST_EVENT_LOOP", "asyncio")]
        process = subprocess.Popen(
            [sys.executable, "-m", *uvicorn, "--host", "127.0.0.1", "--port", str(port)],
            cwd=DEMO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


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


def sign_in(context: Any, base: str) -> Any:
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(base + "/")
    assert page.inner_text("#status").startswith("Not signed in")
    page.click("#login")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(base + "/")
    assert page.inner_text("#username") == USERNAME
    return page


def session_cookie(context: Any) -> str | None:
    for cookie in context.cookies():
        if cookie["name"] == "sessionid":
            return str(cookie["value"])
    return None


def stored_session(r: redis.Redis, session_key: str) -> dict[str, Any] | None:
    # The demo's cache has no KEY_PREFIX and VERSION 1: Django's key format.
    raw = r.get(f":1:{SESSION_KEY_PREFIX}{session_key}")
    return None if raw is None else dict(json.loads(raw))


def indexed_sessions(r: redis.Redis) -> set[str]:
    members: set[str] = set()
    for key in r.scan_iter(match=f":1:{USER_INDEX_KEY_PREFIX}*"):
        found: list[Any] = r.zrange(key, 0, -1)
        members.update(member.decode() for member in found)
    return members


# ---------------------------------------------------------------- the tests


def test_admin_login_second_page_and_logout(
    browsers: Browsers, demo_url: str, clean_redis: redis.Redis, tmp_path: Path
) -> None:
    browser = browsers.open("a")
    home = sign_in(browser, demo_url)
    key = session_cookie(browser)
    assert key is not None
    stored = stored_session(clean_redis, key)
    assert stored is not None and stored["_auth_user_id"]
    assert indexed_sessions(clean_redis) == {key}
    assert home.locator("li.session").count() == 1

    # A second page of the same browser sees the signed-in user.
    second = browser.new_page()
    second.goto(demo_url + "/admin/")
    assert second.locator("#user-tools strong").text_content() == USERNAME
    second.screenshot(path=str(tmp_path / "admin.png"))
    second.close()

    home.click("#logout")
    home.wait_for_load_state()
    assert stored_session(clean_redis, key) is None
    assert indexed_sessions(clean_redis) == set()
    home.goto(demo_url + "/")
    assert home.inner_text("#status").startswith("Not signed in")


def test_log_out_everywhere_ends_another_browsers_session(
    browsers: Browsers, demo_url: str, clean_redis: redis.Redis, tmp_path: Path
) -> None:
    laptop, phone = browsers.open("laptop"), browsers.open("phone")
    laptop_page, phone_page = sign_in(laptop, demo_url), sign_in(phone, demo_url)
    laptop_key, phone_key = session_cookie(laptop), session_cookie(phone)
    assert laptop_key and phone_key and laptop_key != phone_key
    assert indexed_sessions(clean_redis) == {laptop_key, phone_key}
    laptop_page.reload()
    assert laptop_page.locator("li.session").count() == 2
    laptop_page.screenshot(path=str(tmp_path / "two-sessions.png"))

    # "Log out other devices" on the phone ends the laptop's session only.
    phone_page.click("#logout-others")
    phone_page.wait_for_url(demo_url + "/")
    assert phone_page.inner_text("#username") == USERNAME
    assert stored_session(clean_redis, laptop_key) is None
    laptop_page.reload()
    assert laptop_page.inner_text("#status").startswith("Not signed in")

    # "Log out everywhere" on the laptop ends the phone's session too.
    laptop_page = sign_in(laptop, demo_url)
    laptop_key = session_cookie(laptop)
    assert laptop_key is not None
    assert indexed_sessions(clean_redis) == {laptop_key, phone_key}
    laptop_page.click("#logout-everywhere")
    laptop_page.wait_for_url(demo_url + "/")
    assert laptop_page.inner_text("#status").startswith("Not signed in")
    assert stored_session(clean_redis, laptop_key) is None
    assert stored_session(clean_redis, phone_key) is None
    assert indexed_sessions(clean_redis) == set()

    phone_page.reload()
    assert phone_page.inner_text("#status").startswith("Not signed in")
    phone_page.goto(demo_url + "/admin/")
    assert "/admin/login/" in phone_page.url
    phone_page.screenshot(path=str(tmp_path / "phone-after.png"))
