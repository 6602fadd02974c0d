"""The key space and locks: ``keys``, ``iter_keys``, ``delete_pattern``, ``lock``.

A facade mixin of :class:`~django_async_redis.cache.RedisCache`. Listing and
deleting by pattern cover every part of the key space the client has (the
server; each shard; each cluster primary), so they mean the same on every
topology. Arguments follow django-redis's order, so positional calls written
for it mean the same here.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

from . import ops
from .structures.base import StructureBase

if TYPE_CHECKING:
    import redis.asyncio.lock
    import redis.lock

    from .config import CacheConfig

_GLOB_SPECIALS = {ord(char): "[" + char + "]" for char in "*?[]"}


def glob_escape(text: str) -> str:
    """``text`` matched literally inside a Redis glob."""
    return text.translate(_GLOB_SPECIALS)


class KeyStream:
    """What ``aiter_keys`` returns: async-iterable, and awaitable to itself.

    ``async for`` iterates it directly; ``await`` (the seed project's API, a
    coroutine returning an async iterator) hands back the same keys.
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: AsyncGenerator[str, None]) -> None:
        self._keys = keys

    def __aiter__(self) -> AsyncGenerator[str, None]:
        return self._keys

    def __await__(self) -> Generator[Any, None, AsyncGenerator[str, None]]:
        return self._itself().__await__()

    async def _itself(self) -> AsyncGenerator[str, None]:
        return self._keys

    async def aclose(self) -> None:
        await self._keys.aclose()


class KeySpaceMixin(StructureBase):
    """Pattern listing and deletion over every server, and redis-py locks."""

    if TYPE_CHECKING:
        _config: CacheConfig
        _reverse_key: Callable[[str], str]
        key_prefix: str
        version: int
        key_func: Callable[..., str]

        def make_and_validate_key(self, key: Any, version: int | None = None) -> str: ...

    # locks ---------------------------------------------------------------------

    def lock(
        self,
        key: Any,
        version: int | None = None,
        timeout: float | None = None,
        sleep: float = 0.1,
        blocking: bool = True,
        blocking_timeout: float | None = None,
        thread_local: bool = True,
    ) -> redis.lock.Lock:
        """A redis-py ``Lock`` on this cache's key, on the server that holds it."""
        made = self.make_and_validate_key(key, version=version)
        # redis-py leaves the sync Redis.lock unannotated (the asyncio one is not).
        lock: redis.lock.Lock = self._client.raw_client(write=True, key=made.encode()).lock(
            made,
            timeout=timeout,
            sleep=sleep,
            blocking=blocking,
            blocking_timeout=blocking_timeout,
            thread_local=thread_local,
        )
        return lock

    def alock(
        self,
        key: Any,
        version: int | None = None,
        timeout: float | None = None,
        sleep: float = 0.1,
        blocking: bool = True,
        blocking_timeout: float | None = None,
        thread_local: bool = True,
    ) -> redis.asyncio.lock.Lock:
        """A lock for ``async with``, bound to the running loop's raw client."""
        made = self.make_and_validate_key(key, version=version)
        return self._client.async_raw_client(write=True, key=made.encode()).lock(
            made,
            timeout=timeout,
            sleep=sleep,
            blocking=blocking,
            blocking_timeout=blocking_timeout,
            thread_local=thread_local,
        )

    # the key space ---------------------------------------------------------------

    def _pattern(self, pattern: str, version: int | None, prefix: str | None = None) -> bytes:
        """The Redis glob for ``pattern``: glob characters of prefix and version are escaped."""
        key_prefix = glob_escape(self.key_prefix if prefix is None else prefix)
        version_text = glob_escape(str(self.version if version is None else version))
        return str(self.key_func(pattern, key_prefix, version_text)).encode()

    def _reverse(self, key: bytes) -> str:
        return self._reverse_key(key.decode())

    def keys(self, search: str, version: int | None = None) -> list[str]:
        """Keys matching the glob ``search`` (KEYS: prefer iter_keys on big databases)."""
        result: list[str] = self._run(ops.keys(self._pattern(search, version), self._reverse), [])
        return result

    async def akeys(self, search: str, version: int | None = None) -> list[str]:
        step = ops.keys(self._pattern(search, version), self._reverse)
        result: list[str] = await self._arun(step, [])
        return result

    def _scan_page(
        self, search: str, itersize: int | None, version: int | None
    ) -> Callable[[int], ops.Step[tuple[int, list[bytes]]]]:
        glob = self._pattern(search, version)
        count = itersize or self._config.scan_itersize
        return lambda cursor: ops.scan_page(glob, cursor, count)

    def iter_keys(
        self, search: str, itersize: int | None = None, version: int | None = None
    ) -> Iterator[str]:
        """Matching keys, fetched page by page with SCAN (each server in turn)."""
        page = self._scan_page(search, itersize, version)
        try:
            parts = self._client.partitions()
        except self._transient_errors as error:
            self._fallback(error, None)
            return
        for part in parts:
            for found in self._pages(page, part):
                for key in found:
                    yield self._reverse(key)

    def aiter_keys(
        self, search: str, itersize: int | None = None, version: int | None = None
    ) -> KeyStream:
        """Matching keys, page by page with SCAN: ``async for key in cache.aiter_keys(...)``.

        Awaiting it first (``async for key in await cache.aiter_keys(...)``, the
        seed project's spelling) works too.
        """
        return KeyStream(self._aiter_keys(search, itersize, version))

    async def _aiter_keys(
        self, search: str, itersize: int | None, version: int | None
    ) -> AsyncGenerator[str, None]:
        page = self._scan_page(search, itersize, version)
        try:
            parts = await self._client.apartitions()
        except self._transient_errors as error:
            self._fallback(error, None)
            return
        for part in parts:
            async for found in self._apages(page, part):
                for key in found:
                    yield self._reverse(key)

    def _delete_pattern(
        self, pattern: str, version: int | None, prefix: str | None, itersize: int | None
    ) -> ops.Everywhere[int]:
        glob = self._pattern(pattern, version, prefix)
        return ops.delete_pattern(glob, itersize or self._config.scan_itersize)

    def delete_pattern(
        self,
        pattern: str,
        version: int | None = None,
        prefix: str | None = None,
        itersize: int | None = None,
    ) -> int:
        """Delete the keys matching ``pattern`` (SCAN + UNLINK); returns how many.

        ``prefix`` stands in for the cache's KEY_PREFIX, as in django-redis.
        """
        deleted: int = self._run(self._delete_pattern(pattern, version, prefix, itersize), 0)
        return deleted

    async def adelete_pattern(
        self,
        pattern: str,
        version: int | None = None,
        prefix: str | None = None,
        itersize: int | None = None,
    ) -> int:
        step = self._delete_pattern(pattern, version, prefix, itersize)
        deleted: int = await self._arun(step, 0)
        return deleted
