"""The interface every compressor implements, and the policy shared by ours."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured


class BaseCompressor:
    """Compresses serialized values, leaving small or incompressible ones as they are.

    The interface is django-redis's: ``compress(bytes) -> bytes`` and
    ``decompress(bytes) -> bytes``, the latter raising
    :class:`~django_async_redis.exceptions.CompressorError` for bytes this
    compressor did not produce. Raw bytes are therefore always a valid stored
    form, which is what lets a cache switch compressors without being flushed.

    Subclasses set ``level`` (their default COMPRESS_LEVEL) with the range
    ``min_level``..``max_level``, and implement ``_compress`` and ``decompress``.
    """

    # Below a few hundred bytes compression saves little: on typical pickled
    # records zlib, zstd and brotli gain 5-20% at 250 bytes, under Redis's own
    # per-key overhead, while still costing microseconds on every write and
    # read. (django-redis used 15, which compresses nearly everything.)
    min_length: int = 256
    level: int | None = None
    min_level: int = 0
    max_level: int = 0

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        self.min_length = _integer_option(
            options, "COMPRESS_MIN_LENGTH", self.min_length, 0, None, type(self).__name__
        )
        if self.level is not None:
            self.level = _integer_option(
                options,
                "COMPRESS_LEVEL",
                self.level,
                self.min_level,
                self.max_level,
                type(self).__name__,
            )

    def compress(self, value: bytes) -> bytes:
        if len(value) < self.min_length:
            return value
        compressed = self._compress(value)
        # Storing whichever is smaller costs nothing on reads (raw bytes are
        # always accepted) and keeps incompressible data from growing.
        return compressed if len(compressed) < len(value) else value

    def decompress(self, value: bytes) -> bytes:
        raise NotImplementedError

    def _compress(self, value: bytes) -> bytes:
        raise NotImplementedError


def _integer_option(
    options: dict[str, Any],
    name: str,
    default: int,
    lowest: int,
    highest: int | None,
    owner: str,
) -> int:
    value = options.get(name, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < lowest
        or (highest is not None and value > highest)
    ):
        span = f"from {lowest} to {highest}" if highest is not None else f"of at least {lowest}"
        raise ImproperlyConfigured(f"{name} for {owner} must be an integer {span}, not {value!r}")
    return value
