"""Django's page-cache logic, with its cache I/O done through the async API.

Django's ``learn_cache_key``, ``get_cache_key`` and cache middleware decide
everything about cached pages (which responses may be stored, for how long,
under which keys, which headers they vary on) and then read or write the cache
with its sync API, in the middle of that logic. Rather than rewrite any of it
(its rules change between Django releases), we run Django's own code against a
:class:`DeferredCache` stand-in, sans-I/O style:

* a read the stand-in cannot answer yet stops the run (:class:`MustFetch`);
  the driver fetches that key with ``aget`` and runs the code again, now able
  to answer. The code reads before it changes anything, so a re-run is safe;
* writes are recorded and sent after the run with ``aset`` / ``aset_many``.

So the keys, the headers and the decisions are Django's exactly, for the
installed version, and no thread is involved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.core.cache import BaseCache, caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import get_cache_key, learn_cache_key

T = TypeVar("T")

# Replaying more often than this means the code reads an endless series of
# keys: a bug, not a page.
MAX_FETCHES = 16


class MustFetch(BaseException):
    """Raised inside Django's code for a key the stand-in has not fetched yet.

    A BaseException so that a broad ``except Exception`` in a user's subclass
    cannot swallow it and carry on as if the key were missing.
    """

    def __init__(self, key: str, version: int | None) -> None:
        super().__init__(key)
        self.key = key
        self.version = version


class DeferredCache:
    """The cache as Django's page-cache code sees it during one replayed run."""

    def __init__(self) -> None:
        self.fetched: dict[tuple[str, int | None], Any] = {}
        self.writes: list[tuple[str, Any, Any, int | None]] = []

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        try:
            value = self.fetched[key, version]
        except KeyError:
            raise MustFetch(key, version) from None
        return default if value is None else value

    def set(
        self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        self.writes.append((key, value, timeout, version))


def as_cache(deferred: DeferredCache) -> BaseCache:
    """The stand-in, typed as what Django's helpers take (they call only get and set)."""
    return cast(BaseCache, deferred)


async def arun_deferred(run: Callable[[DeferredCache], T], cache: BaseCache) -> T:
    """Run ``run`` (Django's sync page-cache code) doing its cache I/O with ``cache``'s a* API."""
    deferred = DeferredCache()
    for _ in range(MAX_FETCHES):
        deferred.writes.clear()
        try:
            result = run(deferred)
        except MustFetch as need:
            value = await cache.aget(need.key, version=need.version)
            deferred.fetched[need.key, need.version] = value
            continue
        await awrite(cache, deferred.writes)
        return result
    raise RuntimeError(f"page-cache code asked for more than {MAX_FETCHES} keys")


async def awrite(cache: BaseCache, writes: list[tuple[str, Any, Any, int | None]]) -> None:
    """Send recorded writes: writes sharing a timeout and version go in one ``aset_many``."""
    if len(writes) == 1:
        key, value, timeout, version = writes[0]
        await cache.aset(key, value, timeout, version=version)
        return
    groups: dict[tuple[Any, int | None], dict[str, Any]] = {}
    for key, value, timeout, version in writes:
        groups.setdefault((timeout, version), {})[key] = value
    for (timeout, version), data in groups.items():
        await cache.aset_many(data, timeout, version=version)


def _middleware_cache(cache: BaseCache | None) -> BaseCache:
    if cache is not None:
        return cache
    from django.conf import settings

    return caches[settings.CACHE_MIDDLEWARE_ALIAS]


async def alearn_cache_key(
    request: HttpRequest,
    response: HttpResponseBase,
    cache_timeout: float | None = None,
    key_prefix: str | None = None,
    cache: BaseCache | None = None,
) -> str:
    """Django's ``learn_cache_key``, storing the header list with ``aset``."""
    return await arun_deferred(
        lambda deferred: learn_cache_key(
            request, response, cache_timeout, key_prefix, cache=as_cache(deferred)
        ),
        _middleware_cache(cache),
    )


async def aget_cache_key(
    request: HttpRequest,
    key_prefix: str | None = None,
    method: str = "GET",
    cache: BaseCache | None = None,
) -> str | None:
    """Django's ``get_cache_key``, reading the header list with ``aget``."""
    return await arun_deferred(
        lambda deferred: get_cache_key(request, key_prefix, method, cache=as_cache(deferred)),
        _middleware_cache(cache),
    )
