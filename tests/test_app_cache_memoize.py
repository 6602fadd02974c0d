"""django-cache-memoize with our backend: memoized calls, invalidation, what it stores.

What django-cache-memoize needs from a cache: ``get(key, marker)`` telling a
stored value (``None`` included) from a miss, ``set(key, value, timeout)`` of
any picklable result (exceptions too, with ``cache_exceptions``) and
``delete(key)`` for ``.invalidate()``; ours sends them as one GET, one
``SET PX`` and one DEL. Its key is an md5 of the function and its arguments,
which goes through our ``make_key`` (KEY_PREFIX, VERSION) like any other.

It has no async API (0.2.1): decorating a coroutine function would try to
cache the coroutine object. Its own tests are not in its source distribution
complete enough to run (``tests/test_cache_memoize.py`` imports modules the
sdist leaves out), so this file tests what it relies on, through its decorator.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
import redis
from cache_memoize import cache_memoize
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

from tests import servers
from tests.third_party import BACKEND, installed

# The apps around the backend: one leg per Django version carries them (noxfile's MATRIX).
pytestmark = pytest.mark.apps

calls: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _fresh(flushed_redis: redis.Redis) -> None:
    calls.clear()


@cache_memoize(60)
def square(n: int) -> int:
    calls["square"] += 1
    return n * n


@cache_memoize(60)
def nothing(n: int) -> None:
    calls["nothing"] += 1


class Refused(Exception):
    pass


@cache_memoize(60, cache_exceptions=(Refused,))
def refuse(n: int) -> int:
    calls["refuse"] += 1
    raise Refused(f"no {n}")


@cache_memoize(60, store_result=False)
def send(n: int) -> str:
    calls["send"] += 1
    return f"sent {n}"


@cache_memoize(60, cache_alias="memo")
def cube(n: int) -> int:
    calls["cube"] += 1
    return n**3


def test_a_call_is_computed_once_and_invalidated(flushed_redis: redis.Redis) -> None:
    print(f"django-cache-memoize {installed('django-cache-memoize')}")
    assert [square(3), square(3), square(4)] == [9, 9, 16]
    assert calls["square"] == 2  # 3 once, 4 once

    square.invalidate(3)  # type: ignore[attr-defined]
    assert square(3) == 9
    assert calls["square"] == 3
    assert square(3, _refresh=True) == 9  # type: ignore[call-arg]
    assert calls["square"] == 4


def test_what_it_stores_and_for_how_long(flushed_redis: redis.Redis) -> None:
    square(5)
    key = square.get_cache_key(5)  # type: ignore[attr-defined]
    assert re.fullmatch(r"[0-9a-f]{32}", key)  # an md5: a valid key on any backend
    assert flushed_redis.exists(f":1:{key}") == 1  # under our make_key
    assert 0 < flushed_redis.pttl(f":1:{key}") <= 60_000  # its timeout, in milliseconds
    assert caches["default"].get(key) == 25


def test_a_stored_none_is_a_hit(flushed_redis: redis.Redis) -> None:
    """It asks ``get(key, marker)``: a stored None must come back as None, not as the marker."""
    assert [nothing(1), nothing(1), nothing(1)] == [None, None, None]
    assert calls["nothing"] == 1


def test_cached_exceptions_are_raised_again_without_a_call(flushed_redis: redis.Redis) -> None:
    for _ in range(3):
        with pytest.raises(Refused, match="no 7"):
            refuse(7)
    assert calls["refuse"] == 1


def test_store_result_false_remembers_only_that_it_ran(flushed_redis: redis.Redis) -> None:
    assert send(1) == "sent 1"
    assert send(1) is True  # what it stored in place of the result comes back
    assert calls["send"] == 1
    assert caches["default"].get(send.get_cache_key(1)) is True  # type: ignore[attr-defined]


def test_another_alias_with_its_own_key_prefix(flushed_redis: redis.Redis) -> None:
    memo = {"BACKEND": BACKEND, "LOCATION": servers.session_server().url(), "KEY_PREFIX": "memo"}
    with override_settings(CACHES={**settings.CACHES, "memo": memo}):
        assert [cube(2), cube(2)] == [8, 8]
        key = cube.get_cache_key(2)  # type: ignore[attr-defined]
        assert flushed_redis.exists(f"memo:1:{key}") == 1
        assert flushed_redis.exists(f":1:{key}") == 0
        cube.invalidate(2)  # type: ignore[attr-defined]
        assert flushed_redis.exists(f"memo:1:{key}") == 0
        assert cube(2) == 8
    assert calls["cube"] == 2


def test_a_value_written_elsewhere_is_what_it_answers(flushed_redis: redis.Redis) -> None:
    """Its key is deterministic, so another process (here: a direct set) fills it for everyone."""
    key = square.get_cache_key(6)  # type: ignore[attr-defined]
    caches["default"].set(key, -1, 60)
    assert square(6) == -1
    assert calls["square"] == 0
