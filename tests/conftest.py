"""Session set-up: a real server first, then Django.

The server is started (or ``REDIS_URL`` described) in ``pytest_configure``,
before pytest-django sets Django up, and its URL handed to ``tests.settings``.
Django's own test apps are fetched for the installed Django version and put on
``sys.path`` at the same time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

import pytest
import redis

from tests import django_source, servers


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("help", False) or config.getoption("version", 0):
        return
    _interrupt_on_sigterm()
    server = servers.session_server()
    os.environ[servers.TEST_URL_ENV] = server.url()
    django_source.add_django_tests_to_path()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    from django.conf import settings

    settings.INSTALLED_APPS  # noqa: B018  load the settings so pytest-django sets Django up


def _interrupt_on_sigterm() -> None:
    """A terminated run still stops its servers: SIGTERM ends pytest as Ctrl-C does."""
    if threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``TEST_TOPOLOGIES=0`` leaves out the multi-server topology tests.

    scripts/test sets it on the legs that do not carry them (see its MATRIX);
    unset, as when a developer runs pytest directly, everything runs.
    """
    if os.environ.get("TEST_TOPOLOGIES", "1") != "0":
        return
    kept = [item for item in items if item.get_closest_marker("topology") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def pytest_unconfigure(config: pytest.Config) -> None:
    servers.stop_all()


def pytest_report_header(config: pytest.Config) -> list[str]:
    from django.conf import settings

    server = servers.session_server()
    origin = "REDIS_URL" if not server.owned else server.binary
    return [
        f"cache server: {server.name} at {server.url()} ({origin})",
        f"cache backend: {settings.CACHES['default']['BACKEND']}",
        f"django tests: {django_source.django_tests_dir()}",
    ]


@pytest.fixture(scope="session")
def redis_server() -> servers.Server:
    """The session's server (see ``tests/servers.py``)."""
    return servers.session_server()


@pytest.fixture
def raw_redis(redis_server: servers.Server) -> Iterator[redis.Redis]:
    """A plain redis-py client on the test database."""
    client = redis_server.client()
    yield client
    client.close()


@pytest.fixture
def flushed_redis(raw_redis: redis.Redis) -> Iterator[redis.Redis]:
    """The test database, empty before and after the test."""
    raw_redis.flushdb()
    yield raw_redis
    raw_redis.flushdb()


@pytest.fixture
def extra_servers() -> Iterator[list[servers.Server]]:
    """Servers a test starts (append them); stopped when the test ends."""
    started: list[servers.Server] = []
    yield started
    for server in started:
        with contextlib.suppress(Exception):
            server.stop()
