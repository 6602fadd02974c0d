"""What the structure mixins take from the cache they are mixed into."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from redis import exceptions as redis_errors

if TYPE_CHECKING:
    from ..codec import Codec
    from ..exceptions import DecodeError
    from ..ops import Encoded, Operation


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
        _client: Any
        _encode: Callable[[Any], Encoded]
        _decode: Callable[[bytes], Any]

        def _key(self, key: Any, version: int | None) -> bytes: ...

        def _run(self, step: Operation, fallback: Any = None) -> Any: ...

        async def _arun(self, step: Operation, fallback: Any = None) -> Any: ...

        def _fallback(self, error: Exception, fallback: Any) -> Any: ...

        def _undecodable(self, error: DecodeError, step: Operation, fallback: Any) -> Any: ...

    def _keys(self, keys: tuple[Any, ...], version: int | None) -> list[bytes]:
        return [self._key(key, version) for key in keys]

    def _encode_all(self, values: tuple[Any, ...]) -> list[Encoded]:
        return [self._encode(value) for value in values]

    def _serialize(self, value: Any) -> bytes:
        """A value always serialized, ints included: the form django-redis gives
        sorted-set members, so that its sorted sets and ours hold the same bytes."""
        return self._codec.encode_always(value)
