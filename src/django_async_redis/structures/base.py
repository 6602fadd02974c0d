"""What the structure mixins take from the cache they are mixed into."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from redis import exceptions as redis_errors

from ..exceptions import DecodeError

if TYPE_CHECKING:
    from ..client.base import BaseClient
    from ..codec import Codec
    from ..config import Node
    from ..ops import Encoded, Operation, Step

T = TypeVar("T")
# One page of a cursor walk: (next cursor, what the page found); 0 ends the walk.
Page = tuple[int, list[Any]]


class StructureBase:
    """Declares the cache's helpers the mixins call; RedisCache provides them."""

    # What IGNORE_EXCEPTIONS may swallow in the scan iterators (the same two
    # classes as cache.TRANSIENT_ERRORS, which cannot be imported from here).
    _transient_errors: ClassVar[tuple[type[Exception], ...]] = (
        redis_errors.ConnectionError,
        redis_errors.TimeoutError,
    )

    if TYPE_CHECKING:
        _codec: Codec
        _client: BaseClient
        _encode: Callable[[Any], Encoded]
        _decode: Callable[[bytes], Any]

        def _key(self, key: Any, version: int | None) -> bytes: ...

        def _run(self, step: Operation[T], fallback: Any = None) -> T: ...

        async def _arun(self, step: Operation[T], fallback: Any = None) -> T: ...

        def _fallback(self, error: Exception, fallback: Any) -> Any: ...

        def _undecodable(self, error: DecodeError, step: Operation[Any], fallback: Any) -> Any: ...

    # Cursor walks (SCAN, SSCAN): one step per page, until the cursor comes back 0.
    # A failure ends the walk under the cache's error and decode policies.

    def _pages(self, page: Callable[[int], Step[Page]], node: Node | None = None) -> Iterator[Any]:
        """What each page found, page by page; ``page(cursor)`` builds the step."""
        cursor = 0
        step = page(cursor)
        try:
            while True:
                cursor, found = self._client.execute(step, node)
                yield found
                if not cursor:
                    return
                step = page(cursor)
        except self._transient_errors as error:
            self._fallback(error, None)
        except DecodeError as error:
            self._undecodable(error, step, None)

    async def _apages(
        self, page: Callable[[int], Step[Page]], node: Node | None = None
    ) -> AsyncIterator[Any]:
        """The async twin of :meth:`_pages`."""
        cursor = 0
        step = page(cursor)
        try:
            while True:
                cursor, found = await self._client.aexecute(step, node)
                yield found
                if not cursor:
                    return
                step = page(cursor)
        except self._transient_errors as error:
            self._fallback(error, None)
        except DecodeError as error:
            self._undecodable(error, step, None)

    def _keys(self, keys: tuple[Any, ...], version: int | None) -> list[bytes]:
        return [self._key(key, version) for key in keys]

    def _encode_all(self, values: tuple[Any, ...]) -> list[Encoded]:
        return [self._encode(value) for value in values]

    def _serialize(self, value: Any) -> bytes:
        """A value always serialized, ints included: the form django-redis gives
        sorted-set members, so that its sorted sets and ours hold the same bytes."""
        return self._codec.encode_always(value)
