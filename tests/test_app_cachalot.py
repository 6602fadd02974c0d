"""django-cachalot with our backend: its own test suite, what it sends us, its check.

What django-cachalot needs from a cache: each cachable ORM read is one
``get_many`` of the query's key and one key per table it reads (each holding
the time that table was last written); a miss runs the query and stores the
result and the missing table keys with one ``set_many``. A write does not
delete anything: it ``set_many``s the current time into the table keys, which
makes every cached result older than them stale. So the values must come back
exactly as stored (float timestamps, pickled result rows) and a ``set_many``
must land as one write. Ours sends ``get_many`` as one MGET and ``set_many``
as one MSET (with cachalot's default ``CACHALOT_TIMEOUT = None``; with a
timeout, one pipelined ``SET PX`` per key).

cachalot has no async API of its own; Django's async ORM (``acreate``,
``async for``) runs the sync compiler in a thread, where cachalot's patch
calls our sync API: ``test_the_async_orm_is_cached_too``.

Its suite ships in the wheel (``cachalot/tests``) and runs here in a child
process (cachalot patches Django's ORM process-wide when its app is ready),
with ``tests/cachalot_suite_settings.py``. The focused tests below install
the app in this process for the test's duration and unpatch it after.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cachalot
import pytest
import redis
from asgiref.sync import async_to_sync
from cachalot.apps import check_cache_compatibility
from cachalot.settings import cachalot_settings
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from tests import servers
from tests.third_party import (
    BACKEND,
    assert_warns_and_silences,
    installed,
    manage_check,
    run_django,
    suite_result,
)

# The apps around the backend: one leg per Django version carries them (noxfile's MATRIX).
pytestmark = pytest.mark.apps

# Databases of the session server the child's two caches use (no other test uses them).
SUITE_DBS = (13, 14)
CLOSED = f"redis://127.0.0.1:{servers.free_port()}/0"


# ------------------------------------------------------------ its own suite


def test_cachalots_own_suite(redis_server: servers.Server) -> None:
    """cachalot's suite, both caches ours, on SQLite: every test passes or skips itself."""
    raw = [redis_server.client(db) for db in SUITE_DBS]
    for client in raw:
        client.flushdb()
    try:
        completed = run_django(
            "tests.cachalot_suite_settings",
            "test",
            "-v",
            "2",
            "cachalot.tests",
            "cachalot.admin_tests.test_admin",
            env={
                "CACHALOT_SUITE_CACHE_URL": redis_server.url(SUITE_DBS[0]),
                "CACHALOT_SUITE_SECOND_CACHE_URL": redis_server.url(SUITE_DBS[1]),
            },
            # Its loaddata test names its fixture by a path relative to the package's parent.
            cwd=Path(cachalot.__file__).resolve().parent.parent,
        )
        output = completed.stdout + completed.stderr
        result = suite_result(output)
        print(f"django-cachalot {installed('django-cachalot')}: {dict(result.outcomes)}")
        assert result.ok and completed.returncode == 0, output[-6000:]
        assert result.outcomes["FAIL"] == result.outcomes["ERROR"] == 0
        assert result.outcomes["ok"] > result.outcomes["skipped"], dict(result.outcomes)
        left_out = sorted(
            line.removeprefix("cachalot suite: left out ")
            for line in output.splitlines()
            if line.startswith("cachalot suite: left out ")
        )
        assert left_out == [
            "cachalot.tests.debug_toolbar.DebugToolbarTestCase.test_rendering",
            "cachalot.tests.settings.SettingsTestCase.test_database_compatibility",
        ]
        # It really cached in our backend: both caches hold its keys afterwards.
        assert all(client.dbsize() > 0 for client in raw)
    finally:
        for client in raw:
            client.flushdb()
            client.close()


# ------------------------------------------------------------ focused tests


@pytest.fixture
def cachalot_installed(transactional_db: None, flushed_redis: redis.Redis) -> Iterator[None]:
    """cachalot in INSTALLED_APPS for one test, caching on our default cache; unpatched after.

    ``transactional_db``, not ``db``: cachalot wraps ``atomic`` when its app
    is ready, and a test transaction opened before that would be closed
    through the wrapper with no matching entry.
    """
    original = SQLCompiler.execute_sql
    try:
        with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "cachalot"]):
            assert hasattr(SQLCompiler.execute_sql, "__wrapped__")  # its ready() patched the ORM
            yield
    finally:
        cachalot_settings.unload()
        assert SQLCompiler.execute_sql is original


def sql_count(run: Any) -> tuple[Any, int]:
    with CaptureQueriesContext(connection) as queries:
        result = run()
    return result, len(queries)


def commands_sent(raw: redis.Redis, run: Any) -> tuple[Any, dict[str, int]]:
    """What ``run`` sent the server, from INFO commandstats (the probe's own INFO left out)."""

    def calls() -> dict[str, int]:
        stats = raw.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(entry["calls"]) for name, entry in stats.items()}

    before = calls()
    result = run()
    after = calls()
    sent = {
        name: count - before.get(name, 0)
        for name, count in after.items()
        if name != "info" and count != before.get(name, 0)
    }
    return result, sent


def names() -> list[str]:
    return list(Group.objects.order_by("name").values_list("name", flat=True))


def test_reads_are_cached_and_writes_invalidate(
    cachalot_installed: None, flushed_redis: redis.Redis
) -> None:
    """A read misses once, then answers from our cache with no SQL; a write makes it stale.

    The hit also shows that values come back exactly: cachalot serves a result
    only if its stored timestamp is not older than its tables' (floats written
    in the same MSET), so a float changed on the way would turn hits into misses.
    """
    Group.objects.create(name="editors")

    (first, queries), sent = commands_sent(flushed_redis, lambda: sql_count(names))
    assert (first, queries) == (["editors"], 1)
    assert sent == {"mget": 1, "mset": 1}  # the miss: one MGET, then one MSET of result and table

    (second, queries), sent = commands_sent(flushed_redis, lambda: sql_count(names))
    assert (second, queries) == (["editors"], 0)
    assert sent == {"mget": 1}  # the hit: one round trip, no SQL

    _, sent = commands_sent(flushed_redis, lambda: Group.objects.create(name="admins"))
    assert sent == {"mset": 1}  # the write: the table's new timestamp, nothing deleted

    third, queries = sql_count(names)
    assert (third, queries) == (["admins", "editors"], 1)
    assert sql_count(names) == (["admins", "editors"], 0)


def test_the_async_orm_is_cached_too(cachalot_installed: None) -> None:
    """Django's async ORM runs the sync compiler underneath: cached and invalidated alike.

    Each step runs through ``async_to_sync`` from this thread, so the ORM's
    ``sync_to_async`` calls come back to it and its test database connection
    (where the queries are counted).
    """

    async def read() -> list[str]:
        return [group.name async for group in Group.objects.order_by("name")]

    async def create(name: str) -> None:
        await Group.objects.acreate(name=name)

    async_to_sync(create)("editors")
    assert sql_count(async_to_sync(read)) == (["editors"], 1)
    assert sql_count(async_to_sync(read)) == (["editors"], 0)
    async_to_sync(create)("admins")
    assert sql_count(async_to_sync(read)) == (["admins", "editors"], 1)


def test_an_invalidation_from_another_process_is_seen(
    cachalot_installed: None, tmp_path: Path, redis_server: servers.Server
) -> None:
    """What makes a shared cache worth it: another process's write makes our cached read stale."""
    Group.objects.create(name="editors")
    assert sql_count(names) == (["editors"], 1)
    assert sql_count(names) == (["editors"], 0)

    (tmp_path / "other_process_settings.py").write_text(
        textwrap.dedent(f"""
        SECRET_KEY = "x"
        INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "cachalot"]
        DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}}
        CACHES = {{"default": {{"BACKEND": "{BACKEND}", "LOCATION": "{redis_server.url()}"}}}}
        SILENCED_SYSTEM_CHECKS = ["cachalot.W001"]
        """)
    )
    # That process's write reaches cachalot as an invalidation of the table
    # (its database is its own; what the two share is the cache).
    code = "from cachalot.api import invalidate; invalidate('auth.Group', db_alias='default')"
    completed = run_django("other_process_settings", "shell", "-c", code, path=[tmp_path])
    assert completed.returncode == 0, completed.stderr

    assert sql_count(names) == (["editors"], 1)


# ------------------------------------------------------------ system check


def check_ids(**overrides: Any) -> list[str]:
    with override_settings(**overrides):
        return sorted(str(message.id) for message in check_cache_compatibility(None))


def test_its_check_warns_about_our_backend() -> None:
    """W001: cachalot compares the backend path with a fixed list, which has no room for ours."""
    ours = {"BACKEND": BACKEND, "LOCATION": CLOSED}
    assert check_ids(CACHES={"default": ours}) == ["cachalot.W001"]
    listed = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CLOSED}
    assert check_ids(CACHES={"default": listed}) == []


SETTINGS_HEAD = f"""
    SECRET_KEY = "x"
    INSTALLED_APPS = [
        "django.contrib.contenttypes", "django.contrib.auth", "cachalot", "django_async_redis",
    ]
    DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}}
    CACHES = {{"default": {{"BACKEND": "{BACKEND}", "LOCATION": "{CLOSED}"}}}}
"""


def test_manage_py_check_and_its_silencing(tmp_path: Path) -> None:
    """``manage.py check``: W001 for our backend; SILENCED_SYSTEM_CHECKS removes it."""
    message = f"Cache backend '{BACKEND}' is not supported by django-cachalot."
    assert_warns_and_silences(tmp_path, SETTINGS_HEAD, "cachalot.W001", message)


def test_the_check_looks_at_cachalots_own_cache(tmp_path: Path) -> None:
    """It looks at CACHALOT_CACHE (read once, at start-up), not at the default cache."""
    listed = "django.core.cache.backends.redis.RedisCache"

    def body(cachalot_cache: str) -> str:
        return f"""
        SECRET_KEY = "x"
        INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "cachalot"]
        DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}}
        CACHES = {{
            "default": {{"BACKEND": "{listed}", "LOCATION": "{CLOSED}"}},
            "orm": {{"BACKEND": "{BACKEND}", "LOCATION": "{CLOSED}"}},
        }}
        CACHALOT_CACHE = "{cachalot_cache}"
        """

    on_ours = manage_check(tmp_path, body("orm"))
    assert on_ours.returncode == 1 and "cachalot.W001" in on_ours.stderr, on_ours.stderr
    on_listed = manage_check(tmp_path, body("default"))
    assert on_listed.returncode == 0, on_listed.stderr
