"""No compression: the default."""

from __future__ import annotations

from django_async_redis.compressors.base import BaseCompressor


class IdentityCompressor(BaseCompressor):
    """Stores serialized values as they are.

    The codec recognises this class and skips it entirely on the hot path.
    """

    def compress(self, value: bytes) -> bytes:
        return value

    def decompress(self, value: bytes) -> bytes:
        return value
