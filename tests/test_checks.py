"""System checks: each warning, its absence when the setting is right, no connection ever."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import CheckMessage
from django.test import override_settings

from django_async_redis.checks import check_caches, check_sessions
from tests import servers

BACKEND = "django_async_redis.cache.RedisCache"
REPO = Path(__file__).resolve().parent.parent
# Nothing listens there, and a connection attempt to the remote one would hang:
# a check that connected would fail or stall these tests.
CLOSED = f"redis://127.0.0.1:{servers.free_port()}/0"
REMOTE = "redis://10.255.255.1:6379/0"


def ids(caches: dict[str, Any], **extra: Any) -> list[str]:
    with override_settings(CACHES=caches, **extra):
        messages: list[CheckMessage] = check_caches() + check_sessions()
    for message in messages:
        assert message.hint, message  # every message says what to do
    return sorted(str(message.id) for message in messages)


def cache(location: str = CLOSED, **options: Any) -> dict[str, Any]:
    return {"BACKEND": BACKEND, "LOCATION": location, "OPTIONS": options}


def test_culling_options_do_nothing() -> None:
    assert ids({"default": cache(MAX_ENTRIES=1000)}) == ["django_async_redis.W001"]
    assert ids({"default": cache(CULL_FREQUENCY=3)}) == ["django_async_redis.W001"]
    assert ids({"default": cache()}) == []


def test_herd_refuses_incr() -> None:
    for options in (
        {"CLIENT_CLASS": "django_async_redis.client.HerdClient"},
        {"CLIENT_CLASS": "django_redis.client.HerdClient"},
        {"HERD": True},
    ):
        assert ids({"default": cache(**options)}) == ["django_async_redis.W002"], options
    assert ids({"default": cache(STAMPEDE_LOCK=True)}) == []


def test_pickle_in_the_clear_to_a_remote_host() -> None:
    assert ids({"default": cache(REMOTE)}) == ["django_async_redis.W003"]
    assert ids({"default": cache("redis://cache.internal:6379")}) == ["django_async_redis.W003"]
    explicit = {"SERIALIZER": "django_redis.serializers.pickle.PickleSerializer"}
    assert ids({"default": cache(REMOTE, **explicit)}) == ["django_async_redis.W003"]
    sentinel = cache(
        "redis://mymaster/0",
        CLIENT_CLASS="django_async_redis.client.SentinelClient",
        SENTINELS=[("10.255.255.1", 26379)],
    )
    assert ids({"default": sentinel}) == ["django_async_redis.W003"]
    # Loopback, a socket, TLS, or another serializer: no warning.
    for quiet in (
        cache("redis://localhost:6379"),
        cache("redis://[::1]:6379"),
        cache("unix:///run/redis.sock"),
        cache("rediss://10.255.255.1:6379"),
        cache(REMOTE, SERIALIZER="django_async_redis.serializers.json.JSONSerializer"),
    ):
        assert ids({"default": quiet}) == [], quiet


def test_signed_values_silence_the_pickle_warning() -> None:
    from django_async_redis.config import KNOWN_OPTIONS

    if "SIGNING" not in KNOWN_OPTIONS:
        pytest.skip("OPTIONS SIGNING is not in this tree yet")
    assert ids({"default": cache(REMOTE, SIGNING=True)}) == []


def test_session_engine_on_an_alias_that_is_not_ours() -> None:
    locmem = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    engine = "django_async_redis.sessions"
    assert ids({"default": locmem}, SESSION_ENGINE=engine) == ["django_async_redis.E001"]
    assert ids({"default": cache()}, SESSION_ENGINE=engine, SESSION_CACHE_ALIAS="sessions") == [
        "django_async_redis.E001"
    ]
    assert ids({"default": cache()}, SESSION_ENGINE=engine) == []


def test_sessions_that_ignore_errors_lose_logins() -> None:
    ours = "django_async_redis.sessions"
    djangos = "django.contrib.sessions.backends.cache"
    tolerant = {"default": cache(IGNORE_EXCEPTIONS=True)}
    setting = {"DJANGO_ASYNC_REDIS_SESSION_IGNORE_EXCEPTIONS": True}
    assert ids({"default": cache()}, SESSION_ENGINE=ours, **setting) == ["django_async_redis.W004"]
    assert ids(tolerant, SESSION_ENGINE=djangos) == ["django_async_redis.W004"]
    # The cached_db engine falls back to the database; ours reads its own setting.
    assert ids(tolerant, SESSION_ENGINE="django.contrib.sessions.backends.cached_db") == []
    assert ids(tolerant, SESSION_ENGINE=ours) == []


def test_invalid_settings_are_left_to_the_cache() -> None:
    # The cache raises ImproperlyConfigured for them when built (see the command test).
    assert ids({"default": cache(MAX_ENTRIES=1, NO_SUCH_OPTION=1)}) == []
    assert ids({"default": {"BACKEND": BACKEND, "LOCATION": "http://x"}}) == []


def test_checks_open_no_connection() -> None:
    caches = {
        "default": cache(REMOTE, MAX_ENTRIES=1, HERD=True),
        "closed": cache(CLOSED),
        "sentinel": cache(
            "redis://mymaster/0",
            CLIENT_CLASS="django_async_redis.client.SentinelClient",
            SENTINELS=[("10.255.255.1", 26379)],
        ),
        "cluster": cache(REMOTE, CLIENT_CLASS="django_async_redis.client.ClusterClient"),
    }
    sockets = servers.open_socket_count()
    started = time.perf_counter()
    found = ids(caches, SESSION_ENGINE="django_async_redis.sessions")
    elapsed = time.perf_counter() - started
    assert servers.open_socket_count() == sockets
    assert "django_async_redis.W003" in found
    print(f"checks over 4 unreachable caches: {elapsed * 1000:.1f} ms, no socket opened")


def _manage_check(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "broken_settings.py").write_text(textwrap.dedent(body))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO / "src")]),
        "DJANGO_SETTINGS_MODULE": "broken_settings",
    }
    return subprocess.run(
        [sys.executable, "-m", "django", "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )


SETTINGS_HEAD = """
    SECRET_KEY = "x"
    INSTALLED_APPS = [
        "django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions",
        "django_async_redis",
    ]
    SESSION_ENGINE = "django_async_redis.sessions"
    SESSION_CACHE_ALIAS = "sessions"
"""


def test_manage_py_check_shows_the_warnings(tmp_path: Path) -> None:
    completed = _manage_check(
        tmp_path,
        SETTINGS_HEAD
        + f"""
    CACHES = {{
        "default": {{
            "BACKEND": "{BACKEND}",
            "LOCATION": "{REMOTE}",
            "OPTIONS": {{"MAX_ENTRIES": 10000, "CLIENT_CLASS": "django_redis.client.HerdClient"}},
        }},
        "sessions": {{"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    }}
    """,
    )
    print(completed.stdout, completed.stderr)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1  # an Error stops check
    for check_id in ("E001", "W001", "W002", "W003"):
        assert f"django_async_redis.{check_id}" in output


def test_manage_py_check_shows_hard_mistakes(tmp_path: Path) -> None:
    completed = _manage_check(
        tmp_path,
        SETTINGS_HEAD
        + f"""
    CACHES = {{"default": {{"BACKEND": "{BACKEND}", "LOCATION": "{CLOSED}",
                            "OPTIONS": {{"SOCKET_TIMEOT": 1}}}}}}
    """,
    )
    print(completed.stderr[-600:])
    assert completed.returncode != 0
    assert "Unknown OPTIONS key 'SOCKET_TIMEOT'. Did you mean 'SOCKET_TIMEOUT'?" in completed.stderr
