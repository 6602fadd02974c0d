"""gzip (RFC 1952) from the standard library."""

from __future__ import annotations

import gzip
import zlib

from django_async_redis.compressors.base import BaseCompressor
from django_async_redis.exceptions import CompressorError

_MAGIC = b"\x1f\x8b"


class GzipCompressor(BaseCompressor):
    """gzip members, readable by django-redis's GzipCompressor and vice versa."""

    # gzip.compress defaults to 9, which is tuned for archives: slower on every
    # write for a few bytes less. 6 is gzip's command-line default.
    level = 6
    min_level = 0
    max_level = 9

    def _compress(self, value: bytes) -> bytes:
        # A fixed mtime keeps equal values byte-identical, and on Python 3.11+
        # lets gzip hand the whole job to a single zlib call.
        return gzip.compress(value, self.level, mtime=0)

    def decompress(self, value: bytes) -> bytes:
        if not value.startswith(_MAGIC):
            raise CompressorError("not gzip data: no gzip magic")
        try:
            return gzip.decompress(value)
        except (OSError, EOFError, zlib.error) as exc:
            raise CompressorError(f"not gzip data: {exc}") from exc
