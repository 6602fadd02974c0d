"""Session set-up: the event loop, a real server, then Django.

The server is started (or ``REDIS_URL`` described) in ``pytest_configure``,
before pytest-django sets Django up, and its URL handed to ``tests.settings``.
Django's own test apps are fetched for the installed Django version and put on
``sys.path`` at the same time. ``TEST_EVENT_LOOP=uvloop`` (noxfile.py's uvloop
leg) makes every event loop of the run a uvloop loop, before any is made.
"""

from __future__ import annotations

import asyncio
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
    _use_the_event_loop_asked_for()
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


EVENT_LOOPS = ("asyncio", "uvloop")


def _use_the_event_loop_asked_for() -> None:
    """``TEST_EVENT_LOOP=uvloop``: every loop the tests make is uvloop's.

    ``asyncio.run``, ``asyncio.Runner``, ``asyncio.new_event_loop`` and asgiref's
    ``async_to_sync`` (an ``asyncio.run`` in a thread of its own) all make their
    loop by calling ``asyncio.events.new_event_loop`` at the time they need one,
    in every thread. Pointing it (and its ``asyncio.new_event_loop`` alias) at
    uvloop's does what the event loop policy did, without the policy API, which
    Python 3.14 deprecates. tests/test_core_mode.py checks that it took.
    """
    wanted = os.environ.get("TEST_EVENT_LOOP", "asyncio")
    if wanted not in EVENT_LOOPS:
        raise pytest.UsageError(f"TEST_EVENT_LOOP={wanted!r}: expected one of {EVENT_LOOPS}")
    if wanted == "uvloop":
        import uvloop

        asyncio.events.new_event_loop = asyncio.new_event_loop = uvloop.new_event_loop


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out what a leg does not carry (see noxfile's MATRIX).

    ``TEST_TOPOLOGIES=0``: the multi-server topology tests and the long ones;
    ``TEST_APPS=0``: the apps around the backend. scripts/test sets both per
    leg; unset, as when a developer runs pytest directly, everything runs.
    """
    left_out = {
        marker
        for variable, markers in (
            ("TEST_TOPOLOGIES", ("topology", "long")),
            ("TEST_APPS", ("apps",)),
        )
        if os.environ.get(variable, "1") == "0"
        for marker in markers
    }
    if not left_out:
        return
    kept, dropped = [], []
    for item in items:
        leaves = any(item.get_closest_marker(marker) for marker in left_out)
        (dropped if leaves else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_unconfigure(config: pytest.Config) -> None:
    servers.stop_all()


def pytest_report_header(config: pytest.Config) -> list[str]:
    from django.conf import settings

    from django_async_redis.transport import aio

    server = servers.session_server()
    origin = "REDIS_URL" if not server.owned else server.binary
    loop = os.environ.get("TEST_EVENT_LOOP", "asyncio")
    if loop == "uvloop":
        import uvloop

        loop = f"uvloop {uvloop.__version__}"
    return [
        f"cache server: {server.name} at {server.url()} ({origin})",
        f"cache backend: {settings.CACHES['default']['BACKEND']}",
        f"async core: {'compiled' if aio.COMPILED else 'pure Python'} "
        f"({aio.connection_class.__module__})",
        f"event loop: {loop} (tests/test_core_mode.py checks that it is the one running)",
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
