"""HerdClient (early, randomised refresh) and the stampede-safe get_or_set,
measured by counting recomputations, never by timing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from django_async_redis.cache import RedisCache
from tests.structures_support import SERIALIZERS, make_cache

HERD = "django_async_redis.client.HerdClient"
KEY = "structures:1:k"


class Counter:
    """A default for get_or_set that counts its calls (thread-safe)."""

    def __init__(self, value: Any = "fresh", pause: float = 0.0) -> None:
        self.value = value
        self.pause = pause
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            self.calls += 1
        if self.pause:
            time.sleep(self.pause)
        return self.value


def _into_window(raw: redis.Redis, remaining_ms: int) -> None:
    """Age the stored value: leave it ``remaining_ms`` of life."""
    assert raw.pexpire(KEY, remaining_ms)


@pytest.fixture
def raw(flushed_redis: redis.Redis) -> redis.Redis:
    return flushed_redis


@pytest.mark.parametrize("serializer", sorted(SERIALIZERS))
def test_herd_values_are_plain_values(raw: redis.Redis, serializer: str) -> None:
    herd = make_cache(serializer, CLIENT_CLASS=HERD)
    plain = make_cache(serializer)
    value = {"a": [1, 2], "b": "text"}
    assert herd.set("k", value, timeout=30) is True
    # Stored for the timeout plus the herd window (60 s by default) ...
    assert 89_000 <= raw.pttl(KEY) <= 90_000
    # ... in exactly the plain codec's bytes, so either reads the other's.
    assert plain.get("k") == value
    plain.set("k", "plain", timeout=None)
    assert herd.get("k") == "plain"
    assert herd.get_or_set("k", Counter()) == "plain"


def test_timeouts_without_a_window(raw: redis.Redis) -> None:
    herd = make_cache(CLIENT_CLASS=HERD)
    herd.set("k", 1, timeout=None)
    assert raw.pttl(KEY) == -1
    assert herd.get("k") == 1
    herd.set("k", 1, timeout=0)
    assert raw.exists(KEY) == 0
    assert herd.add("k", 2, timeout=5) is True
    assert 64_000 <= raw.pttl(KEY) <= 65_000
    assert herd.touch("k", 10) is True
    assert 69_000 <= raw.pttl(KEY) <= 70_000
    herd.set_many({"k": 3}, timeout=20)
    assert 79_000 <= raw.pttl(KEY) <= 80_000


def test_touch_and_expire_move_the_refresh_point(raw: redis.Redis) -> None:
    """django-redis's test_touch_positive_timeout on the herd, and its siblings.

    With django-redis's test window (CACHE_HERD_TIMEOUT = 2), a value touched
    to 2 s is a miss for its first reader 3 s later: a second past its new
    timeout, (1 + 1) / 2 of the readers refresh, i.e. all of them. The sleep
    only has to be at least 3 s, so the verdict does not depend on speed.
    """
    from django.test import override_settings

    with override_settings(CACHE_HERD_TIMEOUT=2):
        herd = make_cache(CLIENT_CLASS=HERD)
    for name in ("touched", "expired", "pexpired", "expired-at", "persisted"):
        herd.set(name, 222, timeout=10)
    assert herd.touch("touched", 2) is True
    assert herd.expire("expired", 2) is True
    assert herd.pexpire("pexpired", 2000) is True
    assert herd.expire_at("expired-at", int(time.time()) + 2) is True
    assert herd.touch("persisted", 2) and herd.persist("persisted") is True
    # Stored for the new timeout plus the window.
    assert 3_000 < raw.pttl("structures:1:touched") <= 4_000
    assert 3_000 < raw.pttl("structures:1:pexpired") <= 4_000
    assert herd.get("touched") == 222  # before the new timeout: the value
    time.sleep(3)
    assert [herd.get(name) for name in ("touched", "expired", "pexpired")] == [None] * 3
    assert asyncio.run(herd.aget("touched")) is None
    assert herd.get("expired-at") is None
    assert herd.get("persisted") == 222  # no expiry left: nothing to refresh
    assert herd.expire("persisted", 0) is True and raw.exists("structures:1:persisted") == 0


def test_refresh_chance_grows_across_the_window(raw: redis.Redis) -> None:
    herd = make_cache(HERD=True, HERD_TIMEOUT=100)  # the option works on any client
    herd.set("k", "value", timeout=1000)
    calls = 1000
    _into_window(raw, 200_000)  # before the window: nobody refreshes
    assert sum(herd.get("k") is None for _ in range(calls)) == 0
    _into_window(raw, 75_000)  # a quarter into the window
    early = sum(herd.get("k") is None for _ in range(calls))
    _into_window(raw, 25_000)  # three quarters in
    late = sum(herd.get("k") is None for _ in range(calls))
    # Binomial(1000, 0.25) and (1000, 0.75): these bounds are > 8 sigma wide.
    assert 130 < early < 370
    assert 630 < late < 870
    many = herd.get_many(["k"] * 1)
    assert many in ({}, {"k": "value"})


def test_one_caller_recomputes_while_the_others_get_the_value(raw: redis.Redis) -> None:
    herd = make_cache(CLIENT_CLASS=HERD, HERD_TIMEOUT=100)
    herd.set("k", "stale", timeout=1000)
    _into_window(raw, 50_000)  # half-way: each reader refreshes with chance 1/2
    compute = Counter("fresh")
    answers = [herd.get_or_set("k", compute, timeout=1000) for _ in range(500)]
    assert compute.calls == 1
    first = answers.index("fresh")
    assert set(answers[:first]) <= {"stale"} and set(answers[first:]) == {"fresh"}
    assert raw.pttl(KEY) > 1_000_000  # the refresh got a full life again

    # The plain django-redis pattern (get, recompute on None, set) behaves the same.
    herd.set("k", "stale", timeout=1000)
    _into_window(raw, 50_000)
    recomputed = 0
    for _ in range(500):
        if herd.get("k") is None:
            recomputed += 1
            herd.set("k", "fresh", timeout=1000)
    assert recomputed == 1


def test_concurrent_refresh_with_and_without_the_lock(raw: redis.Redis) -> None:
    async def readers(cache: RedisCache, compute: Counter) -> list[Any]:
        return list(
            await asyncio.gather(*(cache.aget_or_set("k", compute, 1000) for _ in range(200)))
        )

    plain_herd = make_cache(CLIENT_CLASS=HERD, HERD_TIMEOUT=100)
    plain_herd.set("k", "stale", timeout=1000)
    _into_window(raw, 50_000)
    compute = Counter()
    answers = asyncio.run(readers(plain_herd, compute))
    # Without the lock each reader decides alone: about half recompute.
    assert 40 < compute.calls < 160
    assert set(answers) <= {"stale", "fresh"}

    locked = make_cache(CLIENT_CLASS=HERD, HERD_TIMEOUT=100, STAMPEDE_LOCK=True)
    locked.set("k", "stale", timeout=1000)
    _into_window(raw, 50_000)
    compute = Counter()
    answers = asyncio.run(readers(locked, compute))
    # With it one reader refreshes; the others are served the stale value meanwhile.
    assert compute.calls == 1
    assert set(answers) <= {"stale", "fresh"} and "fresh" in answers
    assert locked.get("k") == "fresh"


@pytest.mark.parametrize("serializer", sorted(SERIALIZERS))
def test_stampede_safe_get_or_set_async(raw: redis.Redis, serializer: str) -> None:
    cache = make_cache(serializer, STAMPEDE_LOCK=True)
    computes = {f"key{i}": Counter(f"value{i}", pause=0.02) for i in range(4)}

    async def scenario() -> list[Any]:
        calls = [
            cache.aget_or_set(key, compute, 60)
            for _ in range(50)
            for key, compute in computes.items()
        ]
        return list(await asyncio.gather(*calls))

    answers = asyncio.run(scenario())  # 200 concurrent tasks over 4 keys
    assert [compute.calls for compute in computes.values()] == [1, 1, 1, 1]
    assert sorted(set(answers)) == ["value0", "value1", "value2", "value3"]


def test_stampede_safe_get_or_set_threads(raw: redis.Redis) -> None:
    cache = make_cache(STAMPEDE_LOCK=True)
    computes = {f"key{i}": Counter(f"value{i}", pause=0.05) for i in range(3)}
    answers: list[Any] = []
    start = threading.Barrier(8)

    def work() -> None:
        start.wait(timeout=30)
        for key, compute in computes.items():
            answers.append(cache.get_or_set(key, compute, 60))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [compute.calls for compute in computes.values()] == [1, 1, 1]
    assert len(answers) == 24 and set(answers) == {"value0", "value1", "value2"}


def test_waiters_compute_themselves_when_the_holder_is_gone(raw: redis.Redis) -> None:
    cache = make_cache(STAMPEDE_LOCK=True, STAMPEDE_LOCK_TIMEOUT=0.3)
    # A holder that died: its lock stays until its lifetime ends.
    raw.set(KEY + ":get_or_set-lock", "someone-else", px=300)
    compute = Counter("mine")
    began = time.monotonic()
    assert cache.get_or_set("k", compute, 60) == "mine"
    assert compute.calls == 1
    assert time.monotonic() - began < 10  # bounded, not a hang

    async def scenario() -> Any:
        raw.delete(KEY)
        raw.set(KEY + ":get_or_set-lock", "someone-else", px=300)
        return await cache.aget_or_set("k", compute, 60)

    assert asyncio.run(scenario()) == "mine"
    assert compute.calls == 2


def test_a_failing_computation_releases_the_lock(raw: redis.Redis) -> None:
    cache = make_cache(STAMPEDE_LOCK=True)

    def broken() -> Any:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cache.get_or_set("k", broken, 60)
    assert raw.exists(KEY + ":get_or_set-lock") == 0
    assert cache.get_or_set("k", "ok", 60) == "ok"
    assert raw.exists(KEY + ":get_or_set-lock") == 0


def test_plain_values_get_or_set_semantics_kept(raw: redis.Redis) -> None:
    cache = make_cache(STAMPEDE_LOCK=True)
    assert cache.get_or_set("k", None, 60) is None  # None is stored, as Django does
    cache.set("k", "there")
    compute: Callable[[], Any] = Counter()
    assert cache.get_or_set("k", compute, 60) == "there"
    assert cache.get_or_set("zero", "v", 0) == "v"
    assert raw.exists("structures:1:zero") == 0
