"""xz (LZMA2) from the standard library: the best ratio here, and the slowest."""

from __future__ import annotations

import lzma

from django_async_redis.compressors.base import BaseCompressor
from django_async_redis.exceptions import CompressorError

_MAGIC = b"\xfd7zXZ\x00"


class LzmaCompressor(BaseCompressor):
    """xz streams, readable by django-redis's LzmaCompressor and vice versa."""

    # The xz container adds about 60 bytes and every call pays ~100 us of
    # encoder set-up, so it only wins on larger values than the other formats.
    min_length = 512
    level = 4  # django-redis's preset; 1 is ~3x faster on small values for a similar size
    min_level = 0
    max_level = 9

    def _compress(self, value: bytes) -> bytes:
        return lzma.compress(value, format=lzma.FORMAT_XZ, preset=self.level)

    def decompress(self, value: bytes) -> bytes:
        if not value.startswith(_MAGIC):
            raise CompressorError("not xz data: no xz magic")
        try:
            return lzma.decompress(value, format=lzma.FORMAT_XZ)
        except (lzma.LZMAError, EOFError) as exc:
            raise CompressorError(f"not xz data: {exc}") from exc
