"""Lists on the cache. No django-redis release has them: names and answers are redis-py's."""

from __future__ import annotations

from typing import Any

from ..ops import lists as ops
from .base import StructureBase


class ListsMixin(StructureBase):
    """LPUSH, LRANGE, LPOS and the rest; values go through the cache's codec."""

    # sync -------------------------------------------------------------------

    def lpush(self, key: Any, *values: Any, version: int | None = None) -> int:
        """Prepend ``values`` (the last ends up first); the new length."""
        return self._run(ops.push(b"LPUSH", self._key(key, version), self._encode_all(values)))

    def rpush(self, key: Any, *values: Any, version: int | None = None) -> int:
        """Append ``values``; the new length."""
        return self._run(ops.push(b"RPUSH", self._key(key, version), self._encode_all(values)))

    def lpop(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        """Remove and return the first value (None if empty), or with ``count`` a list."""
        return self._run(ops.pop(b"LPOP", self._key(key, version), count, self._decode))

    def rpop(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        """Remove and return the last value (None if empty), or with ``count`` a list."""
        return self._run(ops.pop(b"RPOP", self._key(key, version), count, self._decode))

    def llen(self, key: Any, version: int | None = None) -> int:
        return self._run(ops.llen(self._key(key, version)))

    def lrange(self, key: Any, start: int, end: int, version: int | None = None) -> list[Any]:
        """Values from index ``start`` to ``end``, both included (-1 is the last)."""
        return self._run(ops.lrange(self._key(key, version), start, end, self._decode))

    def lindex(self, key: Any, index: int, version: int | None = None) -> Any:
        return self._run(ops.lindex(self._key(key, version), index, self._decode))

    def lset(self, key: Any, index: int, value: Any, version: int | None = None) -> bool:
        """Replace the value at ``index`` (ResponseError when out of range)."""
        return self._run(ops.lset(self._key(key, version), index, self._encode(value)))

    def ltrim(self, key: Any, start: int, end: int, version: int | None = None) -> bool:
        """Keep only the values from ``start`` to ``end``."""
        return self._run(ops.ltrim(self._key(key, version), start, end))

    def lrem(self, key: Any, count: int, value: Any, version: int | None = None) -> int:
        """Remove ``count`` occurrences of ``value`` (from the tail if negative, all if 0)."""
        return self._run(ops.lrem(self._key(key, version), count, self._encode(value)))

    def linsert(
        self, key: Any, where: str, refvalue: Any, value: Any, version: int | None = None
    ) -> int:
        """Insert ``value`` "BEFORE" or "AFTER" ``refvalue``; the new length, -1 if absent."""
        step = ops.linsert(
            self._key(key, version), where, self._encode(refvalue), self._encode(value)
        )
        return self._run(step)

    def lpos(
        self,
        key: Any,
        value: Any,
        rank: int | None = None,
        count: int | None = None,
        maxlen: int | None = None,
        version: int | None = None,
    ) -> Any:
        """The index of ``value`` (None if absent), or with ``count`` a list of indexes."""
        step = ops.lpos(self._key(key, version), self._encode(value), rank, count, maxlen)
        return self._run(step)

    # async ------------------------------------------------------------------

    async def alpush(self, key: Any, *values: Any, version: int | None = None) -> int:
        step = ops.push(b"LPUSH", self._key(key, version), self._encode_all(values))
        return await self._arun(step)

    async def arpush(self, key: Any, *values: Any, version: int | None = None) -> int:
        step = ops.push(b"RPUSH", self._key(key, version), self._encode_all(values))
        return await self._arun(step)

    async def alpop(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        return await self._arun(ops.pop(b"LPOP", self._key(key, version), count, self._decode))

    async def arpop(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        return await self._arun(ops.pop(b"RPOP", self._key(key, version), count, self._decode))

    async def allen(self, key: Any, version: int | None = None) -> int:
        return await self._arun(ops.llen(self._key(key, version)))

    async def alrange(
        self, key: Any, start: int, end: int, version: int | None = None
    ) -> list[Any]:
        return await self._arun(ops.lrange(self._key(key, version), start, end, self._decode))

    async def alindex(self, key: Any, index: int, version: int | None = None) -> Any:
        return await self._arun(ops.lindex(self._key(key, version), index, self._decode))

    async def alset(self, key: Any, index: int, value: Any, version: int | None = None) -> bool:
        return await self._arun(ops.lset(self._key(key, version), index, self._encode(value)))

    async def altrim(self, key: Any, start: int, end: int, version: int | None = None) -> bool:
        return await self._arun(ops.ltrim(self._key(key, version), start, end))

    async def alrem(self, key: Any, count: int, value: Any, version: int | None = None) -> int:
        return await self._arun(ops.lrem(self._key(key, version), count, self._encode(value)))

    async def alinsert(
        self, key: Any, where: str, refvalue: Any, value: Any, version: int | None = None
    ) -> int:
        step = ops.linsert(
            self._key(key, version), where, self._encode(refvalue), self._encode(value)
        )
        return await self._arun(step)

    async def alpos(
        self,
        key: Any,
        value: Any,
        rank: int | None = None,
        count: int | None = None,
        maxlen: int | None = None,
        version: int | None = None,
    ) -> Any:
        step = ops.lpos(self._key(key, version), self._encode(value), rank, count, maxlen)
        return await self._arun(step)
