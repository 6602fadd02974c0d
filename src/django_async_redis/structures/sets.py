"""Sets on the cache, with django-redis 7's names, arguments and answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ..codec import _is_identity
from ..ops import Step
from ..ops import sets as ops
from .base import StructureBase


class SetsMixin(StructureBase):
    """SADD, SMEMBERS, SINTER and the rest; members go through the cache's codec."""

    # builders shared by both APIs -------------------------------------------

    def _combine(
        self, command: bytes, keys: tuple[Any, ...], version: int | None
    ) -> Step[set[Any]]:
        return ops.combine(command, self._keys(keys, version), self._decode)

    def _combine_store(
        self,
        command: bytes,
        destination: Any,
        keys: tuple[Any, ...],
        version_destination: int | None,
        version_keys: int | None,
    ) -> Step[int]:
        return ops.combine_store(
            command, self._key(destination, version_destination), self._keys(keys, version_keys)
        )

    def _match(self, match: str | None) -> bytes | None:
        # django-redis matches against the stored (serialized) form of the
        # member, so the pattern is serialized too; a compressed member
        # cannot be matched at all.
        if not match:
            return None
        if not _is_identity(self._codec.compressor):
            raise ValueError("Using match with compression is not supported.")
        if self._codec.signer is not None:
            # A signed pattern is a tag over the pattern's bytes, matching nothing.
            raise ValueError("Using match with OPTIONS['SIGNING'] is not supported.")
        encoded = self._encode(match)
        return encoded if isinstance(encoded, bytes) else str(encoded).encode()

    def _sscan(
        self, key: Any, match: str | None, count: int | None, version: int | None
    ) -> Step[set[Any]]:
        return ops.sscan(self._key(key, version), self._match(match), count, self._decode)

    # sync -------------------------------------------------------------------

    def sadd(self, key: Any, *values: Any, version: int | None = None) -> int:
        """Add ``values``; the number that were not members yet."""
        return self._run(ops.sadd(self._key(key, version), self._encode_all(values)))

    def srem(self, key: Any, *members: Any, version: int | None = None) -> int:
        """Remove ``members``; the number that were members."""
        return self._run(ops.srem(self._key(key, version), self._encode_all(members)))

    def scard(self, key: Any, version: int | None = None) -> int:
        return self._run(ops.scard(self._key(key, version)))

    def sismember(self, key: Any, member: Any, version: int | None = None) -> bool:
        return self._run(ops.sismember(self._key(key, version), self._encode(member)))

    def smismember(self, key: Any, *members: Any, version: int | None = None) -> list[bool]:
        return self._run(ops.smismember(self._key(key, version), self._encode_all(members)))

    def smembers(self, key: Any, version: int | None = None) -> set[Any]:
        return self._run(ops.smembers(self._key(key, version), self._decode))

    def smove(self, source: Any, destination: Any, member: Any, version: int | None = None) -> bool:
        """Move ``member`` from ``source`` to ``destination`` (both of ``version``)."""
        step = ops.smove(
            self._key(source, version), self._key(destination, version), self._encode(member)
        )
        return self._run(step)

    def spop(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        """Remove and return a random member, or with ``count`` a set of them."""
        return self._run(ops.spop(self._key(key, version), count, self._decode))

    def srandmember(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        """A random member, or with ``count`` a list of them (repeats when negative)."""
        return self._run(ops.srandmember(self._key(key, version), count, self._decode))

    def sdiff(self, *keys: Any, version: int | None = None) -> set[Any]:
        return self._run(self._combine(b"SDIFF", keys, version))

    def sinter(self, *keys: Any, version: int | None = None) -> set[Any]:
        return self._run(self._combine(b"SINTER", keys, version))

    def sunion(self, *keys: Any, version: int | None = None) -> set[Any]:
        return self._run(self._combine(b"SUNION", keys, version))

    def sdiffstore(
        self,
        dest: Any,
        *keys: Any,
        version_dest: int | None = None,
        version_keys: int | None = None,
    ) -> int:
        """Store the difference of ``keys`` in ``dest``; its size."""
        return self._run(self._combine_store(b"SDIFFSTORE", dest, keys, version_dest, version_keys))

    def sinterstore(self, dest: Any, *keys: Any, version: int | None = None) -> int:
        return self._run(self._combine_store(b"SINTERSTORE", dest, keys, version, version))

    def sunionstore(self, destination: Any, *keys: Any, version: int | None = None) -> int:
        return self._run(self._combine_store(b"SUNIONSTORE", destination, keys, version, version))

    def sscan(
        self,
        key: Any,
        match: str | None = None,
        count: int | None = 10,
        version: int | None = None,
    ) -> set[Any]:
        """The members matching ``match`` (all of them: every SSCAN page), as a set."""
        return self._run(self._sscan(key, match, count, version))

    def _sscan_page(
        self, key: Any, match: str | None, count: int | None, version: int | None
    ) -> Callable[[int], Step[tuple[int, list[Any]]]]:
        redis_key, pattern = self._key(key, version), self._match(match)
        return lambda cursor: ops.sscan_page(redis_key, cursor, pattern, count, self._decode)

    def sscan_iter(
        self,
        key: Any,
        match: str | None = None,
        count: int | None = 10,
        version: int | None = None,
    ) -> Iterator[Any]:
        """The members matching ``match``, fetched page by page with SSCAN."""
        for members in self._pages(self._sscan_page(key, match, count, version)):
            yield from members

    # async ------------------------------------------------------------------

    async def asadd(self, key: Any, *values: Any, version: int | None = None) -> int:
        return await self._arun(ops.sadd(self._key(key, version), self._encode_all(values)))

    async def asrem(self, key: Any, *members: Any, version: int | None = None) -> int:
        return await self._arun(ops.srem(self._key(key, version), self._encode_all(members)))

    async def ascard(self, key: Any, version: int | None = None) -> int:
        return await self._arun(ops.scard(self._key(key, version)))

    async def asismember(self, key: Any, member: Any, version: int | None = None) -> bool:
        return await self._arun(ops.sismember(self._key(key, version), self._encode(member)))

    async def asmismember(self, key: Any, *members: Any, version: int | None = None) -> list[bool]:
        step = ops.smismember(self._key(key, version), self._encode_all(members))
        return await self._arun(step)

    async def asmembers(self, key: Any, version: int | None = None) -> set[Any]:
        return await self._arun(ops.smembers(self._key(key, version), self._decode))

    async def asmove(
        self, source: Any, destination: Any, member: Any, version: int | None = None
    ) -> bool:
        step = ops.smove(
            self._key(source, version), self._key(destination, version), self._encode(member)
        )
        return await self._arun(step)

    async def aspop(self, key: Any, count: int | None = None, version: int | None = None) -> Any:
        return await self._arun(ops.spop(self._key(key, version), count, self._decode))

    async def asrandmember(
        self, key: Any, count: int | None = None, version: int | None = None
    ) -> Any:
        return await self._arun(ops.srandmember(self._key(key, version), count, self._decode))

    async def asdiff(self, *keys: Any, version: int | None = None) -> set[Any]:
        return await self._arun(self._combine(b"SDIFF", keys, version))

    async def asinter(self, *keys: Any, version: int | None = None) -> set[Any]:
        return await self._arun(self._combine(b"SINTER", keys, version))

    async def asunion(self, *keys: Any, version: int | None = None) -> set[Any]:
        return await self._arun(self._combine(b"SUNION", keys, version))

    async def asdiffstore(
        self,
        dest: Any,
        *keys: Any,
        version_dest: int | None = None,
        version_keys: int | None = None,
    ) -> int:
        step = self._combine_store(b"SDIFFSTORE", dest, keys, version_dest, version_keys)
        return await self._arun(step)

    async def asinterstore(self, dest: Any, *keys: Any, version: int | None = None) -> int:
        return await self._arun(self._combine_store(b"SINTERSTORE", dest, keys, version, version))

    async def asunionstore(self, destination: Any, *keys: Any, version: int | None = None) -> int:
        step = self._combine_store(b"SUNIONSTORE", destination, keys, version, version)
        return await self._arun(step)

    async def asscan(
        self,
        key: Any,
        match: str | None = None,
        count: int | None = 10,
        version: int | None = None,
    ) -> set[Any]:
        return await self._arun(self._sscan(key, match, count, version))

    async def asscan_iter(
        self,
        key: Any,
        match: str | None = None,
        count: int | None = 10,
        version: int | None = None,
    ) -> AsyncIterator[Any]:
        """The members matching ``match``, fetched page by page with SSCAN."""
        async for members in self._apages(self._sscan_page(key, match, count, version)):
            for member in members:
                yield member
