"""Hashes on the cache: django-redis 7's five methods, plus the reads its users ask for.

Fields are strings, stored as they are (as django-redis stores them); values
go through the cache's codec.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..ops import Step
from ..ops import hashes as ops
from .base import StructureBase


class HashesMixin(StructureBase):
    """HSET, HGET, HGETALL and the rest."""

    def _hset(
        self,
        key: Any,
        field: str | None,
        value: Any,
        mapping: Mapping[str, Any] | None,
        version: int | None,
    ) -> Step[int]:
        pairs = [] if field is None else [(field, self._encode(value))]
        if mapping:
            pairs.extend((name, self._encode(item)) for name, item in mapping.items())
        if not pairs:
            raise ValueError("hset() needs a field and a value, or a mapping")
        return ops.hset(self._key(key, version), pairs)

    def _hmget(self, key: Any, fields: Iterable[str], version: int | None) -> Step[list[Any]]:
        if isinstance(fields, (str, bytes)):
            raise TypeError("hmget() takes an iterable of fields, not a single field")
        return ops.hmget(self._key(key, version), list(fields), self._decode)

    # sync -------------------------------------------------------------------

    def hset(
        self,
        key: Any,
        field: str | None = None,
        value: Any = None,
        mapping: Mapping[str, Any] | None = None,
        version: int | None = None,
    ) -> int:
        """Set ``field`` to ``value`` and/or every pair of ``mapping``; how many fields were new."""
        return self._run(self._hset(key, field, value, mapping, version))

    def hsetnx(self, key: Any, field: str, value: Any, version: int | None = None) -> bool:
        """Set ``field`` only if the hash lacks it; True when set."""
        return self._run(ops.hsetnx(self._key(key, version), field, self._encode(value)))

    def hdel(self, key: Any, field: str, version: int | None = None) -> int:
        """Remove ``field``; the number of fields removed (0 or 1)."""
        return self._run(ops.hdel(self._key(key, version), [field]))

    def hlen(self, key: Any, version: int | None = None) -> int:
        return self._run(ops.hlen(self._key(key, version)))

    def hkeys(self, key: Any, version: int | None = None) -> list[str]:
        return self._run(ops.hkeys(self._key(key, version)))

    def hexists(self, key: Any, field: str, version: int | None = None) -> bool:
        return self._run(ops.hexists(self._key(key, version), field))

    def hget(self, key: Any, field: str, version: int | None = None) -> Any:
        """The value of ``field``, None when the field or the hash is missing."""
        return self._run(ops.hget(self._key(key, version), field, None, self._decode))

    def hmget(self, key: Any, fields: Iterable[str], version: int | None = None) -> list[Any]:
        """The values of ``fields`` in order, None for each missing one."""
        return self._run(self._hmget(key, fields, version))

    def hgetall(self, key: Any, version: int | None = None) -> dict[str, Any]:
        return self._run(ops.hgetall(self._key(key, version), self._decode))

    def hvals(self, key: Any, version: int | None = None) -> list[Any]:
        return self._run(ops.hvals(self._key(key, version), self._decode))

    def hincrby(self, key: Any, field: str, amount: int = 1, version: int | None = None) -> int:
        """Add ``amount`` to an integer field (a missing one counts as 0); the new value."""
        return self._run(ops.hincrby(self._key(key, version), field, amount))

    # async ------------------------------------------------------------------

    async def ahset(
        self,
        key: Any,
        field: str | None = None,
        value: Any = None,
        mapping: Mapping[str, Any] | None = None,
        version: int | None = None,
    ) -> int:
        return await self._arun(self._hset(key, field, value, mapping, version))

    async def ahsetnx(self, key: Any, field: str, value: Any, version: int | None = None) -> bool:
        return await self._arun(ops.hsetnx(self._key(key, version), field, self._encode(value)))

    async def ahdel(self, key: Any, field: str, version: int | None = None) -> int:
        return await self._arun(ops.hdel(self._key(key, version), [field]))

    async def ahlen(self, key: Any, version: int | None = None) -> int:
        return await self._arun(ops.hlen(self._key(key, version)))

    async def ahkeys(self, key: Any, version: int | None = None) -> list[str]:
        return await self._arun(ops.hkeys(self._key(key, version)))

    async def ahexists(self, key: Any, field: str, version: int | None = None) -> bool:
        return await self._arun(ops.hexists(self._key(key, version), field))

    async def ahget(self, key: Any, field: str, version: int | None = None) -> Any:
        return await self._arun(ops.hget(self._key(key, version), field, None, self._decode))

    async def ahmget(
        self, key: Any, fields: Iterable[str], version: int | None = None
    ) -> list[Any]:
        return await self._arun(self._hmget(key, fields, version))

    async def ahgetall(self, key: Any, version: int | None = None) -> dict[str, Any]:
        return await self._arun(ops.hgetall(self._key(key, version), self._decode))

    async def ahvals(self, key: Any, version: int | None = None) -> list[Any]:
        return await self._arun(ops.hvals(self._key(key, version), self._decode))

    async def ahincrby(
        self, key: Any, field: str, amount: int = 1, version: int | None = None
    ) -> int:
        return await self._arun(ops.hincrby(self._key(key, version), field, amount))
