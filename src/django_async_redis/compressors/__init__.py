"""Compressors shrink serialized values before they are stored.

Choose one with OPTIONS["COMPRESSOR"], a dotted path under
``django_async_redis.compressors``:

- ``identity.IdentityCompressor`` (default: no compression)
- ``zlib.ZlibCompressor``, ``gzip.GzipCompressor``, ``lzma.LzmaCompressor`` (standard library)
- ``lz4.Lz4Compressor`` (extra ``[lz4]``), ``zstd.ZStdCompressor`` (extra ``[zstd]``),
  ``brotli.BrotliCompressor`` (extra ``[brotli]``)

OPTIONS["COMPRESS_MIN_LENGTH"] and OPTIONS["COMPRESS_LEVEL"] tune them.
Values stored before a compressor was switched on still read back: the codec
falls back to the raw bytes when the compressor does not recognise them.
"""

from __future__ import annotations

from django_async_redis.compressors.base import BaseCompressor

__all__ = ["BaseCompressor"]
