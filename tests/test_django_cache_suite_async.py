"""Django's ``BaseCacheTests`` again, every case driven through the ``a*`` methods.

``BaseCacheTests`` talks to the module globals ``cache`` and ``caches`` of
Django's ``cache.tests``. For each test we swap them (and the ``caches`` the
cache middleware reads) for stand-ins whose cache methods run the async twin
(``get`` -> ``aget``, ``in`` -> ``ahas_key``, ``close`` -> ``aclose``, ...) to
completion on an event loop the test owns: a fresh loop per test, shut down and
closed afterwards, so the backend also sees a new loop for every test, as under
Django's own async test runner. Everything else (``make_key``, ``key_func``,
``validate_key``, attributes) passes straight through to the real backend.

Three cases are rewritten natively rather than driven; each says why.
Cases that are already ``async def`` in Django's suite (Django 6.1 adds some)
run unchanged. The final test checks that all sixteen async methods were called and that every
``BaseCacheTests`` case ran here.

Below the mirror: native async tests of the key semantics, and a check that
the async methods are native (no thread hop).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import pickle
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar
from unittest import mock

import django.middleware.cache
import pytest
import redis
from cache import tests as django_cache_tests
from cache.models import Poll, expensive_calculation
from cache.tests import BaseCacheTests
from django.core.cache import BaseCache, caches
from django.core.cache import cache as default_cache
from django.test import TestCase, override_settings

from tests.test_django_cache_suite import suite_caches

T = TypeVar("T")

# Each sync cache method and the async method that stands in for it.
ASYNC_TWIN = {
    "add": "aadd",
    "get": "aget",
    "set": "aset",
    "touch": "atouch",
    "delete": "adelete",
    "get_many": "aget_many",
    "get_or_set": "aget_or_set",
    "has_key": "ahas_key",
    "incr": "aincr",
    "decr": "adecr",
    "set_many": "aset_many",
    "delete_many": "adelete_many",
    "clear": "aclear",
    "incr_version": "aincr_version",
    "decr_version": "adecr_version",
    "close": "aclose",
}
ASYNC_METHODS = frozenset(ASYNC_TWIN.values())
assert len(ASYNC_METHODS) == 16

# Filled in as the mirror runs; checked by test_mirror_exercised_everything.
called_async_methods: set[str] = set()
mirrored_cases: set[str] = set()

Runner = Callable[[Coroutine[Any, Any, Any]], Any]


class AsyncDrivenCache:
    """A cache whose sync-looking methods run their ``a*`` twin to completion."""

    __slots__ = ("_run", "_target")

    def __init__(self, target: Any, run: Runner) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_run", run)

    def __getattr__(self, name: str) -> Any:
        twin = ASYNC_TWIN.get(name)
        if twin is None:
            return getattr(self._target, name)
        return self._driver(name, twin)

    def _driver(self, name: str, twin: str) -> Callable[..., Any]:
        method = getattr(self._target, twin)

        @functools.wraps(method)
        def drive(*args: Any, **kwargs: Any) -> Any:
            called_async_methods.add(twin)
            return self._run(method(*args, **kwargs))

        drive.__name__ = name
        return drive

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._target, name)

    def __contains__(self, key: str) -> bool:
        called_async_methods.add("ahas_key")
        return bool(self._run(self._target.ahas_key(key)))


class AsyncDrivenCaches:
    """``caches``, handing out :class:`AsyncDrivenCache` stand-ins."""

    __slots__ = ("_run", "_target")

    def __init__(self, target: Any, run: Runner) -> None:
        self._target = target
        self._run = run

    def __getitem__(self, alias: str) -> AsyncDrivenCache:
        return AsyncDrivenCache(self._target[alias], self._run)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


@override_settings(CACHES=suite_caches())
class AsyncMirrorOfDjangoCacheSuiteTests(BaseCacheTests, TestCase):
    incr_decr_type_error = redis.exceptions.ResponseError

    def setUp(self) -> None:
        mirrored_cases.add(self._testMethodName)
        if inspect.iscoroutinefunction(getattr(type(self), self._testMethodName)):
            # Django's own async cases (6.1+) already call the a* methods and
            # introspect the real backend; they run as they are, on the loop
            # Django's test case gives every async test.
            super().setUp()
            return
        self.loop = asyncio.new_event_loop()
        self.addCleanup(self._close_loop)
        run = self.loop.run_until_complete
        stand_ins = {
            (django_cache_tests, "cache"): AsyncDrivenCache(default_cache, run),
            (django_cache_tests, "caches"): AsyncDrivenCaches(caches, run),
            # The cache middleware looks caches up itself; drive it too.
            (django.middleware.cache, "caches"): AsyncDrivenCaches(caches, run),
        }
        for (module, name), stand_in in stand_ins.items():
            self.addCleanup(setattr, module, name, getattr(module, name))
            setattr(module, name, stand_in)
        super().setUp()

    def _close_loop(self) -> None:
        try:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    def run_async(self, awaitable: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(awaitable)

    # Rewritten natively: pickling an unevaluated QuerySet runs its query, and
    # Django's ORM refuses a synchronous query on a running event loop
    # (SynchronousOnlyOperation). Async code evaluates the QuerySet before
    # handing it to aset(), which is what these versions do; what the cases
    # check (cache writes and reads never re-run field defaults) is unchanged.

    def test_cache_write_for_model_instance_with_deferred(self) -> None:
        expensive_calculation.num_runs = 0
        Poll.objects.all().delete()
        Poll.objects.create(question="What?")
        self.assertEqual(expensive_calculation.num_runs, 1)
        defer_qs = Poll.objects.defer("question")
        self.assertEqual(defer_qs.count(), 1)
        self.assertEqual(expensive_calculation.num_runs, 1)
        list(defer_qs)  # evaluated outside the loop; pickling then queries nothing
        called_async_methods.add("aset")
        self.run_async(default_cache.aset("deferred_queryset", defer_qs))
        self.assertEqual(expensive_calculation.num_runs, 1)

    def test_cache_read_for_model_instance_with_deferred(self) -> None:
        expensive_calculation.num_runs = 0
        Poll.objects.all().delete()
        Poll.objects.create(question="What?")
        self.assertEqual(expensive_calculation.num_runs, 1)
        defer_qs = Poll.objects.defer("question")
        self.assertEqual(defer_qs.count(), 1)
        list(defer_qs)
        called_async_methods.update({"aset", "aget"})
        self.run_async(default_cache.aset("deferred_queryset", defer_qs))
        self.assertEqual(expensive_calculation.num_runs, 1)
        runs_before_cache_read = expensive_calculation.num_runs
        cached = self.run_async(default_cache.aget("deferred_queryset"))
        self.assertEqual([poll.pk for poll in cached], [poll.pk for poll in defer_qs])
        self.assertEqual(expensive_calculation.num_runs, runs_before_cache_read)

    def test_get_or_set_racing(self) -> None:
        # Django's version makes the sync add() fail; aget_or_set() would not
        # notice, so make aadd() fail instead: the default must come back.
        backend_class = type(caches["default"])
        with mock.patch.object(backend_class, "aadd", return_value=False) as cache_aadd:
            called_async_methods.add("aget_or_set")
            result = self.run_async(caches["default"].aget_or_set("key", "default"))
        self.assertEqual(result, "default")
        if cache_aadd.called:
            self.assertEqual(cache_aadd.call_args.args[:2], ("key", "default"))


def test_mirror_exercised_everything(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs after the mirror (pytest-django orders DB tests first)."""
    cases = {name for name in dir(BaseCacheTests) if name.startswith("test_")}
    assert mirrored_cases, "run the whole file: the mirror above did not run"
    assert cases - mirrored_cases == set(), "BaseCacheTests cases missing from the mirror"
    assert ASYNC_METHODS - called_async_methods == set(), "async methods never exercised"
    with capsys.disabled():
        print(
            f"\nasync mirror: {len(mirrored_cases)} of {len(cases)} BaseCacheTests cases ran; "
            f"{len(called_async_methods)} of 16 async methods called"
        )


# Native async tests of the key semantics.


@pytest.fixture
def backend(flushed_redis: redis.Redis) -> Iterator[BaseCache]:
    yield caches["default"]


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def test_stored_none_differs_from_a_miss(backend: BaseCache) -> None:
    async def scenario() -> None:
        await backend.aset("none", None)
        assert await backend.aget("none", "default") is None
        assert await backend.aget("missing", "default") == "default"
        assert await backend.ahas_key("none") is True
        assert await backend.ahas_key("missing") is False
        assert await backend.aget_many(["none", "missing"]) == {"none": None}
        assert await backend.aget_or_set("none", "other") is None

    run(scenario())


def test_timeout_none_is_forever(backend: BaseCache, flushed_redis: redis.Redis) -> None:
    async def scenario() -> None:
        await backend.aset("forever", 1, timeout=None)
        assert await backend.aadd("forever-add", 1, timeout=None) is True
        await backend.aset_many({"forever-many": 1}, timeout=None)
        await backend.aset("touched", 1, timeout=100)
        assert await backend.atouch("touched", timeout=None) is True

    run(scenario())
    for key in ("forever", "forever-add", "forever-many", "touched"):
        assert flushed_redis.pttl(backend.make_and_validate_key(key)) == -1, key


@pytest.mark.parametrize("timeout", [0, -1, -100.5])
def test_zero_or_negative_timeout_is_not_stored(
    backend: BaseCache, flushed_redis: redis.Redis, timeout: float
) -> None:
    async def scenario() -> None:
        await backend.aset("set", "v", timeout=timeout)
        assert await backend.aget("set") is None
        assert await backend.aadd("add", "v", timeout=timeout) is True
        assert await backend.aget("add") is None
        assert await backend.aset_many({"many": "v"}, timeout=timeout) == []
        assert await backend.aget("many") is None
        await backend.aset("existing", "v", timeout=100)
        await backend.aset("existing", "new", timeout=timeout)  # removes it
        assert await backend.ahas_key("existing") is False
        await backend.aset("touched", "v", timeout=100)
        assert await backend.atouch("touched", timeout=timeout) is True
        assert await backend.ahas_key("touched") is False

    run(scenario())
    assert flushed_redis.dbsize() == 0


# Each fraction is .9 so whole-second rounding either way lands outside the
# accepted range (floor: not stored or a whole second less; ceiling: above it),
# while the test itself has 900 ms of slack between the write and the PTTL.
@pytest.mark.parametrize(("timeout", "ceiling_ms"), [(0.9, 900), (1.9, 1900), (100.9, 100900)])
def test_float_timeouts_are_kept_to_the_millisecond(
    backend: BaseCache, flushed_redis: redis.Redis, timeout: float, ceiling_ms: int
) -> None:
    async def scenario() -> None:
        await backend.aset("set", "v", timeout=timeout)
        await backend.aadd("add", "v", timeout=timeout)
        await backend.aset_many({"many": "v"}, timeout=timeout)
        await backend.aset("touched", "v", timeout=None)
        await backend.atouch("touched", timeout=timeout)

    run(scenario())
    for key in ("set", "add", "many", "touched"):
        pttl = flushed_redis.pttl(backend.make_and_validate_key(key))
        assert ceiling_ms - 900 < pttl <= ceiling_ms, (key, pttl)


def test_sub_second_timeout_expires(backend: BaseCache) -> None:
    async def scenario() -> None:
        await backend.aset("brief", "v", timeout=0.2)
        assert await backend.aget("brief") == "v"
        await asyncio.sleep(0.5)
        assert await backend.aget("brief") is None

    run(scenario())


def test_incr_of_a_missing_key_raises_value_error(backend: BaseCache) -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError):
            await backend.aincr("missing")
        with pytest.raises(ValueError):
            await backend.adecr("missing")
        with pytest.raises(ValueError):
            await backend.aincr_version("missing")
        assert await backend.ahas_key("missing") is False

    run(scenario())


def test_plain_ints_are_stored_raw_so_incr_is_atomic(
    backend: BaseCache, flushed_redis: redis.Redis
) -> None:
    async def scenario() -> None:
        await backend.aset("counter", 41)
        assert flushed_redis.get(backend.make_and_validate_key("counter")) == b"41"
        results = await asyncio.gather(*(backend.aincr("counter") for _ in range(50)))
        assert sorted(results) == list(range(42, 92))
        assert await backend.adecr("counter", 91) == 0

    run(scenario())


def test_delete_returns_a_bool(backend: BaseCache) -> None:
    async def scenario() -> None:
        await backend.aset("doomed", "v")
        assert await backend.adelete("doomed") is True
        assert await backend.adelete("doomed") is False

    run(scenario())


def test_set_many_returns_an_empty_list(backend: BaseCache) -> None:
    async def scenario() -> None:
        assert await backend.aset_many({"a": 1, "b": None, "c": b"\x00"}) == []
        assert await backend.aset_many({}) == []
        assert await backend.aget_many(["a", "b", "c"]) == {"a": 1, "b": None, "c": b"\x00"}

    run(scenario())


def test_unpicklable_value_raises_pickle_error(backend: BaseCache) -> None:
    class Unpicklable:
        def __reduce__(self) -> Any:
            raise pickle.PickleError("no")

    async def scenario() -> None:
        with pytest.raises(pickle.PickleError):
            await backend.aset("bad", Unpicklable())
        with pytest.raises(pickle.PickleError):
            await backend.aadd("bad", Unpicklable())
        with pytest.raises(pickle.PickleError):
            await backend.aset_many({"bad": Unpicklable()})

    run(scenario())


def test_sync_and_async_paths_read_each_other(backend: BaseCache) -> None:
    values: dict[str, Any] = {"int": 7, "none": None, "text": "é", "bytes": b"\xff", "list": [1]}
    backend.set_many({f"sync-{k}": v for k, v in values.items()})

    async def scenario() -> None:
        got = await backend.aget_many([f"sync-{k}" for k in values])
        assert got == {f"sync-{k}": v for k, v in values.items()}
        await backend.aset_many({f"async-{k}": v for k, v in values.items()})

    run(scenario())
    assert backend.get_many([f"async-{k}" for k in values]) == {
        f"async-{k}": v for k, v in values.items()
    }


# The async methods are native: overridden, and no thread or executor in a call.


def test_backend_overrides_all_sixteen_async_methods() -> None:
    from django_async_redis.cache import RedisCache

    inherited = [
        name
        for name in sorted(ASYNC_METHODS)
        if getattr(RedisCache, name) is getattr(BaseCache, name)
        or not inspect.iscoroutinefunction(getattr(RedisCache, name))
    ]
    assert inherited == []


def test_async_methods_make_no_thread_hop(flushed_redis: redis.Redis) -> None:
    from django_async_redis.cache import RedisCache

    backend = RedisCache(_url(), {})
    hops: list[str] = []
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        hops.append(f"thread {thread.name}")
        real_start(thread)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        real_executor = loop.run_in_executor

        def run_in_executor(*args: Any) -> Any:
            hops.append(f"executor {args[1:2]}")
            return real_executor(*args)

        loop.run_in_executor = run_in_executor  # type: ignore[method-assign,assignment]
        await backend.aset("k", 1)
        await backend.aadd("k2", 2)
        await backend.aget("k")
        await backend.aget_many(["k", "k2"])
        await backend.aset_many({"k3": 3})
        await backend.ahas_key("k")
        await backend.atouch("k", 10)
        await backend.aincr("k")
        await backend.adecr("k")
        await backend.aincr_version("k")
        await backend.adecr_version("k", version=2)
        await backend.aget_or_set("k4", 4)
        await backend.adelete("k")
        await backend.adelete_many(["k2", "k3"])
        await backend.aclear()
        await backend.aclose()

    with mock.patch.object(threading.Thread, "start", start):
        asyncio.run(scenario())
    assert hops == []


def _url() -> str:
    from django.conf import settings

    return str(settings.CACHES["default"]["LOCATION"])
