"""The interface every serializer implements (the same one django-redis defines)."""

from __future__ import annotations

from typing import Any


class BaseSerializer:
    """Turns a cache value into bytes and back.

    Built once per cache with that cache's OPTIONS dict, then shared by every
    call, so ``dumps`` and ``loads`` must not keep per-call state on ``self``.
    Integers never reach a serializer: the codec stores them as decimal text so
    that Redis can INCR them.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options

    def dumps(self, value: Any) -> bytes:
        raise NotImplementedError

    def loads(self, value: bytes) -> Any:
        raise NotImplementedError
