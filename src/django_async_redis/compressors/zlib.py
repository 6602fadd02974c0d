"""zlib (RFC 1950) from the standard library."""

from __future__ import annotations

import zlib

from django_async_redis.compressors.base import BaseCompressor
from django_async_redis.exceptions import CompressorError


class ZlibCompressor(BaseCompressor):
    """zlib streams, readable by django-redis's ZlibCompressor and vice versa."""

    level = 6  # zlib's own balance of speed and size, and django-redis's choice
    min_level = -1
    max_level = 9

    def _compress(self, value: bytes) -> bytes:
        return zlib.compress(value, self.level)

    def decompress(self, value: bytes) -> bytes:
        # A zlib header is a deflate method nibble, a window size of at most
        # 32 KiB, and a 16-bit check that is a multiple of 31. Pickles (0x80...)
        # and JSON fail it at once, so raw values rarely reach zlib itself.
        if (
            len(value) < 2
            or value[0] & 0x0F != 8
            or value[0] >> 4 > 7
            or ((value[0] << 8) | value[1]) % 31
        ):
            raise CompressorError("not zlib data: no zlib header")
        try:
            return zlib.decompress(value)
        except zlib.error as exc:
            raise CompressorError(f"not zlib data: {exc}") from exc
