"""LZ4 frames: the fastest compressor here, with a modest ratio."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_async_redis.compressors.base import BaseCompressor
from django_async_redis.exceptions import CompressorError

_MAGIC = b"\x04\x22\x4d\x18"


class Lz4Compressor(BaseCompressor):
    """LZ4 frame format via ``lz4`` (``pip install django-async-redis[lz4]``).

    Readable by django-redis's Lz4Compressor and vice versa. Levels 0-2 are the
    fast mode, 3-16 the slower high-compression mode.
    """

    level = 0
    min_level = 0
    max_level = 16

    def __init__(self, options: dict[str, Any]) -> None:
        # Imported here so that a missing extra is reported when the cache is
        # built, naming the fix, rather than on the first request.
        try:
            import lz4.frame
        except ImportError as exc:
            raise ImproperlyConfigured(
                "Lz4Compressor needs the lz4 package: pip install django-async-redis[lz4]"
            ) from exc
        super().__init__(options)
        # lz4 ships no type information: say what these answer.
        self._frame_compress: Callable[..., bytes] = lz4.frame.compress
        self._frame_decompress: Callable[[bytes], bytes] = lz4.frame.decompress

    def _compress(self, value: bytes) -> bytes:
        return self._frame_compress(value, compression_level=self.level)

    def decompress(self, value: bytes) -> bytes:
        if not value.startswith(_MAGIC):
            raise CompressorError("not lz4 data: no lz4 frame magic")
        try:
            return self._frame_decompress(value)
        except (RuntimeError, ValueError) as exc:
            raise CompressorError(f"not lz4 data: {exc}") from exc
